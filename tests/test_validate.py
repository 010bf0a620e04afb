"""``kms-course validate``: masters pass every check, released notebooks fail every one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat

CASES_DIR = Path(__file__).parent / "grading_cases"
sys.path.insert(0, str(CASES_DIR))

import fixture  # noqa: E402
import fixture_checks  # noqa: E402,F401

from kms_course import cli  # noqa: E402
from kms_course.instructor.grading.masters import load_masters  # noqa: E402
from kms_course.instructor.validate import static_problems  # noqa: E402


def validate(masters: Path, monkeypatch) -> int:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(CASES_DIR), os.environ.get("PYTHONPATH", "")]))
    return cli.main(["validate", "--source", str(masters), "--jobs", "2", "--cell-timeout", "20"])


def test_good_masters_validate(tmp_path, monkeypatch, capsys):
    masters = fixture.write_masters(tmp_path / "masters")
    assert validate(masters, monkeypatch) == 0
    out = capsys.readouterr().out
    assert (f"ok   {fixture.LESSON}: master passes 2/2 checks; released fails 2/2 with a message; "
            "no other cell fails") in out


def test_wrong_solution_and_breaking_stub_are_reported(tmp_path, monkeypatch, capsys):
    masters = fixture.write_masters(tmp_path / "masters")
    path = masters / f"{fixture.LESSON}.ipynb"
    nb = nbformat.read(path, 4)
    nb.cells[3].source = nb.cells[3].source.replace('"grading fixture"', '"oops"')
    # a lesson cell that needs an exercise's variable: it fails once the solution is a stub
    nb.cells.append(nbformat.v4.new_code_cell("print(len(fixture_blob))"))
    nbformat.write(nb, path)
    assert validate(masters, monkeypatch) == 1
    out = capsys.readouterr().out
    assert f"FAIL {fixture.LESSON}" in out
    assert ("master: 90-key does not pass with the master's solution: "
            "The key's description is 'oops', not 'grading fixture'.") in out
    assert "released: status lesson-cell-error" in out and "NameError: name 'fixture_blob'" in out
    assert f"ok   {fixture.OTHER_LESSON}" in out


def test_static_problems(tmp_path):
    masters = fixture.write_masters(tmp_path / "masters")
    path = masters / f"{fixture.LESSON}.ipynb"
    nb = nbformat.read(path, 4)
    nb.cells[4].metadata["nbgrader"]["points"] = 7
    nb.cells[7].source = 'check("90-blob")  # edited'
    nbformat.write(nb, path)
    problems = static_problems(load_masters(masters)[fixture.LESSON])
    assert problems == [
        "cell 4: metadata points 7 != 2 registered for 90-key",
        "cell 7: a check cell's source must be exactly check('90-blob')",
    ]
