"""In the lab: did an exercise's cells run to the end since they last changed?

A check judges the state the student's code left. When the exercise's cell raised, or never ran,
or was edited after it ran, that state is stale or half made, so
:func:`kms_course.lessons.exercises.check` says so first and judges nothing (issue 11, item 1).

How it knows:

* IPython's ``post_run_cell`` event (https://ipython.readthedocs.io/en/stable/config/callbacks.html)
  gives every run's ``ExecutionResult``: ``info.cell_id`` (the id Jupyter sends as ``cellId`` in
  the execute request's metadata; JupyterLab and VS Code send it), ``info.raw_cell`` and the
  exception, if any. :class:`Tracker` keeps the latest run of each cell id.
* Which cells make up the exercise's answer comes from the student's notebook file, by the rule
  the grader follows too (:func:`kms_course.lessons.cells.answer_cells`). The file is the one
  Jupyter names in ``JPY_SESSION_NAME`` / ``__session__`` (jupyter_server sets it for the kernels
  it starts) or ``__vsc_ipynb_file__`` (VS Code). Without a file, or without cell ids, nothing
  is reported and the check judges the state as it is.
* A cell counts as changed when the saved file is newer than its last run and holds another
  source (an unsaved edit is not seen; a stale file never makes a cell look changed).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kms_course.lessons.cells import answer_cells, source

#: Errors of a re-run that meets what an earlier attempt already made, and how to get unstuck.
ALREADY_EXISTS = ("AlreadyExistsException", "BucketAlreadyOwnedByYou", "BucketAlreadyExists")
UNSTUCK = (" An earlier run already made it: delete it (for an alias, kms.delete_alias("
           "AliasName='alias/...')) and run the cell again, or start afresh with "
           "kms_course.reset() and run the lesson from the top.")
#: An alias name in an error message (CreateAlias's AlreadyExistsException names the alias ARN:
#: https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html#API_CreateAlias_Errors).
_ALIAS_NAME = re.compile(r"(alias/[A-Za-z0-9/_-]+)")


def unstuck(error: str | None, message: str | None, bucket: str | None = None) -> str:
    """How to get unstuck after a re-run met what an earlier run made ('' for other errors).

    Names the exact alias (from the error's message) or bucket when the error says which.
    """
    if error not in ALREADY_EXISTS:
        return ""
    alias = _ALIAS_NAME.search(message or "") if error == "AlreadyExistsException" else None
    if alias:
        return (f" An earlier run already made the alias {alias.group(1)}: run "
                f"kms.delete_alias(AliasName='{alias.group(1)}') once in a new cell, then this "
                "cell again (or start afresh with kms_course.reset() and run the lesson from the "
                "top).")
    if bucket:
        return (f" An earlier run already made the bucket {bucket}: keep it and take the "
                "create_bucket call out of the cell, or start afresh with kms_course.reset() "
                "and run the lesson from the top.")
    return UNSTUCK


#: Environment variable naming the notebook file (jupyter_server's; tests set it with nbclient).
SESSION_ENV = "JPY_SESSION_NAME"


@dataclass(frozen=True)
class Run:
    """The latest run of one cell: ``digest`` of its source, ``ok``, and where it raised."""

    cell_id: str
    digest: str
    ok: bool
    error: str | None = None  # exception type name
    line: int | None = None  # line of the cell where it raised (1-based), when known
    at: float = 0.0  # time.time() when the run ended
    message: str | None = None  # the error's message (its first 300 characters)
    bucket: str | None = None  # the bucket an S3 error names (Error.BucketName), if any


def digest(text: str) -> str:
    """A short fingerprint of a cell source (trailing whitespace ignored)."""
    return hashlib.sha256(text.rstrip().encode("utf-8")).hexdigest()[:16]


def _cell_line(tb: Any) -> int | None:
    """The line number in the cell of the last traceback frame that is the cell's own code."""
    package = str(Path(__file__).resolve().parents[1])
    line = None
    for frame in traceback.extract_tb(tb) if tb is not None else []:
        name = frame.filename
        if "site-packages" in name or name.startswith(package) or name.startswith(sys.prefix):
            continue
        if name.startswith("<") or "ipykernel_" in name or "ipython-input" in name:
            line = frame.lineno
    return line


class Tracker:
    """The latest :class:`Run` of each cell id in this kernel."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}

    def record(self, result: Any) -> None:
        """The ``post_run_cell`` callback: keep the run of ``result.info.cell_id`` (if any)."""
        info = getattr(result, "info", None)
        cell_id = getattr(info, "cell_id", None)
        if not cell_id:
            return
        error = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
        line = None
        if error is not None:
            line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
            line = line or _cell_line(error.__traceback__)
        response = getattr(error, "response", None)
        details = response.get("Error", {}) if isinstance(response, dict) else {}
        self.runs[cell_id] = Run(
            cell_id, digest(getattr(info, "raw_cell", "") or ""), error is None,
            type(error).__name__ if error is not None else None, line, time.time(),
            str(error)[:300] if error is not None else None,
            details.get("BucketName") if isinstance(details, dict) else None,
        )


TRACKER = Tracker()
_INSTALLED: list[Any] = []


def install(shell: Any = None) -> bool:
    """Register :data:`TRACKER` on IPython's ``post_run_cell`` event (once per shell).

    Returns:
        True when a shell is tracked (False outside IPython).
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover (IPython comes with the kernel)
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "events"):
        return False
    if any(s is shell for s in _INSTALLED):
        return True
    shell.events.register("post_run_cell", TRACKER.record)
    _INSTALLED.append(shell)
    return True


