"""The Makefile's install route, run for real against a stand-in uv (offline, in a few seconds).

* ``make lab-install`` makes a venv without pip (ensurepip alone takes seconds), fetches the pinned
  uv with the Python's own pip into ``.venv/.uv`` and syncs the student set from the lock; a
  second run does nothing; ``make install`` syncs every extra;
* where the Python has no pip, the venv gets one (ensurepip) and that pip fetches uv;
* where uv cannot be installed at all, pip installs the pins of ``constraints.txt`` instead.

The stand-in uv is a wheel named ``uv`` at the Makefile's version whose ``uv`` script logs its
arguments; pip finds it in a local folder (``PIP_NO_INDEX``), with no pip configuration.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

MAKEFILE = ROOT / "Makefile"
UV_VERSION = re.search(r"^UV_VERSION := (\S+)$", MAKEFILE.read_text(), re.M).group(1)
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
FAKE_UV = '#!/bin/sh\necho "$@" >> "$FAKE_UV_LOG"\n'

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def fake_uv_wheel(folder: Path) -> Path:
    """A wheel ``uv-<UV_VERSION>-py3-none-any.whl`` in ``folder`` whose ``uv`` logs its arguments."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"uv-{UV_VERSION}"
    files = {
        f"{dist}.data/scripts/uv": FAKE_UV,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: uv\nVersion: {UV_VERSION}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                   "Tag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100755 if "/scripts/" in name else 0o100644) << 16  # keeps the x
            archive.writestr(info, text)
    return wheel


@pytest.fixture
def course(tmp_path):
    """A folder with the course's lock files, and a function running the Makefile there."""
    work = tmp_path / "course"
    work.mkdir()
    for name in ("pyproject.toml", "uv.lock", "constraints.txt"):
        shutil.copy2(ROOT / name, work / name)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    log = tmp_path / "uv.log"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "MAKE"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels),
               PIP_NO_CACHE_DIR="1", FAKE_UV_LOG=str(log))

    def make(*targets: str, python: str = BASE_PYTHON) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["make", "-f", str(MAKEFILE), "-C", str(work), *targets, f"PYTHON={python}"],
            env=env, capture_output=True, text=True, timeout=300,
        )

    make.work, make.wheels, make.log, make.venv = work, wheels, log, work / ".venv"
    return make


def has_pip(venv: Path) -> bool:
    result = subprocess.run([str(venv / "bin" / "python"), "-c", "import pip"], capture_output=True)
    return result.returncode == 0


def python_without_pip(folder: Path) -> str:
    """A ``python`` that runs the base interpreter but has no pip (as Debian's without python3-pip)."""
    script = folder / "python-without-pip"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -m ] && [ "$2" = pip ]; then echo "No module named pip" >&2; exit 1; fi\n'
        f'exec "{BASE_PYTHON}" "$@"\n'
    )
    script.chmod(0o755)
    return str(script)


def test_lab_install_makes_a_venv_without_pip_gets_the_pinned_uv_and_syncs_the_student_set(course):
    if subprocess.run([BASE_PYTHON, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.skip("this Python has no pip: the next test covers that route")
    fake_uv_wheel(course.wheels)
    result = course("lab-install")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "-m venv --without-pip" in result.stdout
    assert (course.venv / "bin" / "python").exists() and not has_pip(course.venv)
    assert (course.venv / ".uv" / "bin" / "uv").exists()
    assert course.log.read_text().splitlines() == ["sync --locked --quiet --inexact --extra student"]
    assert (course.venv / ".installed-student").exists()

    again = course("lab-install")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout
    assert len(course.log.read_text().splitlines()) == 1

    everything = course("install")
    assert everything.returncode == 0, everything.stderr
    assert course.log.read_text().splitlines()[-1] == "sync --locked --quiet --all-extras"


@pytest.mark.slow
def test_a_python_without_pip_gets_uv_through_the_venvs_own_pip(course, tmp_path):
    fake_uv_wheel(course.wheels)
    result = course("lab-install", python=python_without_pip(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert has_pip(course.venv)  # ensurepip, only because it was needed
    assert (course.venv / ".uv" / "bin" / "uv").exists()
    assert course.log.read_text().splitlines() == ["sync --locked --quiet --inexact --extra student"]


@pytest.mark.slow
def test_without_uv_pip_installs_the_pins_of_constraints_txt(course):
    # no uv wheel anywhere: the sync falls back to pip, which (offline here) cannot build the
    # project; what matters is that it was asked, with the constraints
    result = course("lab-install")
    output = result.stdout + result.stderr
    assert not (course.venv / ".uv" / "bin" / "uv").exists()
    assert "uv is not available: pip installs the pins of constraints.txt (slower)" in result.stdout
    assert has_pip(course.venv)
    assert result.returncode != 0 and not course.log.exists()
    assert not (course.venv / ".installed-student").exists()
    assert re.search(r"(?i)could not find a version|no matching distribution", output), output
