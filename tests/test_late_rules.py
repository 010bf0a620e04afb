"""Late penalties and extensions (:mod:`kms_course.instructor.lms.late`): the rule file, the
submission time, the arithmetic, and how grades.csv/grades.json and feedback show them.

The rule file's dates are ISO 8601 with a time zone, parsed by ``datetime.fromisoformat``
(https://docs.python.org/3/library/datetime.html#datetime.datetime.fromisoformat) or TOML's own
offset date-time (https://toml.io/en/v1.0.0#offset-date-time); the submission time comes from
nbgrader's ``timestamp.txt`` beside the notebook, else the file's modification time. The class
graded end to end with ``--late-rules`` is in tests/test_lms_gradescope.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from kms_course.instructor import feedback, gradebook
from kms_course.errors import CourseError
from kms_course.instructor.lms.late import LatePlan, LateRules, assess, load_rules, parse_time, submission_time

UTC = timezone.utc
DUE = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)


def rules(**kw) -> LateRules:
    return LateRules(**{"due": DUE, "penalty_per_day": 10.0, **kw})


def test_toml_rules_with_every_key(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(
        'due = 2026-03-01T23:59:00-05:00\n'
        'penalty_per_day = 15\nmax_penalty = 40\nbasis = "possible"\ngrace_minutes = 10\n'
        'decimals = 1\n[extensions]\nana = 2\nbo = "2026-03-04T12:00:00+01:00"\n'
    )
    r = load_rules(path)
    assert r.due == datetime(2026, 3, 1, 23, 59, tzinfo=timezone(timedelta(hours=-5)))
    assert (r.penalty_per_day, r.max_penalty, r.basis, r.grace, r.decimals) == (
        15.0, 40.0, "possible", timedelta(minutes=10), 1)
    assert r.extensions["ana"] == 2.0
    assert r.extensions["bo"] == datetime(2026, 3, 4, 12, tzinfo=timezone(timedelta(hours=1)))
    assert r.due_for("ana") == (r.due + timedelta(days=2), "extension of 2 day(s)")
    assert r.due_for("zoe") == (r.due, None)
    summary = r.summary()
    json.dumps(summary)
    assert summary["due"] == "2026-03-01T23:59:00-05:00" and summary["extensions"]["ana"] == 2.0


def test_json_rules(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"due": "2026-03-01T23:59:00Z", "penalty_per_day": 5,
                                "extensions": {"ana": "2026-03-05T00:00:00+00:00"}}))
    r = load_rules(path)
    assert r.due == DUE and r.penalty_per_day == 5.0 and r.max_penalty == 100.0 and r.basis == "earned"
    assert r.extensions["ana"] == datetime(2026, 3, 5, tzinfo=UTC)


@pytest.mark.parametrize("text, words", [
    ("penalty_per_day = 10\n", "due is missing"),
    ("due = 2026-03-01T23:59:00\npenalty_per_day = 10\n", "no time zone"),
    ('due = "2026-03-01 23:59"\npenalty_per_day = 10\n', "no time zone"),
    ('due = "next friday"\npenalty_per_day = 10\n', "not a date and time"),
    ("due = 2026-03-01T23:59:00Z\n", "penalty_per_day is missing"),
    ("due = 2026-03-01T23:59:00Z\npenalty_per_day = 150\n", "from 0 to 100"),
    ("due = 2026-03-01T23:59:00Z\npenalty_per_day = 10\npenalty = 3\n", "unknown key(s) penalty"),
    ('due = 2026-03-01T23:59:00Z\npenalty_per_day = 10\nbasis = "total"\n', "basis must be"),
    ("due = 2026-03-01T23:59:00Z\npenalty_per_day = 10\n[extensions]\nana = -1\n", "extra days must be >= 0"),
    ("due = 2026-03-01T23:59:00Z\npenalty_per_day = 10\n[extensions]\nana = 2026-03-03T00:00:00\n", "no time zone"),
    ("due = = 3\n", "not valid TOML"),
])
def test_bad_rule_files_say_what_to_write(tmp_path, text, words):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(CourseError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert words in message and "\n" not in message and str(path) in message


def test_missing_rule_file_stops_grading_before_it_starts_with_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "kms_course.cli", "grade", str(tmp_path), "--out", str(tmp_path / "out"),
         "--late-rules", str(tmp_path / "nope.toml"), "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("kms-course grade: --late-rules ") and "check the path" in lines[0]
    assert not (tmp_path / "out").exists()  # stopped before anything was created


@pytest.mark.parametrize("late, days", [
    (timedelta(0), 0), (timedelta(seconds=-5), 0), (timedelta(minutes=1), 1),
    (timedelta(hours=24), 1), (timedelta(hours=24, seconds=1), 2), (timedelta(days=9), 9),
])
def test_a_started_day_counts_as_a_whole_day(late, days):
    assert assess(rules(), "ana", DUE + late, "mtime", 4, 5)["late_days"] == days


def test_penalty_is_capped_rounded_half_up_and_never_below_zero():
    r = rules(penalty_per_day=12.5, max_penalty=30, decimals=1)
    one = assess(r, "ana", DUE + timedelta(hours=1), "mtime", 3, 5)
    assert (one["penalty_percent"], one["penalty"], one["total_after_penalty"]) == (12.5, 0.4, 2.6)  # 0.375 -> 0.4
    many = assess(r, "ana", DUE + timedelta(days=6), "mtime", 3, 5)
    assert (many["late_days"], many["penalty_percent"], many["penalty"]) == (6, 30, 0.9)
    possible = assess(rules(basis="possible", penalty_per_day=50), "ana", DUE + timedelta(days=1), "mtime", 1, 5)
    assert (possible["penalty"], possible["total_after_penalty"]) == (1, 0)  # 2.5 off, but only 1 earned
    assert assess(rules(), "ana", DUE, "mtime", 5, 5)["max_points"] == 5


def test_grace_and_extensions_move_the_due_time():
    r = rules(grace=timedelta(minutes=15), extensions={"ana": 1.5, "bo": datetime(2026, 3, 10, tzinfo=UTC)})
    assert assess(r, "zoe", DUE + timedelta(minutes=14), "mtime", 5, 5)["late_days"] == 0
    assert assess(r, "zoe", DUE + timedelta(minutes=16), "mtime", 5, 5)["late_days"] == 1
    ana = assess(r, "ana", DUE + timedelta(days=1), "mtime", 5, 5)
    assert (ana["late_days"], ana["extension"], ana["due"]) == (0, "extension of 1.5 day(s)", "2026-03-03T11:59:00+00:00")
    bo = assess(r, "bo", datetime(2026, 3, 9, tzinfo=UTC), "mtime", 5, 5)
    assert bo["late_days"] == 0 and bo["extension"] == "extension to 2026-03-10T00:00:00+00:00"


@pytest.mark.parametrize("text, expected", [
    ("2026-03-02T10:00:00+00:00", datetime(2026, 3, 2, 10, tzinfo=UTC)),
    ("2026-03-02T10:00:00Z\n", datetime(2026, 3, 2, 10, tzinfo=UTC)),
    ("2026-03-02 10:00:00.000000 UTC", datetime(2026, 3, 2, 10, tzinfo=UTC)),  # nbgrader's form
    ("submitted_at: 2026-03-02T11:00:00+01:00", datetime(2026, 3, 2, 10, tzinfo=UTC)),
    ('submitted_at = "2026-03-02T05:00:00-05:00"', datetime(2026, 3, 2, 10, tzinfo=UTC)),
    ("2026-03-02 05:00:00 America/New_York", datetime(2026, 3, 2, 10, tzinfo=UTC)),
])
def test_timestamp_txt_beside_the_notebook_is_the_submission_time(tmp_path, text, expected):
    nb = tmp_path / "ana" / "90_x.ipynb"
    nb.parent.mkdir()
    nb.write_text("{}")
    (nb.parent / "timestamp.txt").write_text(text)
    when, source = submission_time(nb)
    assert when == expected and source == "timestamp.txt"


def test_without_timestamp_txt_the_file_modification_time_is_used(tmp_path):
    nb = tmp_path / "90_x.ipynb"
    nb.write_text("{}")
    os.utime(nb, (1772409600, 1772409600))
    assert submission_time(nb) == (datetime(2026, 3, 2, tzinfo=UTC), "mtime")


def test_an_unreadable_timestamp_names_its_file(tmp_path):
    nb = tmp_path / "90_x.ipynb"
    nb.write_text("{}")
    (tmp_path / "timestamp.txt").write_text("yesterday")
    with pytest.raises(CourseError, match="timestamp.txt"):
        submission_time(nb)
    with pytest.raises(CourseError, match="no time zone"):
        parse_time("2026-03-02 10:00", "x")


def _results(tmp_path):
    out = []
    for student, stamp, points in (("ana", "2026-03-01T20:00:00Z", (2, 3)), ("bo", "2026-03-03T01:00:00Z", (2, 0))):
        nb = tmp_path / "subs" / student / "90_grading_fixture.ipynb"
        nb.parent.mkdir(parents=True)
        nb.write_text("{}")
        (nb.parent / "timestamp.txt").write_text(stamp)
        out.append({"student": student, "key": student, "path": str(nb), "lesson": "90_grading_fixture",
                    "status": "ok", "messages": [], "total": sum(points), "max_points": 5, "jailed": True,
                    "exercises": {"90-key": {"points": points[0], "max_points": 2, "passed": bool(points[0])},
                                  "90-blob": {"points": points[1], "max_points": 3, "passed": bool(points[1]),
                                              "message": None if points[1] else "no blob", "hint": "encrypt it"}}})
    return out


LESSONS = {"90_grading_fixture": [("90-key", 2), ("90-blob", 3)]}


def test_gradebook_gains_late_columns_and_keeps_the_raw_total(tmp_path):
    results = _results(tmp_path)
    plan = LatePlan(rules(penalty_per_day=25), results)
    rows = gradebook.write_class_files(tmp_path, results, LESSONS, late=plan)
    table = list(csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text())))
    assert list(table[0]) == ["student", "90-key", "90-blob", "total", "max_points", "status",
                              "submitted_at", "late_days", "penalty_percent", "penalty", "total_after_penalty"]
    assert [(r["student"], r["total"], r["late_days"], r["penalty"], r["total_after_penalty"]) for r in table] == [
        ("ana", "5", "0", "0", "5"), ("bo", "2", "2", "1", "1")]
    data = json.loads((tmp_path / "grades.json").read_text())
    assert data["late_rules"]["penalty_per_day"] == 25.0
    bo = data["students"][1]
    assert bo["late"]["source"] == "timestamp.txt" and bo["late"]["submitted_at"] == "2026-03-03T01:00:00+00:00"
    assert bo["total_after_penalty"] == 1 == rows[1]["total_after_penalty"]


def test_without_rules_the_gradebook_is_unchanged(tmp_path):
    gradebook.write_class_files(tmp_path, _results(tmp_path), LESSONS)
    header = (tmp_path / "grades.csv").read_text().splitlines()[0]
    assert header == "student,90-key,90-blob,total,max_points,status"
    assert "late_rules" not in json.loads((tmp_path / "grades.json").read_text())


def test_feedback_shows_time_source_and_penalty(tmp_path):
    results = _results(tmp_path)
    rows = gradebook.write_class_files(tmp_path, results, LESSONS, late=LatePlan(rules(penalty_per_day=25), results))
    feedback.write_all(tmp_path, results, late={r["student"]: r["late"] for r in rows})
    bo = (tmp_path / "feedback" / "bo.html").read_text()
    assert ("Submitted 2026-03-03T01:00:00+00:00 (from the timestamp.txt your submission was collected "
            "with); due 2026-03-01T23:59:00+00:00. 2 day(s) late: 50% penalty, minus 1 point(s); "
            "total after penalty: 1 / 5.") in bo
    ana = (tmp_path / "feedback" / "ana.html").read_text()
    assert "On time: no late penalty." in ana
    plain = feedback.render("ana", results[:1])
    assert "Submitted" not in plain
