"""Students are never merged: two folders are two rows, whatever their names (issue 10 item 3).

Bug: ``_safe()`` turned "Ana Lopez" and "Ana_Lopez" (and "José"/"Jos_") into one student, so two
students shared one row, one result file and one feedback page.
"""

from __future__ import annotations

import json

import pytest
from gradebook_support import FULL, grade, grade_args, grading_env, rows, write_submission  # noqa: F401

from kms_course.instructor.feedback import page_path
from kms_course.instructor.gradebook import result_path
from kms_course.instructor.grading.file_names import file_name
from kms_course.instructor.grading.submissions import discover

LONG = "Ana María " + "de la Fuente " * 18 + "Zúñiga"  # 250 characters
assert len(LONG) == 250
#: Pairs that the old ``_safe()`` merged, and names no file system likes.
NAMES = ["Ana Lopez", "Ana_Lopez", "ana", "Ana", "ANA", "José", "Jose", "王芳", LONG,
         "x-0123456789ab", "o'brien; rm -rf"]


def test_file_names_differ_for_every_pair_of_names():
    made = {name: file_name(name) for name in NAMES}
    assert len(set(made.values())) == len(NAMES), made
    assert len({n.lower() for n in made.values()}) == len(NAMES)  # case-insensitive disks too
    for name, safe in made.items():
        assert len(safe.encode()) <= 64 and "/" not in safe and not safe.startswith(".")
    assert file_name("ana") == "ana" and file_name("90_grading_fixture") == "90_grading_fixture"
    # a plain name that looks like a hashed one is hashed too, so it cannot take another's place
    assert file_name("x-0123456789ab") != "x-0123456789ab"
    assert file_name("Ana Lopez").startswith("ana_lopez-")
    assert file_name(LONG).startswith("ana_maria_de_la_fuente_")


def test_discover_keeps_names_as_given(tmp_path):
    for name in ("Ana Lopez", "Ana_Lopez"):
        write_submission(tmp_path / "class" / name, {})
    (tmp_path / "class" / "Ana Lopez" / "week 1").mkdir()
    write_submission(tmp_path / "class" / "Ana Lopez" / "week 1", {})
    found = sorted((s.student, s.key) for s in discover([str(tmp_path / "class")]))
    assert found == [("Ana Lopez", "90_grading_fixture"), ("Ana Lopez", "week 1/90_grading_fixture"),
                     ("Ana_Lopez", "90_grading_fixture")]


def test_same_file_named_twice_is_one_submission(tmp_path):
    path = write_submission(tmp_path / "ana", {})
    assert len(discover([str(path), str(path)])) == 1


def test_two_files_for_one_students_notebook_are_refused(tmp_path):
    from kms_course.errors import CourseError

    write_submission(tmp_path / "a" / "ana", {})
    write_submission(tmp_path / "b" / "ana", {})
    with pytest.raises(CourseError, match="are both student 'ana''s '90_grading_fixture': grade them in separate runs"):
        discover([str(tmp_path / "a"), str(tmp_path / "b")])


def test_every_folder_is_its_own_row(tmp_path, grading_env):
    masters, subs, out = grading_env, tmp_path / "subs", tmp_path / "out"
    expected = {}
    for i, name in enumerate(NAMES):  # alternate full and empty work: a merge would show
        write_submission(subs / name, FULL if i % 2 == 0 else {})
        expected[name] = "5" if i % 2 == 0 else "0"
    code, stdout, stderr = grade(*grade_args(subs, out, masters, "--jobs", "2"))
    assert code == 0, stderr
    got = rows(out)
    assert {name: row["total"] for name, row in got.items()} == expected
    students = json.loads((out / "grades.json").read_text(encoding="utf-8"))["students"]
    assert sorted(r["student"] for r in students) == sorted(NAMES)
    for name in NAMES:
        result = json.loads(result_path(out, name, "90_grading_fixture").read_text(encoding="utf-8"))
        assert (result["student"], str(result["total"])) == (name, expected[name])
        page = page_path(out, name).read_text(encoding="utf-8")
        from html import escape

        assert f"<h1>Feedback for {escape(name)}</h1>" in page
        assert f"{expected[name]} / 5 points" in page
    assert len(list((out / "feedback").glob("*.html"))) == len(NAMES)
    assert len(list((out / "results").iterdir())) == len(NAMES)
    # the same command again finds every student's own result
    code, stdout, _ = grade(*grade_args(subs, out, masters))
    assert code == 0 and f"Graded 0 submission(s)" in stdout and f"skipped {len(NAMES)}" in stdout
    assert {name: row["total"] for name, row in rows(out).items()} == expected


def test_a_name_that_is_a_formula_is_text_in_grades_csv(tmp_path):
    # a hostile-student trial: a folder named =HYPERLINK(...) ran as a formula in a spreadsheet
    import csv

    from kms_course.instructor.gradebook import write_class_files

    names = ['=HYPERLINK("http://evil.example/x","open")', "+1", "-2+3", "@SUM(A1)", "ana", "o'brien"]
    results = [{"student": n, "key": n, "path": f"/x/{n}.ipynb", "lesson": "90_grading_fixture",
                "status": "ok", "exercises": {"90-key": {"points": 2, "max_points": 2}}}
               for n in names]
    write_class_files(tmp_path, results, {"90_grading_fixture": [("90-key", 2)]})
    with open(tmp_path / "grades.csv", newline="") as f:
        shown = [r["student"] for r in csv.DictReader(f)]
    assert sorted(shown) == sorted(["'" + n for n in names[:4]] + ["ana", "o'brien"])
    stored = json.loads((tmp_path / "grades.json").read_text())["students"]
    assert sorted(r["student"] for r in stored) == sorted(names)  # the JSON keeps names as given
