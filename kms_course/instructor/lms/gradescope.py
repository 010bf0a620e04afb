"""``kms-course gradescope --lesson STEM --out autograder.zip``: a Gradescope autograder.

Gradescope's "Autograder Specifications"
(https://gradescope-autograders.readthedocs.io/en/latest/specs/) ask for a zip with at least two
files **at its root**: ``setup.sh``, a Bash script that installs the dependencies on Gradescope's
Ubuntu image, and ``run_autograder``, an executable script that grades the student's submission
(``/autograder/submission``) and writes ``/autograder/results/results.json``. The zip's contents
are extracted to ``/autograder/source``; the working directory is ``/autograder``; anything to
show students must be in ``results.json``'s ``output`` fields (``/autograder/results/stdout``
is for the instructor only).

The zip written here holds::

    setup.sh            apt-get installs python3 and bubblewrap (the grading jail),
                        then pip-installs course/ with the pinned versions of constraints.txt
    run_autograder      kms-course grade /autograder/submission --lesson STEM ..., then
                        python -m kms_course.instructor.lms.gradescope results ... (grades.json ->
                        results.json)
    course/             the course itself: pyproject.toml, README.md, constraints.txt, uv.lock,
                        kms_course/ (no __pycache__) and notebooks/STEM.ipynb (the master)

``results.json`` (:func:`results_json`) follows the documented format: top-level ``score``,
``execution_time`` (seconds), ``output``, ``visibility``, ``stdout_visibility`` and ``tests``,
one test per exercise with ``name``, ``score``, ``max_score``, ``status`` (``passed`` or
``failed``), ``output`` (the check's message and hint) and ``visibility`` (``visible``,
``hidden``, ``after_due_date`` or ``after_published``).

The grading jail (bubblewrap) needs user namespaces or a setuid bwrap inside Gradescope's
container; when it is unavailable, ``kms-course grade`` stops with its one-line reason and
results.json says the autograder could not run (the submission is never graded unjailed).
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import stat
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from kms_course.errors import CourseError

#: Gradescope's documented values of a test's or the submission's ``visibility``.
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")

#: Where setup.sh installs the course (a virtual environment of its own).
VENV = "/opt/kms-course"

#: Files of the project root that go into course/ (uv.lock only when present).
PROJECT_FILES = ("pyproject.toml", "README.md", "constraints.txt", "uv.lock")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope autograder setup for kms-course lesson {lesson} (written by `kms-course gradescope`).
# Runs once, as root, when Gradescope builds the image (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
# bubblewrap: the jail each student kernel runs in (kms_course.instructor.grading.jail)
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap
python3 -m venv {venv}
{venv}/bin/python -m pip install --upgrade pip
# pinned installs: constraints.txt is exported from uv.lock
{venv}/bin/python -m pip install -c /autograder/source/course/constraints.txt "/autograder/source/course[instructor]"
{venv}/bin/kms-course grade --help > /dev/null
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope run_autograder for kms-course lesson {lesson} (written by `kms-course gradescope`).
# Grades /autograder/submission in the jail, then turns grades.json into results.json.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
BIN="${{KMS_COURSE_BIN:-{venv}/bin}}"
LESSON={lesson_q}
mkdir -p "$ROOT/results"
started=$(date +%s)
"$BIN/kms-course" grade "$ROOT/submission" --lesson "$LESSON" --masters "$ROOT/source/course/notebooks" \\
    --out "$ROOT/grading" --no-progress --jobs 1 2> "$ROOT/grading-stderr.txt"
status=$?
cat "$ROOT/grading-stderr.txt" >&2
exec "$BIN/python" -m kms_course.instructor.lms.gradescope results --grades "$ROOT/grading/grades.json" \\
    --started "$started" \\
    --grade-status "$status" --grade-stderr "$ROOT/grading-stderr.txt" \\
    --visibility {visibility} --out "$ROOT/results/results.json"
"""


def _number(value: Any) -> float:
    return float(value or 0)


