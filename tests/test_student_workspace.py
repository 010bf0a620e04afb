"""The student's path: ``kms-course lab`` opens the student version in the student's workspace.

* the start path holds no solution (the real course, through the real CLI, JupyterLab replaced
  by a spy on ``os.execve``);
* a student's edit survives a second start and a course upgrade, which adds new lessons, updates
  the lessons the student never touched and says which edited ones it kept;
* ``--masters`` and ``--notebooks DIR`` open those folders as they are;
* solutions come only on request: ``solution(id)`` prints the master's code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent / "grading_cases"))

import fixture  # noqa: E402

from kms_course import cli
from kms_course.lessons import lab, workspace  # noqa: E402
from kms_course.instructor.transforms import find_leaks  # noqa: E402
from kms_course.lessons.cells import STUB_CODE, is_check, is_solution, source  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "notebooks"


class Started(BaseException):
    """Raised by the execve spy instead of starting JupyterLab."""


@pytest.fixture
def start_lab(monkeypatch, tmp_path):
    """``kms-course lab ARGS`` up to the point where JupyterLab would start: (exit code, folder)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(workspace.WORKSPACE_ENV, raising=False)
    monkeypatch.setattr(lab, "install_kernel_guard", lambda prefix=None: None)
    seen = {}

    def execve(path, command, env):
        seen["command"], seen["env"] = command, env
        raise Started

    monkeypatch.setattr(lab.os, "execve", execve)

    def start(*args: str):
        with pytest.raises(Started):
            cli.main(["lab", "--no-browser", *args])
        root = next(a for a in seen["command"] if a.startswith("--ServerApp.root_dir="))
        return Path(root.split("=", 1)[1]), seen["env"]

    return start


def _master_solutions(path: Path) -> list[str]:
    """The lines of a master's solution regions that appear nowhere else in that master."""
    cells = nbformat.read(path, 4).cells
    elsewhere = "\n".join(source(c) for c in cells if not is_solution(c))
    lines = []
    for cell in cells:
        if is_solution(cell):
            region = source(cell).split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0]
            lines += [line.strip() for line in region.splitlines()
                      if len(line.strip()) > 12 and line.strip() not in elsewhere]
    return lines


def test_default_start_opens_the_student_version_with_no_solution(start_lab, tmp_path, capsys):
    folder, env = start_lab()
    assert folder == (tmp_path / "home" / "kms-course-work").resolve()
    assert env["KMS_COURSE_BACKEND"] == "moto"
    names = sorted(p.name for p in folder.glob("*.ipynb"))
    assert names == sorted(p.name for p in COURSE.glob("[0-9][0-9]_*.ipynb"))
    assert sum(len(_master_solutions(COURSE / name)) for name in names) > 20
    for name in names:
        solutions = _master_solutions(COURSE / name)
        text = (folder / name).read_text()
        nb = nbformat.reads(text, 4)
        assert find_leaks(nb, nbformat.read(COURSE / name, 4)) == []
        assert "BEGIN SOLUTION" not in text
        leaked = [line for line in solutions if line in text]
        assert leaked == [], f"{name} holds master solution lines: {leaked}"
        stubs = [c for c in nb.cells if is_solution(c)]
        assert stubs and all(STUB_CODE in source(c) for c in stubs)
    err = capsys.readouterr().err
    assert f"Your workspace: {tmp_path / 'home' / 'kms-course-work'}" in err
    assert f"added {len(names)} lesson(s)" in err
    assert "solution('<exercise id>')" in err


