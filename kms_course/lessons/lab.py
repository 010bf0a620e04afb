"""``kms-course lab``: open the course in JupyterLab with the offline sandbox.

Which notebooks it opens:

* ``kms-course lab`` (what ``make lab`` runs): the **student version**, in the student's own
  workspace (:mod:`kms_course.lessons.workspace`; ``--workspace DIR``, else
  ``$KMS_COURSE_WORKSPACE``, else ``~/kms-course-work``). The first start fills it with the release
  of the masters (no solutions); later starts never overwrite a notebook the student changed, add
  lessons the course added and say what they did. Solutions come only on request:
  ``from kms_course import solution; solution("03-hmac-key")`` (as the README says).
* ``kms-course lab --masters``: the instructor's master notebooks, solutions included.
* ``kms-course lab --notebooks DIR``: any folder as it is, e.g. the output of
  ``kms-course release DIR``.

JupyterLab runs bound to 127.0.0.1, with
``KMS_COURSE_BACKEND`` set (default ``moto``) so every lesson's setup cell uses the sandbox. Each
kernel imports the sandbox's guard at start (:func:`install_kernel_guard`), so a KMS call made
before the setup cell raises ``SandboxError`` instead of reaching AWS; and the course's
``labconfig`` (on ``JUPYTER_CONFIG_PATH``) turns off JupyterLab's news pop-up, which would try to
reach the internet.
JupyterLab's own options pass through, e.g. ``--no-browser`` and ``--port 8899``
(https://jupyterlab.readthedocs.io/en/stable/getting_started/starting.html).

Start-up time: this command and the JupyterLab it starts both import ``jsonschema`` (through
nbformat and jupyter_events), whose optional check of the ``iri`` formats, ``rfc3987-syntax``,
compiles some 35 Earley parsers when imported: 2 to 2.5 s of each process on a laptop-class core
(https://github.com/python-jsonschema/jsonschema/issues/1428). No schema of nbformat, Jupyter
Server, jupyter_events or JupyterLab uses ``iri`` or ``iri-reference``, so both processes run
without that module (:data:`SKIPPED_IMPORTS`); every other format check stays, and the notebooks
written are byte for byte the same. Kernels are separate processes and are not affected.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kms_course.atomic import atomic_write_text
from kms_course.errors import CourseError
from kms_course.sandbox.server_cli import port_number

#: Jupyter configuration added by the course: kernels load the sandbox guard first, and
#: JupyterLab's news pop-up stays off (it would try to reach the internet).
JUPYTER_CONFIG = Path(__file__).resolve().parents[1] / "jupyter_config"


#: Modules the lab's two processes never import (see the module's docstring): jsonschema then skips
#: its ``iri`` and ``iri-reference`` format checks, which no Jupyter schema uses.
SKIPPED_IMPORTS = ("rfc3987_syntax",)

#: What ``python -c`` runs to start JupyterLab: ``python -m jupyterlab`` (jupyterlab/__main__.py)
#: without :data:`SKIPPED_IMPORTS`.
JUPYTERLAB_MAIN = (
    "import sys; sys.modules.update(dict.fromkeys(%r)); "
    "from jupyterlab.labapp import main; sys.exit(main())" % (SKIPPED_IMPORTS,)
)


def skip_slow_imports(modules: dict | None = None) -> bool:
    """Keep :data:`SKIPPED_IMPORTS` out of this process (``sys.modules[name] = None``).

    Only before ``jsonschema`` is imported (afterwards it has made its format checks already).

    Args:
        modules: the module table to change; default ``sys.modules``.

    Returns:
        True if the modules are now skipped, False if jsonschema was imported first.
    """
    modules = sys.modules if modules is None else modules
    if "jsonschema" in modules:
        return all(modules.get(name, False) is None for name in SKIPPED_IMPORTS)
    for name in SKIPPED_IMPORTS:
        modules.setdefault(name, None)
    return all(modules[name] is None for name in SKIPPED_IMPORTS)


def notebooks_dir() -> Path:
    """The course's ``notebooks/`` folder: beside the package (a clone), else ``./notebooks``.

    Raises:
        CourseError: neither exists.
    """
    for candidate in (Path(__file__).resolve().parents[2] / "notebooks", Path.cwd() / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise CourseError("No notebooks/ folder found: run this from the course's folder.")


def lab_command(notebooks: Path, extra: list[str]) -> list[str]:
    """The JupyterLab command line (list of str) for ``notebooks`` plus JupyterLab options.

    It runs what ``python -m jupyterlab`` runs, without :data:`SKIPPED_IMPORTS`.
    """
    command = [sys.executable, "-c", JUPYTERLAB_MAIN, f"--ServerApp.root_dir={notebooks}"]
    if not any(arg.startswith(("--ip", "--ServerApp.ip")) for arg in extra):
        command.append("--ServerApp.ip=127.0.0.1")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        command.append("--allow-root")  # containers and CI often run as root
    return command + extra


def install_kernel_guard(prefix: Path | None = None) -> Path | None:
    """Make every IPython kernel of this environment import the sandbox guard at start.

    IPython reads ``<sys.prefix>/etc/ipython/ipython_kernel_config.py``
    (https://ipython.readthedocs.io/en/stable/development/config.html); this copies the course's
    file there unless an identical one is present. Returns the path written or found, or None when
    the environment is not writable (the guard then starts with the lesson's setup cell).
    """
    target = Path(prefix or sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.py"
    wanted = (JUPYTER_CONFIG / "ipython_kernel_config.py").read_text()
    try:
        if target.exists():
            if target.read_text() == wanted:
                return target
            if "kms_course" not in target.read_text():
                return None  # someone else's kernel configuration: leave it alone
        atomic_write_text(target, wanted)
    except OSError:
        return None
    return target


def lab_environment(backend: str | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment (dict of str) for JupyterLab and its kernels.

    Args:
        backend: sandbox backend; default ``$KMS_COURSE_BACKEND``, else ``"moto"``.
        base: environment to start from; default ``os.environ``.
    """
    env = dict(os.environ if base is None else base)
    env["KMS_COURSE_BACKEND"] = backend or env.get("KMS_COURSE_BACKEND") or "moto"
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        p for p in (str(JUPYTER_CONFIG), env.get("JUPYTER_CONFIG_PATH")) if p
    )
    return env


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Open the course in JupyterLab. By default: the student version of the lessons, in your "
        "own workspace (created on the first start, never overwritten: your edits stay). "
        "Instructors: --masters opens the master notebooks with their solutions."
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workspace",
        type=Path,
        metavar="DIR",
        help="your workspace of student notebooks (default: $KMS_COURSE_WORKSPACE or "
        "~/kms-course-work); created from the course on first use",
    )
    where.add_argument(
        "--masters",
        action="store_true",
        help="instructors: open the master notebooks (with solutions) instead of a workspace",
    )
    where.add_argument(
        "--notebooks",
        type=Path,
        metavar="DIR",
        help="open DIR as it is, e.g. a folder written by 'kms-course release DIR'",
    )
    parser.add_argument(
        "--backend",
        choices=("moto", "moto-server", "aws"),
        help="sandbox backend for the lessons (default: $KMS_COURSE_BACKEND or moto)",
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--port", type=port_number, help="port for JupyterLab, 1-65535 (default: 8888 or the next free)")
    parser.set_defaults(_accepts_extra=True)


def choose_folder(args: argparse.Namespace) -> Path:
    """The folder to open: ``--notebooks`` or ``--masters`` as they are, else the student's
    workspace, brought up to date first (what changed is printed on stderr).

    Raises:
        CourseError: ``--notebooks`` is not a folder, or the workspace cannot be made.
    """
    from kms_course.lessons import workspace

    if getattr(args, "notebooks", None):
        folder = args.notebooks.expanduser().resolve()
        if not folder.is_dir():
            raise CourseError(f"--notebooks {folder} is not a folder: pass the folder of the lessons.")
        return folder
    if getattr(args, "masters", False):
        return notebooks_dir().resolve()
    folder = (getattr(args, "workspace", None) or workspace.default_workspace()).expanduser()
    report = workspace.sync(folder, notebooks_dir())
    for line in report.lines():
        print(line, file=sys.stderr)
    print(
        "Solutions only when you ask: from kms_course import solution; "
        "solution('<exercise id>')",
        file=sys.stderr,
    )
    return folder.resolve()


def run(args: argparse.Namespace) -> int:
    skip_slow_imports()  # before the workspace's release imports nbformat (this process then execs)
    notebooks = choose_folder(args)
    extra = list(args.extra)
    if args.no_browser:
        extra.append("--no-browser")
    if args.port:
        extra.append(f"--port={args.port}")
    install_kernel_guard()
    env = lab_environment(args.backend)
    command = lab_command(notebooks, extra)
    os.execve(command[0], command, env)
    return 0  # not reached
