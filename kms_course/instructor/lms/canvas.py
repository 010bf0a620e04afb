"""A Canvas gradebook CSV from ``grades.json``: ``kms-course export canvas --out DIR``.

Canvas imports a gradebook CSV shaped like its own gradebook export (Canvas Instructor Guide,
"How do I import grades in the Gradebook?",
https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807;
the columns as summarised by Ohio State's Canvas guide,
https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades):

* the first row is the header: ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``,
  ``Section``, then one column per assignment. A column named ``Name (12345)`` updates the
  existing assignment whose Canvas id is 12345; a column with a new name creates an assignment;
* the second row is ``Points Possible`` (in the Student column, as in Canvas's export) with
  each assignment's points possible;
* then one row per student. Canvas finds each student by ``ID`` (the Canvas user id), ``SIS User
  ID`` or ``SIS Login ID``; the name is not used to match. A blank score changes nothing.

The file is written with :mod:`csv` (RFC 4180 quoting, ``\\r\\n`` line ends), UTF-8 without a BOM.

**Roster** (``--roster FILE``): a CSV with the five student columns, most simply Canvas's own
gradebook export (Grades → Export → Export Entire Gradebook); extra columns and the ``Points
Possible`` row are ignored. A kms-course student (the name in ``grades.csv``: the submission's
folder or file name) matches the roster row whose ``kms-course student`` column (optional)
equals it, else whose ``SIS Login ID``, else ``SIS User ID``, else ``ID``, else ``Student``
equals it (case-insensitively). Without a roster each row has the kms-course name as both
``Student`` and ``SIS Login ID`` and the other ids blank, which Canvas matches when the
submissions are named by login id.

**Scores.** One column per lesson of ``grades.json``: the lesson's points (the sum of its
exercises). With late penalties (``kms-course grade --late-rules``), a lesson's score is its
points minus the student's penalty, which needs a gradebook of one lesson.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from kms_course.errors import CourseError

#: Canvas's student columns, in its order.
STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: The label of the second row.
POINTS_POSSIBLE = "Points Possible"
#: The optional roster column naming the kms-course student.
ROSTER_KEY = "kms-course student"
#: The file written in ``--out``.
CSV_NAME = "canvas.csv"

_WITH_ID = re.compile(r"^(?P<name>.*\S)\s*\((?P<id>\d+)\)$")


def read_roster(path: str | Path) -> list[dict[str, str]]:
    """The student rows of a roster CSV (format: this module's docstring).

    Raises:
        CourseError: the file is unreadable, has none of the identifying columns, or no rows.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CourseError(f"--roster {path}: cannot read it as UTF-8 CSV ({error}); export it again "
                          "from Canvas (Grades, Export).") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    wanted = {ROSTER_KEY, "ID", "SIS User ID", "SIS Login ID", "Student"}
    if not wanted & set(columns):
        raise CourseError(f"--roster {path}: no column {', '.join(sorted(wanted))}; use Canvas's "
                          "gradebook export, or a CSV with the columns Student, ID, SIS User ID, "
                          "SIS Login ID, Section.")
    rows = []
    for raw in reader:
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if row.get("Student", "") == POINTS_POSSIBLE or not any(row.values()):
            continue
        rows.append(row)
    if not rows:
        raise CourseError(f"--roster {path}: no student rows.")
    return rows


def match(student: str, roster: list[dict[str, str]]) -> dict[str, str] | None:
    """The roster row of ``student`` (the matching order of this module's docstring), or None."""
    wanted = student.casefold()
    for column in (ROSTER_KEY, "SIS Login ID", "SIS User ID", "ID", "Student"):
        for row in roster:
            if row.get(column) and row[column].casefold() == wanted:
                return row
    return None


def assignment_names(lessons: list[str], given: list[str] | None) -> dict[str, str]:
    """Lesson -> Canvas column name, from ``--assignment`` values.

    Each value is ``NAME`` (only with one lesson) or ``STEM=NAME``; ``NAME`` may end in
    `` (12345)``, the Canvas assignment id. A lesson not named keeps its stem as the name.

    Raises:
        CourseError: ``NAME`` without ``STEM=`` for several lessons, or an unknown STEM.
    """
    names = {lesson: lesson for lesson in lessons}
    for value in given or []:
        stem, sep, name = value.partition("=")
        if not sep:
            if len(lessons) != 1:
                raise CourseError(f"--assignment {value!r}: grades.json has {len(lessons)} lessons; "
                                  "write --assignment STEM=NAME for each.")
            stem, name = lessons[0], value
        if stem not in names:
            raise CourseError(f"--assignment {value!r}: no lesson {stem!r} in grades.json; it has "
                              f"{', '.join(lessons)}.")
        if not name.strip():
            raise CourseError(f"--assignment {value!r}: the assignment name is empty.")
        names[stem] = name.strip()
    return names


def _score(value: float) -> str:
    value = round(float(value), 2)
    return str(int(value)) if value == int(value) else f"{value:g}"


def table(grades: dict[str, Any], roster: list[dict[str, str]] | None = None,
          assignments: list[str] | None = None) -> tuple[list[list[str]], list[str]]:
    """The CSV's rows (header, Points Possible, students) and the students left out.

    Args:
        grades: the contents of ``grades.json``.
        roster: :func:`read_roster` rows, or None (ids from the kms-course names).
        assignments: ``--assignment`` values (:func:`assignment_names`).

    Returns:
        ``(rows, unmatched)``: ``rows[0]`` is :data:`STUDENT_COLUMNS` + one name per lesson,
        ``rows[1]`` the Points Possible row, then one row per matched student (sorted as in
        grades.json); ``unmatched``: students with no roster row (not in the CSV).

    Raises:
        CourseError: see :func:`assignment_names`; late penalties in a gradebook of several lessons.
    """
    lessons: dict[str, dict[str, int]] = grades.get("lessons") or {}
    if not lessons:
        raise CourseError("grades.json has no lessons: grade the class first (kms-course grade).")
    if grades.get("late_rules") and len(lessons) > 1:
        raise CourseError("grades.json has late penalties over several lessons; a rule file is for "
                          "one assignment: grade each lesson with its own --out and export each.")
    names = assignment_names(list(lessons), assignments)
    rows = [[*STUDENT_COLUMNS, *(names[lesson] for lesson in lessons)],
            [POINTS_POSSIBLE, "", "", "", "", *(_score(sum(exs.values())) for exs in lessons.values())]]
    unmatched = []
    for student in grades.get("students") or []:
        name = student["student"]
        if roster is None:
            ids = [name, "", "", name, ""]
        else:
            found = match(name, roster)
            if found is None:
                unmatched.append(name)
                continue
            ids = [found.get(c, "") for c in STUDENT_COLUMNS]
        scores = []
        for lesson, exs in lessons.items():
            points = sum(student.get("exercises", {}).get(ex, 0) for ex in exs)
            late = student.get("late")
            if late:
                points = max(0, points - late["penalty"])
            scores.append(_score(points))
        rows.append([*ids, *scores])
    return rows, unmatched


def to_csv(rows: list[list[str]]) -> str:
    """The rows as CSV text (RFC 4180: :mod:`csv`'s default dialect, ``\\r\\n``)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def export(out: str | Path, roster: str | Path | None = None,
           assignments: list[str] | None = None) -> tuple[Path, int, list[str]]:
    """Write ``OUT/canvas.csv`` from ``OUT/grades.json`` (atomically: the old file stays whole
    until the new one is complete).

    Returns:
        ``(path, number of student rows, unmatched students)``.

    Raises:
        CourseError: no readable ``OUT/grades.json`` (grade first), or see :func:`table` and
            :func:`read_roster`.
        OSError: the CSV cannot be written.
    """
    from kms_course.atomic import atomic_write_text

    source = Path(out) / "grades.json"
    try:
        grades = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CourseError(f"{source} does not exist: grade the class first "
                          f"(kms-course grade SUBMISSIONS --out {out}).") from None
    except (OSError, ValueError) as error:
        raise CourseError(f"{source}: cannot read it ({error}); grade the class again.") from None
    rows, unmatched = table(grades, read_roster(roster) if roster else None, assignments)
    path = Path(out) / CSV_NAME
    atomic_write_text(path, to_csv(rows))
    return path, len(rows) - 2, unmatched
