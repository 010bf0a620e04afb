"""``kms-course gradescope``: the autograder zip and the results.json it writes.

Gradescope's "Autograder Specifications"
(https://gradescope-autograders.readthedocs.io/en/latest/specs/) document the zip (``setup.sh``
and ``run_autograder`` at its root, extracted to ``/autograder/source``) and ``results.json``
(top level: ``score``, ``execution_time`` in seconds, ``output``, ``visibility``,
``stdout_visibility``, ``tests``; each test: ``score``, ``max_score``, ``status``
``passed``/``failed``, ``name``, ``number``, ``output``, ``visibility`` one of ``hidden``,
``after_due_date``, ``after_published``, ``visible``). The synthetic class of
tests/grading_cases is graded once, jailed (the default), with late rules; each student's row is
converted and checked against those fields. Then the zip's own run_autograder runs on a
simulated /autograder tree.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

CASES_DIR = Path(__file__).parent / "grading_cases"
sys.path.insert(0, str(CASES_DIR))

import fixture  # noqa: E402
import fixture_checks  # noqa: E402,F401  (registers the fixture's exercises before forking)

from kms_course import cli  # noqa: E402
from kms_course.errors import CourseError  # noqa: E402
from kms_course.instructor.lms import gradescope  # noqa: E402

KEY, BLOB = fixture.SOLUTIONS["90-key"], fixture.SOLUTIONS["90-blob"]
CLASS = {  # student -> (solutions, timestamp.txt text or None)
    "full": (dict(fixture.SOLUTIONS), "2026-03-01T12:00:00+00:00"),
    "partial": ({"90-key": KEY}, "2026-03-03 09:30:00.000000 UTC"),  # nbgrader's form, 2 days late
    "wrong": ({"90-key": 'fixture_key_id = kms.create_key(Description="other")["KeyMetadata"]["KeyId"]',
               "90-blob": BLOB}, None),  # no timestamp.txt: the file's mtime (set to 2026-03-10)
    "blank": (None, "2026-03-01T23:00:00+00:00"),
}
MTIME = 1773100800  # 2026-03-10T00:00:00Z
RULES = """due = 2026-03-01T23:59:00+00:00
penalty_per_day = 10
max_penalty = 30
"""
# Gradescope's documented keys (specs page, "Output format")
TOP_KEYS = {"score", "execution_time", "output", "visibility", "stdout_visibility", "extra_data",
            "tests", "leaderboard", "output_format", "test_output_format", "test_name_format"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output",
             "output_format", "tags", "visibility", "extra_data"}


@pytest.fixture(scope="module", autouse=True)
def grader_key(tmp_path_factory):
    """The grader's key in a test folder, never the real ~/.local/state."""
    from kms_course.instructor.grading.grader_key import KEY_FILE_ENV

    path = tmp_path_factory.mktemp("grader-state") / "grader.key"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_FILE_ENV, str(path))
        yield path


def _write_student(folder: Path, sources, stamp) -> Path:
    folder.mkdir(parents=True)
    target = folder / f"{fixture.LESSON}.ipynb"
    nbformat.write(fixture.submission(sources), target)
    if stamp is not None:
        (folder / "timestamp.txt").write_text(stamp + "\n")
    return target


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("gs-class")
    masters = fixture.write_masters(root / "masters")
    subs, out = root / "submissions", root / "out"
    for student, (sources, stamp) in CLASS.items():
        path = _write_student(subs / student, sources, stamp)
        if stamp is None:
            os.utime(path, (MTIME, MTIME))
    rules = root / "rules.toml"
    rules.write_text(RULES)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(["grade", str(subs), "--out", str(out), "--masters", str(masters),
                         "--lesson", fixture.LESSON, "--jobs", "2", "--cell-timeout", "20",
                         "--no-progress", "--late-rules", str(rules)])
    grades = json.loads((out / "grades.json").read_text())
    return {"code": code, "grades": grades, "out": out, "masters": masters, "root": root}


def test_the_class_is_graded_jailed(graded):
    assert graded["code"] == 0
    assert graded["grades"]["jailed"] is True
    assert {r["student"] for r in graded["grades"]["students"]} == set(CLASS)


