"""``kms-course lab``: open the course in JupyterLab with the offline sandbox.

Runs JupyterLab on the course's ``notebooks/`` folder, bound to 127.0.0.1, with
``KMS_COURSE_BACKEND`` set (default ``moto``) so every lesson's setup cell uses the sandbox.
JupyterLab's own options pass through, e.g. ``--no-browser`` and ``--port 8899``
(https://jupyterlab.readthedocs.io/en/stable/getting_started/starting.html).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kms_course.errors import CourseError


def notebooks_dir() -> Path:
    """The course's ``notebooks/`` folder: beside the package (a clone), else ``./notebooks``.

    Raises:
        CourseError: neither exists.
    """
    for candidate in (Path(__file__).resolve().parent.parent / "notebooks", Path.cwd() / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise CourseError("No notebooks/ folder found: run this from the course's folder.")


def lab_command(notebooks: Path, extra: list[str]) -> list[str]:
    """The JupyterLab command line (list of str) for ``notebooks`` plus JupyterLab options."""
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebooks}"]
    if not any(arg.startswith(("--ip", "--ServerApp.ip")) for arg in extra):
        command.append("--ServerApp.ip=127.0.0.1")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        command.append("--allow-root")  # containers and CI often run as root
    return command + extra


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notebooks", type=Path, help="folder to open (default: the course's notebooks/)")
    parser.add_argument(
        "--backend",
        choices=("moto", "moto-server", "aws"),
        help="sandbox backend for the lessons (default: $KMS_COURSE_BACKEND or moto)",
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--port", type=int, help="port for JupyterLab (default: 8888 or the next free)")
    parser.set_defaults(_accepts_extra=True)


def run(args: argparse.Namespace) -> int:
    notebooks = (args.notebooks or notebooks_dir()).resolve()
    if not notebooks.is_dir():
        raise CourseError(f"{notebooks} is not a folder.")
    extra = list(args.extra)
    if args.no_browser:
        extra.append("--no-browser")
    if args.port:
        extra.append(f"--port={args.port}")
    env = dict(os.environ)
    env["KMS_COURSE_BACKEND"] = args.backend or env.get("KMS_COURSE_BACKEND") or "moto"
    command = lab_command(notebooks, extra)
    os.execve(command[0], command, env)
    return 0  # not reached
