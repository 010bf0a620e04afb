"""``kms-course release``: student notebooks without answers, locked, written atomically."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent / "grading_cases"))

import fixture  # noqa: E402

from kms_course import cli  # noqa: E402
from kms_course.instructor.transforms import find_leaks  # noqa: E402
from kms_course.lessons.cells import is_check, is_solution  # noqa: E402


def test_release_writes_student_versions(tmp_path, capsys):
    masters = fixture.write_masters(tmp_path / "masters")
    out = tmp_path / "student"
    assert cli.main(["release", str(out), "--source", str(masters)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{fixture.LESSON}.ipynb", f"{fixture.OTHER_LESSON}.ipynb"]
    master = nbformat.read(masters / f"{fixture.LESSON}.ipynb", 4)
    nb = nbformat.read(out / f"{fixture.LESSON}.ipynb", 4)
    nbformat.validate(nb)
    assert find_leaks(nb, master) == []
    setup = next(c for c in nb.cells if c.cell_type == "code")
    for cell in nb.cells:
        if is_solution(cell):
            assert cell.source.endswith("# YOUR CODE HERE\nraise NotImplementedError()")
            assert (cell.metadata["editable"], cell.metadata["deletable"]) == (True, False)
        elif cell is setup or is_check(cell) or cell.cell_type == "markdown":
            # Only the lesson's text, its setup cell and its check cells are locked (issue 12).
            assert (cell.metadata["editable"], cell.metadata["deletable"]) == (False, False)
            assert cell.metadata["nbgrader"]["locked"] is True
        else:  # a demo cell: the student may change it and run it again
            assert (cell.metadata["editable"], cell.metadata["deletable"]) == (True, False)
            assert cell.metadata["nbgrader"]["locked"] is False
    assert "print(" in nb.cells[-1].source and nb.cells[-1].metadata["editable"] is True
    assert "Released 2 notebook(s)" in capsys.readouterr().out


def test_release_writes_nothing_when_a_master_is_broken(tmp_path, capsys):
    masters = fixture.write_masters(tmp_path / "masters")
    out = tmp_path / "student"
    out.mkdir()
    old = out / f"{fixture.LESSON}.ipynb"
    old.write_text("previous release")
    broken = nbformat.read(masters / f"{fixture.OTHER_LESSON}.ipynb", 4)
    broken.cells[0].source = "```\n### BEGIN SOLUTION\nsecret = 1\n```"  # a leak in markdown
    nbformat.write(broken, masters / f"{fixture.OTHER_LESSON}.ipynb")
    assert cli.main(["release", str(out), "--source", str(masters)]) == 1
    err = capsys.readouterr().err
    assert f"{fixture.OTHER_LESSON}.ipynb: cell 0 has solution markers but is not a solution cell" in err
    assert old.read_text() == "previous release"
    assert sorted(p.name for p in out.iterdir()) == [old.name]


def test_release_refuses_to_overwrite_the_masters(tmp_path, capsys):
    masters = fixture.write_masters(tmp_path / "masters")
    assert cli.main(["release", str(masters), "--source", str(masters)]) == 1
    assert "must not be the master folder" in capsys.readouterr().err


def test_release_of_the_course_has_no_leaks(tmp_path):
    from kms_course.instructor.release import build

    course = Path(__file__).parents[1] / "notebooks"
    if not list(course.glob("[0-9][0-9]_*.ipynb")):
        pytest.skip("no lesson notebooks yet")
    released = build(course)
    assert set(released) == {p.name for p in course.glob("[0-9][0-9]_*.ipynb")}


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640)])
def test_released_notebooks_are_readable_as_umask_allows(tmp_path, umask, mode):
    masters = fixture.write_masters(tmp_path / "masters")
    out = tmp_path / "student"
    old = os.umask(umask)
    try:
        assert cli.main(["release", str(out), "--source", str(masters)]) == 0
    finally:
        os.umask(old)
    assert sorted(p.stat().st_mode & 0o777 for p in out.iterdir()) == [mode, mode]