def notebook_path(namespace: dict | None = None) -> Path | None:
    """The student's notebook file as the frontend names it, or None when it is not known."""
    namespace = namespace or {}
    for candidate in (namespace.get("__vsc_ipynb_file__"), namespace.get("__session__"),
                      os.environ.get(SESSION_ENV)):
        if isinstance(candidate, str) and candidate.endswith(".ipynb"):
            path = Path(candidate)
            if path.is_file():
                return path
    return None


def read_notebook(path: Path) -> dict:
    """The notebook at ``path`` as a plain dict (cells with ``id``, ``metadata``, ``source``).

    An nbformat 4 file is read as JSON, without nbformat: importing nbformat imports its schema
    validator (jsonschema, whose format checkers take over a second to import), and this runs in
    the student's kernel on the first check. Another format version goes through
    ``nbformat.read(..., as_version=4)``, imported only then.

    Raises:
        OSError, ValueError: the file cannot be read or is not a notebook.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and data.get("nbformat") == 4 and isinstance(data.get("cells"), list):
        return data
    import nbformat  # an older notebook: let nbformat convert it

    return nbformat.read(path, as_version=4)


def problem(exercise_id: str, namespace: dict | None = None, tracker: Tracker = TRACKER) -> str | None:
    """Why the state left by ``exercise_id``'s answer cells cannot be judged yet, or None.

    Args:
        exercise_id: the exercise the check cell names.
        namespace: the notebook's globals (to find the notebook file).
        tracker: the runs of this kernel.

    Returns:
        One sentence for the first answer cell (in notebook order) that never ran in this
        kernel, raised in its last run, or changed after it; None when every answer cell ran
        to the end since it last changed, or when the notebook file or the cell ids are unknown.
    """
    path = notebook_path(namespace)
    if path is None or not tracker.runs:
        return None
    try:
        nb = read_notebook(path)
        saved = path.stat().st_mtime
    except Exception:  # an unreadable or half-saved file: judge the state as it is
        return None
    cells = [c for c in answer_cells(nb).get(exercise_id, []) if source(c).strip()]
    many = len(cells) > 1
    for number, cell in enumerate(cells, start=1):
        which = f"exercise cell {number} of {len(cells)}" if many else "exercise cell"
        run = tracker.runs.get(cell.get("id", ""))
        if run is None:
            return (f"Your {which} has not run since the kernel started: run it (Shift+Enter), "
                    "then this check.")
        if not run.ok:
            where = f" on line {run.line}" if run.line else ""
            if run.error == "NotImplementedError":
                return (f"Your {which} still raises NotImplementedError{where}: replace the "
                        "placeholder with your code and run it.")
            return f"Your {which} raised {run.error}{where}: fix it and run it again." + unstuck(
                run.error, run.message, run.bucket)
        if saved > run.at + 1 and digest(source(cell)) != run.digest:
            return f"Your {which} changed after it last ran: run it again, then this check."
    return None
