"""``kms-course lab`` starts without building jsonschema's ``iri`` parsers, and loses nothing by it.

jsonschema imports ``rfc3987-syntax`` (its ``iri``/``iri-reference`` format checks) when imported,
which compiles some 35 Earley parsers, seconds of every start; both processes of the lab (the
command that fills the workspace, and JupyterLab) keep it out (:data:`lab.SKIPPED_IMPORTS`):

* JupyterLab, as the lab starts it, imports jsonschema but not the skipped module;
* filling the workspace imports nbformat but not the skipped module, and writes the release
  byte for byte as :func:`kms_course.instructor.release.build` plus ``nbformat.writes`` give it;
* no schema of nbformat, Jupyter Server, jupyter_events or JupyterLab names a skipped format;
* :func:`lab.skip_slow_imports` changes nothing once jsonschema is imported.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kms_course.lessons import lab
from tests.conftest import ROOT, clean_env

SKIPPED = lab.SKIPPED_IMPORTS[0]


def imported(stderr: str) -> set[str]:
    """Module names from ``python -X importtime`` output (which also lists refused imports)."""
    return {m.group(1) for m in re.finditer(r"^import time:.*\|\s+([\w.]+)\s*$", stderr, re.M)}


def built_the_parsers(modules: set[str]) -> bool:
    """Whether the skipped package was really loaded (its modules ran), not just refused."""
    return any(m.startswith(SKIPPED + ".") for m in modules)


@pytest.fixture(autouse=True)
def _skipped_module_is_installed():
    # otherwise "not imported" would hold whatever the lab does
    assert importlib.util.find_spec(SKIPPED) is not None, f"{SKIPPED} is not installed"


def test_jupyterlab_as_the_lab_starts_it_skips_the_iri_parsers(tmp_path):
    command = lab.lab_command(tmp_path, ["--version"])
    assert command[0] == sys.executable
    result = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]], capture_output=True, text=True,
        env=clean_env(HOME=str(tmp_path)), timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    from jupyterlab import __version__

    assert result.stdout.strip() == __version__
    modules = imported(result.stderr)
    assert {"jupyterlab.labapp", "jupyter_events.logger", "jsonschema._format"} <= modules
    assert not built_the_parsers(modules)


def test_filling_the_workspace_skips_the_iri_parsers_and_writes_the_release(tmp_path):
    workspace = tmp_path / "work"
    code = textwrap.dedent(f"""
        import sys
        from kms_course.lessons import lab
        lab.install_kernel_guard = lambda prefix=None: None
        def execve(path, command, env):
            print("execve", command[1] == "-c", file=sys.stderr)
            raise SystemExit(0)
        lab.os.execve = execve
        from kms_course import cli
        sys.exit(cli.main(["lab", "--workspace", {str(workspace)!r}, "--no-browser"]))
    """)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
        env=clean_env(HOME=str(tmp_path)), timeout=120, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "execve True" in result.stderr
    modules = imported(result.stderr)
    assert {"nbformat", "jsonschema._format", "kms_course.instructor.transforms"} <= modules
    assert not built_the_parsers(modules)

    import nbformat

    from kms_course.instructor.release import build

    released = {name: nbformat.writes(nb) for name, nb in build(lab.notebooks_dir()).items()}
    written = {p.name: p.read_text() for p in workspace.glob("*.ipynb")}
    assert len(written) == 10 and written == released


def schema_files() -> list[Path]:
    """The JSON and YAML schemas shipped by the Jupyter packages the lab's processes validate with."""
    found = []
    for package in ("nbformat", "jupyter_events", "jupyter_server", "jupyterlab", "jupyterlab_server"):
        spec = importlib.util.find_spec(package)
        folder = Path(spec.origin).parent
        for pattern in ("*.json", "*.yaml", "*.yml"):
            found += [p for p in folder.rglob(pattern) if "node_modules" not in p.parts]
    share = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    found += list(share.rglob("*.json")) if share.is_dir() else []
    return found


IRI_FORMAT = re.compile(r"""["']?format["']?\s*:\s*["']?iri(-reference)?\b""")


def test_no_jupyter_schema_uses_a_format_the_skip_removes():
    assert IRI_FORMAT.search('"format": "iri-reference"') and IRI_FORMAT.search("format: iri\n")
    assert not IRI_FORMAT.search('"format": "uri-reference"')
    files = schema_files()
    names = {p.name for p in files}
    assert {"nbformat.v4.5.schema.json", "event-metaschema.yml", "v1.yaml"} <= names
    assert len(files) > 100, f"found {len(files)} schema files: too few to say anything"
    users = [str(p) for p in files if IRI_FORMAT.search(p.read_text(errors="ignore"))]
    assert not users, f"these schemas check an iri format, which the lab skips: {users}"


def test_the_detector_sees_the_parsers_built_by_a_plain_jsonschema_import():
    # the control of the two tests above: without the skip, jsonschema loads the package
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import jsonschema"], capture_output=True,
        text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert built_the_parsers(imported(result.stderr))


def test_skip_slow_imports_only_before_jsonschema():
    modules: dict = {}
    assert lab.skip_slow_imports(modules) is True
    assert modules == {SKIPPED: None}
    late = {"jsonschema": object()}
    assert lab.skip_slow_imports(late) is False
    assert SKIPPED not in late
    already = {"jsonschema": object(), SKIPPED: None}
    assert lab.skip_slow_imports(already) is True


def test_lab_command_runs_jupyterlabs_main_with_the_folder_and_options(tmp_path):
    command = lab.lab_command(tmp_path, ["--port=8899"])
    assert command[:2] == [sys.executable, "-c"]
    code = command[2]
    assert "from jupyterlab.labapp import main" in code and repr(SKIPPED) in code
    assert f"--ServerApp.root_dir={tmp_path}" in command and command[-1] == "--port=8899"
    assert "--ServerApp.ip=127.0.0.1" in command
