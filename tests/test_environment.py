"""The install routes: uv.lock, its exports (constraints.txt, binder/), the extras, conda and Colab.

The lock is the one source of versions: pyproject.toml says which packages each set needs (ranges),
uv.lock pins them, and ``make lock`` exports the pins for pip and conda (constraints.txt) and for
Binder (binder/requirements.txt). These tests read the files only, except the first, which asks uv
(when it is installed) whether the lock still matches pyproject.toml.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the lock installs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
PROJECT = "kms-course"
#: The test and grading tools that a student's install must not carry.
NOT_FOR_STUDENTS = {"pytest", "pytest-xdist", "nbval", "hypothesis", "playwright", "dask", "distributed"}


def norm(name: str) -> str:
    """A distribution name in its normal form (PEP 503): ``Jinja2`` -> ``jinja2``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, set[str]]:
    """Every locked package (normal name) -> its versions (a fork on Python gives two)."""
    versions: dict[str, set[str]] = {}
    for package in LOCK["package"]:
        versions.setdefault(norm(package["name"]), set()).add(package["version"])
    return versions


def closure(extras: tuple[str, ...]) -> set[str]:
    """Names of every locked package that ``kms-course[extras]`` may install, on any platform.

    Follows the lock's dependency graph, markers ignored (so a Windows-only package counts too):
    a superset of what one machine gets, which is what the "nothing of the test tools" checks need.
    """
    entries: dict[str, list[dict]] = {}
    for package in LOCK["package"]:
        entries.setdefault(norm(package["name"]), []).append(package)
    seen: set[tuple[str, str | None]] = set()
    todo: list[tuple[str, str | None]] = [(PROJECT, None)] + [(PROJECT, extra) for extra in extras]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        name, extra = node
        for package in entries[name]:
            deps = package.get("dependencies", []) if extra is None else (
                package.get("optional-dependencies", {}).get(extra, []))
            for dep in deps:
                todo.append((norm(dep["name"]), None))
                todo.extend((norm(dep["name"]), e) for e in dep.get("extra", []))
    return {name for name, _ in seen} - {PROJECT}


def pins(path: Path) -> dict[str, set[str]]:
    """The ``name==version`` lines of a requirements or constraints file: name -> versions."""
    found: dict[str, set[str]] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{path.name}: not an exact pin: {line}"
        found.setdefault(norm(requirement.name), set()).add(specs[0].version)
    return found