def test_student_version_locks_only_text_setup_and_check_cells(start_lab):
    folder, _ = start_lab()
    nb = nbformat.read(folder / "06_key_rotation.ipynb", 4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata["editable"] is False  # the setup cell
    demos = [c for c in code[1:] if not is_check(c) and not is_solution(c)]
    assert demos and all(c.metadata["editable"] is True for c in demos)
    assert all(c.metadata["editable"] is False for c in nb.cells if is_check(c))
    assert all(c.metadata["editable"] is True for c in nb.cells if is_solution(c))
    assert all(c.metadata["editable"] is False for c in nb.cells if c.cell_type == "markdown")
    assert all(c.metadata["deletable"] is False for c in nb.cells)


def test_an_edit_survives_a_second_start(start_lab, capsys):
    folder, _ = start_lab()
    path = folder / "03_creating_and_describing_keys.ipynb"
    nb = nbformat.read(path, 4)
    cell = next(c for c in nb.cells if is_solution(c))
    cell.source = "hmac_key_id = 'my own attempt'"
    nbformat.write(nb, path)
    edited = path.read_bytes()
    capsys.readouterr()
    assert start_lab()[0] == folder
    assert path.read_bytes() == edited
    err = capsys.readouterr().err
    assert "added" not in err and "updated" not in err and "kept" not in err


def test_a_deleted_lesson_comes_back_fresh(start_lab):
    folder, _ = start_lab()
    path = folder / "01_understanding_kms.ipynb"
    fresh = path.read_bytes()
    path.unlink()
    start_lab()
    assert path.read_bytes() == fresh


def test_a_course_upgrade_adds_lessons_and_keeps_edits(tmp_path):
    masters = fixture.write_masters(tmp_path / "masters")
    (masters / f"{fixture.OTHER_LESSON}.ipynb").unlink()
    work = tmp_path / "work"
    first = workspace.sync(work, masters)
    assert first.added == [f"{fixture.LESSON}.ipynb"]

    mine = work / f"{fixture.LESSON}.ipynb"
    nb = nbformat.read(mine, 4)
    next(c for c in nb.cells if is_solution(c)).source = "fixture_key_id = 'mine'"
    nbformat.write(nb, mine)
    edited = mine.read_bytes()

    # Version 2 of the course: lesson 90 changed, lesson 91 added.
    upgraded = nbformat.read(masters / f"{fixture.LESSON}.ipynb", 4)
    upgraded.cells[0].source += "\nNow with a clearer introduction."
    nbformat.write(upgraded, masters / f"{fixture.LESSON}.ipynb")
    nbformat.write(fixture.master(("91-key",)), masters / f"{fixture.OTHER_LESSON}.ipynb")
    second = workspace.sync(work, masters)
    assert second.added == [f"{fixture.OTHER_LESSON}.ipynb"]
    assert second.kept == [f"{fixture.LESSON}.ipynb"]
    assert mine.read_bytes() == edited
    lines = "\n".join(second.lines())
    assert f"kept your edited {fixture.LESSON}.ipynb; the course has a newer version" in lines
    assert f"added 1 lesson(s): {fixture.OTHER_LESSON}.ipynb" in lines

    # Version 3 changes lesson 91, which the student never touched: it is updated.
    other = nbformat.read(masters / f"{fixture.OTHER_LESSON}.ipynb", 4)
    other.cells[0].source += "\nRevised."
    nbformat.write(other, masters / f"{fixture.OTHER_LESSON}.ipynb")
    third = workspace.sync(work, masters)
    assert third.updated == [f"{fixture.OTHER_LESSON}.ipynb"]
    assert "Revised." in (work / f"{fixture.OTHER_LESSON}.ipynb").read_text()
    assert mine.read_bytes() == edited


def test_a_file_of_the_students_own_is_never_replaced(tmp_path):
    masters = fixture.write_masters(tmp_path / "masters")
    work = tmp_path / "work"
    work.mkdir()
    (work / f"{fixture.LESSON}.ipynb").write_text("my notes")
    report = workspace.sync(work, masters)
    assert (work / f"{fixture.LESSON}.ipynb").read_text() == "my notes"
    assert report.kept == [f"{fixture.LESSON}.ipynb"]
    assert workspace.sync(work, masters).kept == []  # said once, then left alone


def test_workspace_is_configurable(start_lab, tmp_path, monkeypatch):
    chosen = tmp_path / "elsewhere"
    assert start_lab("--workspace", str(chosen))[0] == chosen.resolve()
    monkeypatch.setenv(workspace.WORKSPACE_ENV, str(tmp_path / "from-env"))
    assert start_lab()[0] == (tmp_path / "from-env").resolve()


def test_masters_and_notebooks_flags_open_folders_as_they_are(start_lab, tmp_path):
    assert start_lab("--masters")[0] == COURSE.resolve()
    other = tmp_path / "released"
    other.mkdir()
    assert start_lab("--notebooks", str(other))[0] == other.resolve()
    assert list(other.iterdir()) == []


def test_bad_workspace_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(lab, "install_kernel_guard", lambda prefix=None: None)
    target = tmp_path / "a-file"
    target.write_text("x")
    assert cli.main(["lab", "--workspace", str(target)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a file, not a folder" in err
    # it names the workspace, not release's OUT (a new user's trial)
    assert f"The workspace {target} is a file" in err and "--workspace DIR" in err and "OUT" not in err


def test_lab_help_documents_the_three_folders(capsys):
    with pytest.raises(SystemExit):
        cli.main(["lab", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--masters" in out and "--notebooks DIR" in out and "--workspace DIR" in out
    assert "course release DIR" in out.replace("- ", "-")


def test_solution_on_demand_prints_the_masters_code(capsys):
    from kms_course.lessons.solutions import NoSolution, solution

    solution("03-hmac-key")
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "# Solution of 03-hmac-key (from the course's master notebook):"
    assert "KeyUsage='GENERATE_VERIFY_MAC', KeySpec='HMAC_256'" in out
    assert "BEGIN SOLUTION" not in out
    with pytest.raises(NoSolution, match="No exercise 'no-such-id': use the id of its check cell"):
        solution("no-such-id")
    assert capsys.readouterr().out == ""


def test_the_lab_names_the_readmes_solution_import(start_lab, capsys):
    # a new user's trial: the lab said one import, the README another
    start_lab()
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.startswith("Solutions only when you ask"))
    statement = line.split(": ", 1)[1].split(";")[0]
    assert statement == "from kms_course import solution"
    assert f"`{statement};" in (Path(__file__).parents[1] / "README.md").read_text()
    exec(statement, {})  # it imports
