"""The gradebook: one result file per graded submission, then ``grades.csv`` and ``grades.json``.

Each result is written as soon as its submission is graded, atomically (a temporary file in the
same folder, then ``os.replace``: https://docs.python.org/3/library/os.html#os.replace), under
``OUT/results/<student>/<submission>.json``, where both names are made file-system safe and
collision-free by :func:`kms_course.instructor.grading.file_names.file_name` (the result itself
holds the names as given). A crash mid-batch therefore loses nothing already graded, and a re-run
skips every submission whose trusted result was made from the same file content (SHA-256) under the
same grading fingerprint (:mod:`kms_course.instructor.grading.fingerprint`), unless forced.

Student code may find ``--out`` (for instance in ``/proc/<ppid>/cmdline``), so a file under
``results/`` proves nothing by itself. The grader's manifest
(:mod:`kms_course.instructor.grading.manifest`) authenticates each file it wrote with an HMAC under
a key kept outside ``OUT`` (:mod:`kms_course.instructor.grading.grader_key`). A re-run trusts only
result files whose tag checks; anything else under ``results/`` is moved to ``OUT/quarantine/`` and
reported (:func:`quarantine`). The class files hold only the submissions of the current run.

Every file is written with :mod:`kms_course.atomic`: complete or not at all, with the mode
``open()`` would give it. ``grades.csv`` and ``grades.json`` are both written complete before
either replaces its old version, so a failure (a full disk) leaves the pair as it was.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from kms_course.atomic import atomic_write_text
from kms_course.instructor.grading import manifest as _manifest
from kms_course.instructor.grading.file_names import file_name
from kms_course.instructor.grading.grader_key import load_key

RESULTS = "results"
MANIFEST = _manifest.MANIFEST
QUARANTINE = "quarantine"


def result_path(out: str | Path, student: str, key: str) -> Path:
    """Where the result of ``student``'s submission ``key`` (names as given) is stored:
    ``OUT/results/<file_name(student)>/<file_name(key)>.json``."""
    return Path(out) / RESULTS / file_name(student) / f"{file_name(key)}.json"


def result_bytes(result: dict[str, Any]) -> bytes:
    """The bytes a result file holds (sorted-key JSON, UTF-8)."""
    return json.dumps(result, indent=1, sort_keys=True).encode("utf-8")


def write_result(out: str | Path, result: dict[str, Any]) -> tuple[Path, bytes]:
    """Store one submission's result atomically (not rewritten if it holds these bytes already).

    Returns:
        ``(path, data)``: where it is and the bytes written, for the manifest's tag.

    Raises:
        OSError: the file cannot be written (e.g. ``ENOSPC``); an older file there is unchanged.
    """
    path = result_path(out, result["student"], result["key"])
    data = result_bytes(result)
    try:
        if not path.is_symlink() and path.read_bytes() == data:
            return path, data  # already stored exactly so: no rewrite, no fsync
    except OSError:
        pass
    atomic_write_text(path, data.decode("utf-8"))
    return path, data


def is_graded(out: str | Path, student: str, key: str, sha256: str) -> bool:
    """True if a result file exists for this submission and was made from the same file content
    (the file's own claim: :class:`~kms_course.instructor.grading.store.ResultStore` checks the
    manifest)."""
    try:
        data = json.loads(result_path(out, student, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("sha256") == sha256 and bool(sha256)


def load_results(out: str | Path) -> list[dict[str, Any]]:
    """Every stored result (unreadable or half-written files are skipped), sorted by student."""
    found = []
    for path in sorted((Path(out) / RESULTS).glob("*/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "student" in data and "exercises" in data:
            found.append(data)
    return sorted(found, key=lambda r: (r["student"], r.get("key", "")))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes ("" if it cannot be read)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def manifest_name(out: str | Path, path: str | Path) -> str:
    """The manifest's name for a result file: its path relative to ``OUT``, with ``/``."""
    return Path(path).relative_to(Path(out)).as_posix()


def read_manifest(out: str | Path) -> dict[str, str]:
    """The grader's manifest of ``out`` with its journal: result file name -> HMAC tag ({} if
    absent, unreadable or of an older format)."""
    return _manifest.load(out).entries


def write_manifest(out: str | Path, entries: dict[str, str]) -> None:
    """Atomically store the manifest (result file name -> tag) and drop the journal.

    Raises:
        OSError: it cannot be written; the previous one is unchanged.
    """
    _manifest.save(out, entries)


def trusted_results(
    out: str | Path, manifest: dict[str, str], key: bytes | None = None
) -> dict[str, dict[str, Any]]:
    """The result files under ``out`` whose tag in ``manifest`` checks under ``key`` (default:
    the grader's key): file name -> result. Others are left out (see :func:`quarantine`)."""
    return _manifest.trusted(out, manifest, key if key is not None else load_key())


def quarantine(out: str | Path, keep: set[str]) -> list[str]:
    """Move every file under ``OUT/results`` whose name is not in ``keep`` to ``OUT/quarantine``.

    Returns:
        The names (relative to ``out``) of the files moved, sorted. The instructor can read them
        there (a planted result is evidence); they are never read back as results.

    Raises:
        OSError: a file cannot be moved (e.g. no space for the quarantine folder).
    """
    moved = []
    base = Path(out)
    for path in sorted((base / RESULTS).rglob("*")):
        if not path.is_file() and not path.is_symlink():
            continue
        name = manifest_name(base, path)
        if name in keep:
            continue
        target = base / QUARANTINE / Path(name).relative_to(RESULTS)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        moved.append(name)
    return moved