def _check_documented_shape(result: dict) -> None:
    assert set(result) <= TOP_KEYS, set(result) - TOP_KEYS
    assert isinstance(result["score"], float)
    assert isinstance(result["output"], str)
    assert result["visibility"] in gradescope.VISIBILITIES
    assert result["stdout_visibility"] in gradescope.VISIBILITIES
    if "execution_time" in result:
        assert isinstance(result["execution_time"], int) and result["execution_time"] >= 0
    for test in result["tests"]:
        assert set(test) <= TEST_KEYS, set(test) - TEST_KEYS
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert test["visibility"] in gradescope.VISIBILITIES
    json.dumps(result)  # plain JSON


@pytest.mark.parametrize("student", list(CLASS))
def test_each_student_converts_to_the_documented_results_json(graded, student):
    hints = gradescope.hints_from_results(graded["out"] / "grades.json")
    result = gradescope.results_json(graded["grades"], student=student, hints=hints,
                                     execution_time=12.4, visibility="after_published")
    _check_documented_shape(result)
    row = next(r for r in graded["grades"]["students"] if r["student"] == student)
    assert result["execution_time"] == 12
    assert [t["name"] for t in result["tests"]] == [f"90-key ({fixture.LESSON})", f"90-blob ({fixture.LESSON})"]
    assert [t["max_score"] for t in result["tests"]] == [2.0, 3.0]
    assert [t["score"] for t in result["tests"]] == [float(row["exercises"]["90-key"]),
                                                     float(row["exercises"]["90-blob"])]
    assert all(t["visibility"] == "after_published" for t in result["tests"])
    assert result["score"] == float(row["total_after_penalty"])
    for test in result["tests"]:
        ex_id = test["name"].split()[0]
        if test["status"] == "failed":
            assert test["output"].startswith(row["messages"][ex_id])
            assert test["output"].endswith("Hint: " + fixture_checks.EXERCISES[ex_id].hint)
        else:
            assert test["output"] == "Passed."


def test_scores_and_late_penalties_reach_results_json(graded):
    by = {s: gradescope.results_json(graded["grades"], student=s) for s in CLASS}
    assert [t["status"] for t in by["full"]["tests"]] == ["passed", "passed"]
    assert by["full"]["score"] == 5.0
    assert "On time" in by["full"]["output"]
    # partial: 2 points, 2 days late at 10%/day of the points earned -> 0.4 off
    assert by["partial"]["score"] == 1.6
    assert "2 day(s) late: 20% penalty" in by["partial"]["output"]
    assert "timestamp.txt" in by["partial"]["output"]
    # wrong: 3 points, no timestamp.txt -> the file's mtime (9 days late), capped at 30%
    assert by["wrong"]["score"] == 2.1
    assert "modification time" in by["wrong"]["output"]
    assert by["blank"]["score"] == 0.0
    assert [t["status"] for t in by["blank"]["tests"]] == ["failed", "failed"]


def test_grades_csv_gains_the_late_columns(graded):
    rows = list(csv.DictReader(io.StringIO((graded["out"] / "grades.csv").read_text())))
    assert list(rows[0])[-5:] == ["submitted_at", "late_days", "penalty_percent", "penalty",
                                  "total_after_penalty"]
    partial = next(r for r in rows if r["student"] == "partial")
    assert (partial["total"], partial["late_days"], partial["penalty_percent"], partial["penalty"],
            partial["total_after_penalty"]) == ("2", "2", "20", "0.4", "1.6")
    assert partial["submitted_at"] == "2026-03-03T09:30:00+00:00"
    assert graded["grades"]["late_rules"]["due"] == "2026-03-01T23:59:00+00:00"


def test_feedback_states_the_submission_time_and_its_source(graded):
    page = (graded["out"] / "feedback" / "partial.html").read_text()
    assert "Submitted 2026-03-03T09:30:00+00:00 (from the timestamp.txt" in page
    assert "total after penalty: 1.6 / 5" in page
    wrong = (graded["out"] / "feedback" / "wrong.html").read_text()
    assert "modification time" in wrong


def test_visibility_must_be_a_documented_value(graded):
    with pytest.raises(CourseError, match="after_due_date"):
        gradescope.results_json(graded["grades"], visibility="students")


def test_no_notebook_and_grader_failure_give_a_zero_with_a_reason():
    empty = gradescope.results_json({"lessons": {fixture.LESSON: {"90-key": 2}}, "students": []})
    _check_documented_shape(empty)
    assert empty["score"] == 0.0 and "No notebook" in empty["output"]
    failed = gradescope.failure_json("cannot isolate the submissions: no bwrap.", 3.2)
    _check_documented_shape(failed)
    assert failed["execution_time"] == 3 and "cannot isolate" in failed["output"]


