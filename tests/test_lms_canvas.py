"""``kms-course export canvas``: the CSV Canvas's gradebook import documents.

Canvas's import reads a CSV shaped like its own gradebook export (Canvas Instructor Guide, "How
do I import grades in the Gradebook?"): header ``Student, ID, SIS User ID, SIS Login ID,
Section`` then one column per assignment (``Name (12345)`` for an existing assignment, a new
name creates one); a second row ``Points Possible``; then one row per student, matched by ID,
SIS User ID or SIS Login ID. The gradebook here is written by
:func:`kms_course.instructor.gradebook.write_class_files` from synthetic results, so its shape is the
real one.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from kms_course import cli
from kms_course.instructor import gradebook
from kms_course.errors import CourseError
from kms_course.instructor.lms import canvas
from kms_course.instructor.lms.late import LatePlan, load_rules

LESSON = "90_grading_fixture"
OTHER = "91_other_fixture"
LESSONS = {LESSON: [("90-key", 2), ("90-blob", 3)]}


MAX = {"90-key": 2, "90-blob": 3, "91-key": 2}


def _result(student, points, lesson=LESSON, path=None):
    """A result as the grader stores it (kms_course.instructor.grading.worker.grade), for
    ``points``."""
    exercises = {ex: {"points": p, "max_points": MAX[ex], "passed": p > 0,
                      "message": None if p else "wrong"} for ex, p in points.items()}
    return {"student": student, "key": f"{student}/{lesson}", "path": str(path) if path else None,
            "lesson": lesson, "status": "ok", "messages": [], "exercises": exercises,
            "total": sum(points.values()), "max_points": 5, "jailed": True}


@pytest.fixture
def out(tmp_path):
    results = [_result("ana", {"90-key": 2, "90-blob": 3}), _result("bo", {"90-key": 2, "90-blob": 0}),
               _result("chen, li", {"90-key": 0, "90-blob": 0})]
    gradebook.write_class_files(tmp_path, results, LESSONS)
    return tmp_path


def _read(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def test_header_points_possible_and_rows_have_canvas_shape(out):
    path, count, unmatched = canvas.export(out, assignments=["Lesson 90: first key (4711)"])
    assert (path, count, unmatched) == (out / "canvas.csv", 3, [])
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # UTF-8, no BOM; RFC 4180 line ends
    rows = _read(path)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lesson 90: first key (4711)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "5"]
    assert rows[2:] == [["ana", "", "", "ana", "", "5"], ["bo", "", "", "bo", "", "2"],
                        ["chen, li", "", "", "chen, li", "", "0"]]
    assert '"chen, li"' in path.read_text()  # a comma is quoted


def test_default_column_is_the_lesson_stem(out):
    rows = _read(canvas.export(out)[0])
    assert rows[0][5] == LESSON


def test_roster_from_a_canvas_export_supplies_the_ids(out, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Old quiz (12)\n"
        "    Points Possible,,,,,10\n"
        "\"Silva, Ana\",101,S-1,ana,Section A,7\n"
        "\"Bo, Bo\",102,S-2,BO,Section B,8\n"
        "\"Li, Chen\",103,S-3,cl3,Section A,9\n",
        encoding="utf-8",
    )
    path, count, unmatched = canvas.export(out, roster=roster)
    rows = _read(path)
    assert rows[2:] == [["Silva, Ana", "101", "S-1", "ana", "Section A", "5"],
                        ["Bo, Bo", "102", "S-2", "BO", "Section B", "2"]]  # login ids match case-insensitively
    assert unmatched == ["chen, li"] and count == 2


def test_explicit_kms_course_student_column_wins(out, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,kms-course student\n"
                      "\"Li, Chen\",103,S-3,cl3,A,\"chen, li\"\n")
    rows = _read(canvas.export(out, roster=roster)[0])
    assert rows[2:] == [["Li, Chen", "103", "S-3", "cl3", "A", "0"]]


def test_cli_exports_and_reports_students_left_out(out, tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\nAna,101,,ana,A\n")
    assert cli.main(["export", "canvas", "--out", str(out), "--roster", str(roster)]) == 1
    captured = capsys.readouterr()
    assert "Wrote" in captured.out
    err = [line for line in captured.err.splitlines() if line]
    assert len(err) == 1 and "2 student(s) not in the roster" in err[0] and "bo" in err[0]
    assert cli.main(["export", "canvas", "--out", str(out)]) == 0


def test_bad_inputs_are_one_clear_line(tmp_path, capsys, out):
    assert cli.main(["export", "canvas", "--out", str(tmp_path / "nothing")]) == 1
    assert "grade the class first" in capsys.readouterr().err
    roster = tmp_path / "bad.csv"
    roster.write_text("name,score\nana,1\n")
    assert cli.main(["export", "canvas", "--out", str(out), "--roster", str(roster)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "SIS Login ID" in err and len(err.strip().splitlines()) == 1


def test_several_lessons_need_stem_names(tmp_path):
    lessons = {LESSON: [("90-key", 2), ("90-blob", 3)], OTHER: [("91-key", 2)]}
    results = [_result("ana", {"90-key": 2, "90-blob": 3}),
               {**_result("ana", {"91-key": 2}, lesson=OTHER), "max_points": 2}]
    gradebook.write_class_files(tmp_path, results, lessons)
    with pytest.raises(CourseError, match="STEM=NAME"):
        canvas.export(tmp_path, assignments=["Only one"])
    rows = _read(canvas.export(tmp_path, assignments=[f"{OTHER}=Other (99)"])[0])
    assert rows[0][5:] == [LESSON, "Other (99)"]
    assert rows[1][5:] == ["5", "2"]
    assert rows[2] == ["ana", "", "", "ana", "", "5", "2"]


def test_late_penalty_is_in_the_exported_score(tmp_path):
    nb = tmp_path / "subs" / "bo" / f"{LESSON}.ipynb"
    nb.parent.mkdir(parents=True)
    nb.write_text("{}")
    (nb.parent / "timestamp.txt").write_text("2026-03-02T10:00:00+00:00")
    rules = tmp_path / "rules.toml"
    rules.write_text("due = 2026-03-01T23:59:00Z\npenalty_per_day = 25\n")
    results = [_result("bo", {"90-key": 2, "90-blob": 3}, path=nb)]
    gradebook.write_class_files(tmp_path, results, LESSONS, late=LatePlan(load_rules(rules), results))
    assert json.loads((tmp_path / "grades.json").read_text())["students"][0]["total_after_penalty"] == 3.75
    rows = _read(canvas.export(tmp_path)[0])
    assert rows[2][5] == "3.75"  # 5 points, 1 day late at 25% of the points earned
