"""``kms-course grade`` on a synthetic class: exact points for every cheat and every failure.

One batch grades the whole class (tests/grading_cases/cases.py) with two workers through the
command line; each test then reads its student's row. The expected points come from the fixture
lesson's check rules (tests/grading_cases/fixture_checks.py): 2 points for a key described
"grading fixture", 3 for a ciphertext that KMS decrypts to b"hello grader".
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

CASES_DIR = Path(__file__).parent / "grading_cases"
sys.path.insert(0, str(CASES_DIR))

import fixture  # noqa: E402
import fixture_checks  # noqa: E402,F401  (registers the fixture's exercises before forking)
from cases import CASES, V3_NOTEBOOK  # noqa: E402

from kms_course import cli, gradebook  # noqa: E402

CELL_TIMEOUT = 6


def write_case(case, folder: Path, out: Path) -> None:
    target = folder / case.student / f"{fixture.LESSON}.ipynb"
    target.parent.mkdir(parents=True)
    if case.raw == V3_NOTEBOOK:
        nb = fixture.submission(dict(fixture.SOLUTIONS))
        nbformat.write(nbformat.convert(nb, 3), target, version=3)
    elif case.raw == "lesson03":
        other = fixture.master(("91-key",))
        nbformat.write(other, target)  # a lesson-91 notebook under lesson 90's name
    elif case.raw is not None:
        target.write_text(case.raw)
    else:
        sources = {k: v.replace("{OUT}", str(out)) for k, v in (case.sources or {}).items()}
        nbformat.write(fixture.submission(sources, tamper=case.tamper), target)


def grade(*argv: str) -> int:
    return cli.main(["grade", *argv, "--no-progress"])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    masters = fixture.write_masters(root / "masters")
    subs, out = root / "submissions", root / "out"
    for case in CASES:
        write_case(case, subs, out)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join([str(CASES_DIR), os.environ.get("PYTHONPATH", "")]))
        import contextlib
        import io

        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = grade(str(subs), "--out", str(out), "--masters", str(masters), "--lesson",
                         fixture.LESSON, "--jobs", "2", "--cell-timeout", str(CELL_TIMEOUT),
                         "--timeout", "90")
    rows = {r["student"]: r for r in json.loads((out / "grades.json").read_text())["students"]}
    return {"code": code, "rows": rows, "out": out, "subs": subs, "masters": masters,
            "stdout": stdout.getvalue()}


def test_batch_finishes_with_a_row_per_student(graded):
    assert graded["code"] == 0
    assert set(graded["rows"]) == {c.student for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.student for c in CASES])
def test_points_and_status(graded, case):
    row = graded["rows"][case.student]
    assert row["exercises"] == case.expected, row
    assert row["total"] == sum(case.expected.values())
    assert row["max_points"] == 5
    for word in case.status:
        if word == "ok":
            assert row["status"] == "ok", row
        else:
            assert word in row["status"], row


def test_failed_exercises_carry_the_check_message(graded):
    messages = graded["rows"]["wrong"]["messages"]
    assert messages["90-key"] == "The key's description is 'other', not 'grading fixture'."
    assert "`fixture_blob` is not defined yet" in messages["90-blob"]


def test_moto_api_is_refused_to_the_kernel(graded):
    result = json.loads(
        (graded["out"] / "results" / "motodirect" / f"{fixture.LESSON}.json").read_text()
    )
    assert result["exercises"]["90-key"]["message"].startswith("No KMS key ")


def test_planted_result_file_is_not_trusted(graded):
    # the "disk" student's kernel wrote a full-marks result file; the gradebook ignores it
    planted = json.loads((graded["out"] / "results" / "disk" / "disk.json").read_text())
    assert planted["total"] == 5
    assert graded["rows"]["disk"]["total"] == 0
    assert "ignored a result file the grader did not write: results/disk/disk.json" in graded["stdout"]


def test_csv_has_one_row_per_student_with_points(graded):
    with open(graded["out"] / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert list(next(iter(rows.values())).keys()) == [
        "student", "90-key", "90-blob", "total", "max_points", "status"
    ]
    assert rows["full"]["90-key"] == "2" and rows["full"]["total"] == "5"
    assert rows["partial"]["total"] == "2"


def test_feedback_is_escaped_and_has_hints(graded):
    page = (graded["out"] / "feedback" / "wrong.html").read_text()
    assert "The key&#x27;s description is &#x27;other&#x27;" in page
    assert "Hint:" in page and "kms.create_key(Description=" in page
    assert "check(" not in page and "def _key" not in page


def test_rerun_skips_graded_and_force_regrades(graded, tmp_path, capsys):
    masters = graded["masters"]
    full = graded["subs"] / "full"
    out = tmp_path / "out"
    assert grade(str(full), "--out", str(out), "--masters", str(masters), "--jobs", "1") == 0
    first = (out / "results" / "full" / f"{fixture.LESSON}.json").read_text()
    capsys.readouterr()
    assert grade(str(full), "--out", str(out), "--masters", str(masters), "--jobs", "1") == 0
    assert "Graded 0 submission(s)" in capsys.readouterr().out
    assert (out / "results" / "full" / f"{fixture.LESSON}.json").read_text() == first
    assert gradebook.is_graded(out, "full", fixture.LESSON, json.loads(first)["sha256"])
    assert grade(str(full), "--out", str(out), "--masters", str(masters), "--jobs", "1",
                 "--force") == 0
    assert "Graded 1 submission(s)" in capsys.readouterr().out


def test_submission_timeout(tmp_path):
    masters = fixture.write_masters(tmp_path / "masters")
    sub = tmp_path / "slow.ipynb"
    nbformat.write(fixture.submission({"90-key": "import time\ntime.sleep(60)"}), sub)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(CASES_DIR))
        grade(str(sub), "--out", str(tmp_path / "out"), "--masters", str(masters),
              "--jobs", "1", "--cell-timeout", "50", "--timeout", "12")
    row = json.loads((tmp_path / "out" / "grades.json").read_text())["students"][0]
    assert row["total"] == 0
    assert "submission-timeout" in row["status"]


def test_each_forked_kernel_is_fresh(tmp_path, monkeypatch):
    """A kernel forked from the zygote never sees what an earlier kernel did."""
    from nbformat.v4 import new_code_cell, new_notebook

    from kms_course.grading import execute as execution

    ran = []
    original = execution.GradingClient.__init__

    def keep(self, nb, **kw):  # execute() runs a copy of the notebook: keep it to read outputs
        original(self, nb, **kw)
        ran.append(nb)

    monkeypatch.setattr(execution.GradingClient, "__init__", keep)
    for source in (
        "import kms_course, builtins\nkms_course.check = None\nbuiltins.LEAK = 1\nSECRET = 2",
        "import kms_course, builtins\n"
        "print(callable(kms_course.check), hasattr(builtins, 'LEAK'), 'SECRET' in globals())",
    ):
        execution.execute(new_notebook(cells=[new_code_cell(source)]), {}, lambda ex, v: None,
                          env=dict(os.environ), cwd=str(tmp_path))
    assert "".join(o.get("text", "") for o in ran[1].cells[0].outputs) == "True False False\n"