def uv_binary() -> str | None:
    """The uv that ``make`` installed (``.venv/.uv/bin/uv``), else one on PATH, else None."""
    beside = Path(sys.prefix) / ".uv" / "bin" / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def test_lock_matches_pyproject():
    uv = uv_binary()
    if uv is None:
        pytest.skip("uv is not installed (the pip route of the Makefile): cannot ask it")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    result = subprocess.run(
        [uv, "lock", "--check", "--offline"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"uv.lock is out of date: run `make lock`\n{result.stderr}"


def test_every_requirement_of_pyproject_is_locked_within_its_range():
    versions = locked_versions()
    project = PYPROJECT["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    for line in requirements:
        requirement = Requirement(line)
        if norm(requirement.name) == PROJECT:
            continue  # kms-course[student] and the like: the extras of this project
        locked = versions.get(norm(requirement.name))
        assert locked, f"{requirement.name} is not in uv.lock: run `make lock`"
        for version in locked:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"uv.lock pins {requirement.name}=={version}, outside pyproject's {requirement}")


def test_the_running_environment_has_the_locked_versions():
    # Whatever installed this venv (uv sync, or pip with constraints.txt), it holds the lock's pins.
    versions = locked_versions()
    wrong = []
    for dist in metadata.distributions():
        name = norm(dist.metadata["Name"] or "")
        if name in versions and name != PROJECT and dist.version not in versions[name]:
            wrong.append(f"{name} {dist.version} (locked: {', '.join(sorted(versions[name]))})")
    assert not wrong, "installed versions differ from uv.lock: " + "; ".join(wrong)


def test_extras_split_by_user():
    kernel, student = closure(()), closure(("student",))
    instructor, everything = closure(("instructor",)), closure(("test",))
    assert {"boto3", "moto", "cryptography", "aws-encryption-sdk", "ipywidgets", "rich"} <= kernel
    assert "jupyterlab" not in kernel and "ipykernel" not in kernel  # Colab keeps its own Jupyter
    assert {"jupyterlab", "ipykernel"} <= student
    assert not student & NOT_FOR_STUDENTS, f"the student set holds {student & NOT_FOR_STUDENTS}"
    assert {"nbclient", "nbformat", "jupyter-client", "dask", "distributed"} <= instructor
    assert student <= instructor and instructor <= everything
    assert not instructor & {"pytest", "pytest-xdist", "nbval", "hypothesis", "playwright"}
    assert NOT_FOR_STUDENTS <= everything


def test_extras_stack_student_instructor_test():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "kms-course[student]" in extras["instructor"]
    assert "kms-course[instructor]" in extras["test"]


def test_constraints_txt_is_the_lock_exported():
    # the pip route of the Makefile and the conda route install from it
    versions = locked_versions()
    versions.pop(PROJECT)
    assert pins(ROOT / "constraints.txt") == versions, "constraints.txt differs from uv.lock: `make lock`"


def test_binder_requirements_are_the_locked_student_set():
    versions = locked_versions()
    exported = pins(ROOT / "binder" / "requirements.txt")
    assert set(exported) == closure(("student",)), "binder/requirements.txt: run `make lock`"
    for name, pinned in exported.items():
        assert pinned == versions[name], f"binder pins {name} {pinned}, uv.lock {versions[name]}"


def test_binder_scripts_are_executable_and_install_the_course_without_dependencies():
    for script in ("postBuild", "start"):
        path = ROOT / "binder" / script
        assert path.read_text().startswith("#!/bin/bash") and os.access(path, os.X_OK), script
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps" in post_build and "install_kernel_guard" in post_build
    assert re.fullmatch(r"python-3\.1[1-9]\s*", (ROOT / "binder" / "runtime.txt").read_text())


def test_conda_route_uses_the_lock():
    text = (ROOT / "environment.yml").read_text()
    pip_lines = [m.group(1).strip() for m in re.finditer(r"^\s{6}- (.+)$", text, re.M)]
    assert pip_lines == ["-c constraints.txt", "-e .[test]"]
    # Python 3.11 or newer gets the lock's main pins (the Python 3.10 fork is older packages)
    assert re.search(r"^\s+- python=3\.1[1-9]$", text, re.M)


def test_makefile_installs_uv_pinned_and_syncs_each_set_from_the_lock():
    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^UV_VERSION := \d+\.\d+\.\d+$", text, re.M)
    assert "uv==$(UV_VERSION)" in text
    assert "sync,--inexact --extra student,student" in text  # make lab: the student set
    assert "sync,--all-extras,test" in text  # make test and make install: everything
    assert "sync --locked" in text and "-c constraints.txt" in text
    assert "\t$(PY) -m pytest -n auto --dist loadscope\n" in text


def colab_install_lines() -> list[str]:
    return [line.strip() for line in (ROOT / "docs" / "colab.md").read_text().splitlines()
            if line.strip().startswith(("%pip install", "!pip install"))]


def test_colab_note_installs_the_kernel_side_at_a_fixed_commit():
    lines = colab_install_lines()
    assert len(lines) == 1, lines
    match = re.search(r'"kms-course(\[[^\]]*\])? @ git\+https://github\.com/[^/"]+/kms-course@([^"]+)"',
                      lines[0])
    assert match, lines[0]
    extras, ref = match.groups()
    # no [student]: Colab has its own Jupyter and kernel, which JupyterLab's pins would replace;
    # never the instructor's or the tests' tools
    assert extras is None, extras
    assert ref and not ref.startswith(("main", "master")), "pin a tag or a commit, not a branch"


def test_colab_note_names_the_cell_that_starts_the_sandbox():
    note = (ROOT / "docs" / "colab.md").read_text()
    assert "kms = start_sandbox()" in note
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        first_code = next(c for c in cells if c["cell_type"] == "code")
        assert "kms = start_sandbox()" in "".join(first_code["source"]), path.name
