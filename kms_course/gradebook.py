"""The gradebook: one result file per graded submission, then ``grades.csv`` and ``grades.json``.

Each result is written as soon as its submission is graded, atomically (a temporary file in the
same folder, then ``os.replace``: https://docs.python.org/3/library/os.html#os.replace), under
``OUT/results/<student>/<submission>.json``. A crash mid-batch therefore loses nothing already
graded, and a re-run skips every submission whose result exists for the same file content
(SHA-256), unless forced. The class files are rebuilt from all result files at the end.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

RESULTS = "results"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that readers see the old or the new file, never half.

    The parent folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def result_path(out: str | Path, student: str, key: str) -> Path:
    """Where the result of ``student``'s submission ``key`` is stored."""
    return Path(out) / RESULTS / student / f"{key}.json"


def write_result(out: str | Path, result: dict[str, Any]) -> Path:
    """Store one submission's result atomically; returns its path."""
    path = result_path(out, result["student"], result["key"])
    text = json.dumps(result, indent=1, sort_keys=True)
    try:
        if path.read_text(encoding="utf-8") == text:
            return path  # already stored exactly so: no rewrite, no fsync
    except OSError:
        pass
    atomic_write_text(path, text)
    return path


def is_graded(out: str | Path, student: str, key: str, sha256: str) -> bool:
    """True if a result exists for this submission and was made from the same file content."""
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


def class_rows(
    results: list[dict[str, Any]], lessons: dict[str, list[tuple[str, int]]]
) -> list[dict[str, Any]]:
    """One row per student over ``lessons`` (lesson -> [(exercise id, max points)], in order).

    Each row: ``student``, ``exercises`` (id -> points), ``messages`` (id -> failure message),
    ``total``, ``max_points``, ``status`` (``ok``, or ``lesson: status`` parts joined by ``; ``,
    with ``missing`` for a lesson the student did not submit). When a student submitted one
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
                statuses.append(f"{lesson}: {r['status']}")
            for ex_id, _ in exs:
                item = (r or {}).get("exercises", {}).get(ex_id, {})
                points[ex_id] = int(item.get("points", 0)) if item.get("passed") else 0
                if not item.get("passed"):
                    messages[ex_id] = item.get("message") or "not submitted"
        for lesson, r in by_student[student].items():
            if lesson not in lessons:
                statuses.append(f"{r.get('key')}: {r.get('status')}")
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


def write_class_files(
    out: str | Path, results: list[dict[str, Any]], lessons: dict[str, list[tuple[str, int]]]
) -> list[dict[str, Any]]:
    """Write ``grades.csv`` and ``grades.json`` atomically and return the rows.

    ``grades.csv`` columns: ``student``, one per exercise id (points), ``total``, ``max_points``,
    ``status``. ``grades.json``: ``{"lessons": {...}, "students": rows}`` with failure messages.
    """
    rows = class_rows(results, lessons)
    ids = [ex for exs in lessons.values() for ex, _ in exs]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *ids, "total", "max_points", "status"])
    for row in rows:
        writer.writerow(
            [row["student"], *(row["exercises"][i] for i in ids), row["total"],
             row["max_points"], row["status"]]
        )
    atomic_write_text(Path(out) / "grades.csv", buffer.getvalue())
    payload = {
        "lessons": {lesson: dict(exs) for lesson, exs in lessons.items()},
        "students": rows,
    }
    atomic_write_text(Path(out) / "grades.json", json.dumps(payload, indent=1))
    return rows