def results_json(
    grades: dict[str, Any],
    *,
    hints: dict[str, str] | None = None,
    execution_time: float | None = None,
    visibility: str = "visible",
    student: str | None = None,
) -> dict[str, Any]:
    """Gradescope's ``results.json`` for one student of a ``grades.json`` dict.

    Args:
        grades: the contents of ``OUT/grades.json``
            (:func:`kms_course.instructor.gradebook.write_class_files`).
        hints: exercise id -> hint, shown under a failed test's message (default: none).
        execution_time: seconds the grading took (Gradescope's ``execution_time``, an int).
        visibility: every test's ``visibility``, one of :data:`VISIBILITIES`.
        student: the row to convert; default: the only row, or, when a submission folder held
            several notebooks, the row with the highest total (the output says so).

    Returns:
        ``{"score", "execution_time"?, "output", "visibility", "stdout_visibility", "tests"}``,
        each test ``{"name", "number", "score", "max_score", "status", "output",
        "visibility"}``, in the lessons' exercise order (format:
        https://gradescope-autograders.readthedocs.io/en/latest/specs/#output-format). The
        top-level ``score`` is the total after any late penalty (``total_after_penalty``).

    Raises:
        CourseError: ``visibility`` is not a documented value, or ``student`` is not in ``grades``.
    """
    if visibility not in VISIBILITIES:
        raise CourseError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}.")
    rows = grades.get("students") or []
    notes: list[str] = []
    if student is not None:
        chosen = [r for r in rows if r["student"] == student]
        if not chosen:
            raise CourseError(f"no student {student!r} in grades.json; it has "
                              f"{', '.join(r['student'] for r in rows) or 'none'}.")
        row = chosen[0]
    elif rows:
        row = max(rows, key=lambda r: (r.get("total_after_penalty", r["total"]), r["total"]))
        if len(rows) > 1:
            notes.append(f"Your submission held {len(rows)} notebooks; the best one "
                         f"({row['student']}) is graded.")
    else:
        row = None
    hints = hints or {}
    tests = []
    number = 0
    for lesson, exercises in (grades.get("lessons") or {}).items():
        for ex_id, max_points in exercises.items():
            number += 1
            points = (row or {}).get("exercises", {}).get(ex_id, 0)
            passed = bool(row) and ex_id not in row.get("messages", {}) and points >= max_points
            if passed:
                output = "Passed."
            else:
                message = (row or {}).get("messages", {}).get(ex_id) or "not submitted"
                output = message + (f"\nHint: {hints[ex_id]}" if hints.get(ex_id) else "")
            tests.append({
                "name": f"{ex_id} ({lesson})",
                "number": str(number),
                "score": _number(points),
                "max_score": _number(max_points),
                "status": "passed" if passed else "failed",
                "output": output,
                "visibility": visibility,
            })
    if row is None:
        notes.append("No notebook was found in your submission: upload the lesson's .ipynb file.")
        score = 0.0
    else:
        from kms_course.instructor.feedback import status_sentences

        notes.extend(status_sentences({"status": row.get("status", "ok")}))
        late = row.get("late")
        if late:
            from kms_course.instructor.lms.late import sentence

            notes.append(sentence(late))
        score = _number(row.get("total_after_penalty", row["total"]))
        max_points = _number(row.get("max_points"))
        notes.insert(0, f"{score:g} / {max_points:g} points.")
    result: dict[str, Any] = {
        "score": score,
        "output": "\n".join(notes),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    if execution_time is not None:
        result["execution_time"] = int(round(execution_time))
    return result


def failure_json(reason: str, execution_time: float | None = None) -> dict[str, Any]:
    """``results.json`` when ``kms-course grade`` wrote no gradebook: score 0, ``reason`` shown.

    Returns:
        ``{"score": 0.0, "output": ..., "visibility": "visible", "tests": []}``
        (+ ``execution_time``).
    """
    result: dict[str, Any] = {
        "score": 0.0,
        "output": f"The autograder could not grade this submission: {reason} If you uploaded the "
                  "lesson's .ipynb file, please tell your instructor.",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }
    if execution_time is not None:
        result["execution_time"] = int(round(execution_time))
    return result


def project_root() -> Path:
    """The source checkout kms_course is installed from (holds ``pyproject.toml``).

    Raises:
        CourseError: kms_course is not installed from a source checkout (a wheel install):
            the zip needs the project's files.
    """
    import kms_course

    root = Path(kms_course.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise CourseError("kms-course gradescope needs the course's source checkout (pyproject.toml "
                          f"next to {root / 'kms_course'}): run it from an editable install (pip install -e .).")
    return root


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16  # Unix mode bits (zipfile docs: external_attr)
    zf.writestr(info, data)


def build_zip(lesson: str, masters: str | Path | None = None, visibility: str = "visible",
              root: Path | None = None) -> bytes:
    """The autograder zip for ``lesson`` (layout: this module's docstring), as bytes.

    Args:
        lesson: the lesson's stem, e.g. ``03_creating_and_describing_keys``.
        masters: the folder of master notebooks (default: ``notebooks/``).
        visibility: every test's visibility in results.json (:data:`VISIBILITIES`).
        root: the project checkout (default: :func:`project_root`).

    Raises:
        CourseError: unknown lesson or visibility, no source checkout, or a project file missing.
    """
    from kms_course.instructor.grading.masters import cached_masters

    if visibility not in VISIBILITIES:
        raise CourseError(f"--visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}.")
    known = cached_masters(masters)
    if lesson not in known:
        raise CourseError(f"Unknown --lesson {lesson!r}; known: {', '.join(known)}.")
    root = root or project_root()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.format(lesson=lesson, venv=VENV).encode(), executable=True)
        _add(zf, "run_autograder", RUN_AUTOGRADER.format(
            lesson=lesson, lesson_q=shlex.quote(lesson), venv=VENV, visibility=visibility,
        ).encode(), executable=True)
        for name in PROJECT_FILES:
            path = root / name
            if path.is_file():
                _add(zf, f"course/{name}", path.read_bytes())
            elif name != "uv.lock":
                raise CourseError(f"{path} is missing: the autograder installs the course from it.")
        package = root / "kms_course"
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                _add(zf, f"course/{path.relative_to(root).as_posix()}", path.read_bytes())
        _add(zf, f"course/notebooks/{lesson}.ipynb", Path(known[lesson].path).read_bytes())
    return buffer.getvalue()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kms-course gradescope``."""
    parser.add_argument("--lesson", required=True,
                        help="the lesson to autograde, e.g. 03_creating_and_describing_keys")
    parser.add_argument("--out", required=True, help="the zip to write, e.g. autograder.zip "
                        "(upload it on the assignment's Configure Autograder page)")
    parser.add_argument("--masters", default=None, help="folder of master notebooks (default: notebooks/)")
    parser.add_argument("--visibility", choices=VISIBILITIES, default="visible",
                        help="when students see each exercise's result (Gradescope's test "
                        "visibility; default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    """Write the autograder zip to ``--out`` (atomically); 0 on success.

    Raises:
        CourseError: see :func:`build_zip`; ``--out`` is a folder.
        OSError: the zip cannot be written.
    """
    from kms_course.atomic import atomic_write

    out = Path(args.out)
    if out.is_dir():
        raise CourseError(f"--out {out} is a folder: pass the zip file to write, e.g. {out / 'autograder.zip'}.")
    data = build_zip(args.lesson, args.masters, args.visibility)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(data))
    print(f"Wrote {out} ({len(data) // 1024} KiB): upload it as the autograder of lesson {args.lesson}.")
    return 0


def hints_from_results(grades_path: str | Path) -> dict[str, str]:
    """Exercise id -> hint, read from the result files beside ``grades.json``
    (``results/<student>/*.json``, which the grader wrote:
    :mod:`kms_course.instructor.gradebook`)."""
    hints: dict[str, str] = {}
    for path in sorted((Path(grades_path).parent / "results").glob("*/*.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for ex_id, item in (result.get("exercises") or {}).items():
            if isinstance(item, dict) and item.get("hint"):
                hints.setdefault(ex_id, str(item["hint"]))
    return hints


def _last_line(path: str | None) -> str:
    try:
        lines = [x.strip() for x in Path(path).read_text(encoding="utf-8", errors="replace").splitlines()]
    except (OSError, TypeError):
        return ""
    lines = [x for x in lines if x]
    return lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    """``python -m kms_course.instructor.lms.gradescope results --grades G --out R ...``:
    run_autograder's second step. Writes ``results.json`` atomically: :func:`results_json` of
    ``grades.json``, or
    :func:`failure_json` with the grader's last stderr line when there is no ``grades.json``.
    Always 0 once results.json is written, so that Gradescope shows it."""
    from kms_course.atomic import atomic_write_text

    parser = argparse.ArgumentParser(prog="python -m kms_course.instructor.lms.gradescope")
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("results", help="grades.json -> Gradescope results.json")
    p.add_argument("--grades", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--started", type=float, default=None, help="epoch seconds the grading began")
    p.add_argument("--grade-status", type=int, default=0)
    p.add_argument("--grade-stderr", default=None)
    p.add_argument("--visibility", choices=VISIBILITIES, default="visible")
    args = parser.parse_args(argv)
    elapsed = time.time() - args.started if args.started else None
    try:
        grades = json.loads(Path(args.grades).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        grades = None
    if grades is None or (args.grade_status != 0 and not grades.get("students")):
        reason = _last_line(args.grade_stderr) or f"kms-course grade exited with status {args.grade_status}."
        reason = reason.removeprefix("kms-course grade: ")
        result = failure_json(reason if reason.endswith(".") else reason + ".", elapsed)
    else:
        result = results_json(grades, hints=hints_from_results(args.grades),
                              execution_time=elapsed, visibility=args.visibility)
    atomic_write_text(args.out, json.dumps(result, indent=1))
    print(f"results.json: score {result['score']:g}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