@pytest.fixture(scope="module")
def autograder_zip(graded):
    return zipfile.ZipFile(io.BytesIO(gradescope.build_zip(fixture.LESSON, graded["masters"])))


def test_zip_has_the_documented_layout(autograder_zip):
    names = autograder_zip.namelist()
    assert names[:2] == ["setup.sh", "run_autograder"]  # at the root, not in a folder
    for name in ("setup.sh", "run_autograder"):
        mode = autograder_zip.getinfo(name).external_attr >> 16
        assert mode & 0o111 == 0o111, oct(mode)
        text = autograder_zip.read(name).decode()
        assert text.startswith("#!/usr/bin/env bash\n")
        subprocess.run(["bash", "-n"], input=text, text=True, check=True)
    setup = autograder_zip.read("setup.sh").decode()
    assert "apt-get install" in setup and "bubblewrap" in setup
    assert "-c /autograder/source/course/constraints.txt" in setup
    run = autograder_zip.read("run_autograder").decode()
    assert f'LESSON={fixture.LESSON}' in run and '"$BIN/kms-course" grade "$ROOT/submission"' in run
    assert '"$ROOT/results/results.json"' in run
    for name in ("course/pyproject.toml", "course/README.md", "course/constraints.txt",
                 "course/uv.lock", "course/kms_course/__init__.py", "course/kms_course/cli.py",
                 f"course/notebooks/{fixture.LESSON}.ipynb"):
        assert name in names, name
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith("course/notebooks/") and fixture.LESSON not in n]


def test_cli_writes_the_zip_and_refuses_an_unknown_lesson(graded, tmp_path, capsys):
    out = tmp_path / "autograder.zip"
    assert cli.main(["gradescope", "--lesson", fixture.LESSON, "--masters", str(graded["masters"]),
                     "--out", str(out)]) == 0
    assert zipfile.ZipFile(out).namelist()[:2] == ["setup.sh", "run_autograder"]
    assert cli.main(["gradescope", "--lesson", "99_nope", "--masters", str(graded["masters"]),
                     "--out", str(tmp_path / "b.zip")]) == 1
    assert "Unknown --lesson '99_nope'" in capsys.readouterr().err
    assert not (tmp_path / "b.zip").exists()


def _simulated_autograder(tmp_path: Path, autograder_zip: zipfile.ZipFile) -> tuple[Path, dict]:
    """/autograder as Gradescope lays it out, and an environment whose ``kms-course`` is this
    venv's, with the fixture lesson's checks registered (the course's own lessons need none)."""
    root = tmp_path / "autograder"
    autograder_zip.extractall(root / "source")
    (root / "submission").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "kms-course"
    wrapper.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(CASES_DIR)!r})\n"
                       "import fixture_checks\nfrom kms_course.cli import main\nsys.exit(main())\n")
    wrapper.chmod(0o755)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "KMS_COURSE_BIN": str(bin_dir)}
    return root, env


@pytest.mark.slow
def test_run_autograder_grades_a_submission_into_results_json(autograder_zip, tmp_path):
    root, env = _simulated_autograder(tmp_path, autograder_zip)
    nbformat.write(fixture.submission({"90-key": KEY}), root / "submission" / f"{fixture.LESSON}.ipynb")
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads((root / "results" / "results.json").read_text())
    _check_documented_shape(result)
    assert result["score"] == 2.0
    assert [(t["score"], t["status"]) for t in result["tests"]] == [(2.0, "passed"), (0.0, "failed")]
    assert "Hint: " + fixture_checks.EXERCISES["90-blob"].hint in result["tests"][1]["output"]
    assert isinstance(result["execution_time"], int)


@pytest.mark.slow
def test_run_autograder_without_a_notebook_still_writes_results_json(autograder_zip, tmp_path):
    root, env = _simulated_autograder(tmp_path, autograder_zip)
    (root / "submission" / "notes.txt").write_text("forgot the notebook")
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads((root / "results" / "results.json").read_text())
    _check_documented_shape(result)
    assert result["score"] == 0.0 and result["tests"] == []
    assert "no notebooks found" in result["output"]