def class_rows(
    results: list[dict[str, Any]], lessons: dict[str, list[tuple[str, int]]]
) -> list[dict[str, Any]]:
    """One row per student over ``lessons`` (lesson -> [(exercise id, max points)], in order).

    Each row: ``student``, ``exercises`` (id -> points), ``messages`` (id -> failure message),
    ``total``, ``max_points``, ``status`` (``ok``; else the status words of the one lesson, or
    ``lesson: status`` parts joined by ``; `` when there are several, with ``missing`` for a
    lesson the student did not submit; a submission of no known lesson adds
    ``status (file NAME.ipynb)``). When a student submitted one
    lesson twice, the better total counts.
    """
    by_student: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in results:
        lesson = r.get("lesson") or "unknown"
        best = by_student[r["student"]].get(lesson)
        if best is None or r.get("total", 0) > best.get("total", 0):
            by_student[r["student"]][lesson] = r
    rows = []
    max_points = sum(p for exs in lessons.values() for _, p in exs)
    for student in sorted(by_student):
        points: dict[str, int] = {}
        messages: dict[str, str] = {}
        statuses = []
        for lesson, exs in lessons.items():
            r = by_student[student].get(lesson)
            if r is None:
                statuses.append(f"{lesson}: missing")
            elif r.get("status", "ok") != "ok":
                statuses.append(r["status"] if len(lessons) == 1 else f"{lesson}: {r['status']}")
            for ex_id, _ in exs:
                item = (r or {}).get("exercises", {}).get(ex_id, {})
                points[ex_id] = int(item.get("points", 0)) if item.get("passed") else 0
                if not item.get("passed"):
                    messages[ex_id] = item.get("message") or "not submitted"
        for lesson, r in by_student[student].items():
            if lesson not in lessons:
                name = Path(str(r.get("path") or r.get("key"))).name
                statuses.append(f"{r.get('status')} (file {name})")
        rows.append(
            {
                "student": student,
                "exercises": points,
                "messages": messages,
                "total": sum(points.values()),
                "max_points": max_points,
                "status": "; ".join(statuses) or "ok",
            }
        )
    return rows


#: What a spreadsheet takes for the start of a formula (OWASP, "CSV Injection",
#: https://owasp.org/www-community/attacks/CSV_Injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """``value`` as a spreadsheet shows it as text: one ``'`` in front when it would start a
    formula (a student folder named ``=HYPERLINK(...)``), unchanged otherwise (str to str)."""
    return f"'{value}" if value.startswith(FORMULA_START) else value


def write_class_files(
    out: str | Path, results: list[dict[str, Any]], lessons: dict[str, list[tuple[str, int]]],
    late: Any = None,
) -> list[dict[str, Any]]:
    """Write ``grades.csv`` and ``grades.json`` atomically and return the rows.

    ``grades.csv`` columns: ``student`` (with a ``'`` in front of a name a spreadsheet would
    take for a formula: :func:`spreadsheet_text`), one per exercise id (points), ``total``,
    ``max_points``, ``status``. ``grades.json``: ``{"lessons": {...}, "jailed": bool, "students": rows}`` with
    failure messages; ``jailed`` is false when any result was graded with ``--no-jail``.

    With ``late`` (a :class:`kms_course.instructor.lms.late.LatePlan`, from ``--late-rules``), each
    row gains ``late`` (:func:`kms_course.instructor.lms.late.assess`: submitted_at, source, due,
    extension, late_days, penalty_percent, penalty, total_after_penalty) and
    ``total_after_penalty``; ``grades.csv`` gains the columns ``submitted_at``, ``late_days``,
    ``penalty_percent``, ``penalty`` and ``total_after_penalty`` after ``status`` (``total`` stays
    the points before the penalty), and ``grades.json`` gains ``late_rules`` (the rules as data).
    """
    rows = class_rows(results, lessons)
    late_columns = ["submitted_at", "late_days", "penalty_percent", "penalty", "total_after_penalty"]
    if late is not None:
        for row in rows:
            row["late"] = late.assess(row)
            row["total_after_penalty"] = row["late"]["total_after_penalty"] if row["late"] else row["total"]
    ids = [ex for exs in lessons.values() for ex, _ in exs]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *ids, "total", "max_points", "status",
                     *(late_columns if late is not None else [])])
    for row in rows:
        extra = []
        if late is not None:
            info = row["late"] or {}
            extra = [info.get("submitted_at", ""), info.get("late_days", ""),
                     info.get("penalty_percent", ""), info.get("penalty", ""),
                     row["total_after_penalty"]]
        writer.writerow(
            [spreadsheet_text(row["student"]), *(row["exercises"][i] for i in ids), row["total"],
             row["max_points"], row["status"], *extra]
        )
    payload = {
        "lessons": {lesson: dict(exs) for lesson, exs in lessons.items()},
        "jailed": all(r.get("jailed", False) for r in results),
        "students": rows,
    }
    if late is not None:
        payload["late_rules"] = late.rules.summary()
    write_together(out, {"grades.csv": buffer.getvalue(), "grades.json": json.dumps(payload, indent=1)})
    return rows


def write_together(out: str | Path, files: dict[str, str]) -> None:
    """Write every file of ``files`` (name in ``out`` -> text) complete beside its target, then
    rename them all into place: a failure while writing leaves every old file as it was.

    Raises:
        OSError: a file cannot be written (e.g. ``ENOSPC``); no target has then been replaced
            and no temporary file is left.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for name, text in files.items():
            target = Path(out) / name
            ready = target.with_name(f".{target.name}.next")
            atomic_write_text(ready, text)
            try:
                os.chmod(ready, target.stat().st_mode & 0o7777)  # a replaced file keeps its mode
            except FileNotFoundError:
                pass
            staged.append((ready, target))
        for ready, target in staged:
            os.replace(ready, target)
    finally:
        for ready, _ in staged:
            ready.unlink(missing_ok=True)
