"""Run student notebooks as the lab does and as the grader does, and read the verdicts.

* :func:`lab_verdicts` runs the notebook as it is, every cell in order with its check cells, in
  a kernel with the in-kernel ``moto`` sandbox, as JupyterLab would: nbclient sends each cell's
  id as ``cellId`` in the execute request's metadata, and ``JPY_SESSION_NAME`` names the file
  (jupyter_server does both). The verdict of a check cell is read from its output (the lab's
  display of the verdict: ``PASSED <id>: n/m points`` or the ``ExerciseNotPassed`` error).
* :func:`grader_points` grades a folder of them with ``kms-course grade`` (jailed) and returns
  each student's points per exercise.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from kms_course.lessons.solutions import solution_source
from kms_course.instructor.transforms import RELEASE_STEPS, apply
from kms_course.lessons.cells import course, exercise_id, is_check, is_solution

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
_VERDICT = re.compile(r"(PASSED|NOT YET) (\S+): (\d+)/(\d+) points")


def master_path(lesson: str) -> Path:
    """The master notebook of ``lesson`` (file stem, or its two-digit number)."""
    found = sorted(NOTEBOOKS.glob(f"{lesson}*.ipynb"))
    assert found, f"no master notebook for {lesson} in {NOTEBOOKS}"
    return found[0]


def student_version(lesson: str) -> nbformat.NotebookNode:
    """The released student notebook of ``lesson`` (stubs in the solution cells)."""
    return apply(nbformat.read(master_path(lesson), as_version=4), RELEASE_STEPS)


def solution_cell(nb, ex: str):
    """The (first) solution cell of exercise ``ex`` in ``nb``."""
    return next(c for c in nb.cells if is_solution(c) and exercise_id(c) == ex)


def check_cell_index(nb, ex: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if is_check(c) and exercise_id(c) == ex)


def exercises_of(lesson: str) -> list[str]:
    nb = nbformat.read(master_path(lesson), as_version=4)
    return [exercise_id(c) for c in nb.cells if is_check(c)]


def with_answers(lesson: str, answers: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The student version with each exercise's solution cell holding ``answers[ex]`` (the
    master's solution when ``answers`` is None; exercises not in ``answers`` keep the stub)."""
    nb = student_version(lesson)
    folder = master_path(lesson).parent
    for ex in exercises_of(lesson):
        text = solution_source(ex, folder) if answers is None else answers.get(ex)
        if text is not None:
            solution_cell(nb, ex).source = text
    return nb


def split(nb, ex: str, at_line: int):
    """JupyterLab's Split Cell on ``ex``'s solution cell: both parts keep the metadata."""
    cell = solution_cell(nb, ex)
    lines = cell.source.split("\n")
    second = copy.deepcopy(cell)
    second["id"] = f"{cell['id']}-split"
    cell.source, second.source = "\n".join(lines[:at_line]), "\n".join(lines[at_line:])
    nb.cells.insert(nb.cells.index(cell) + 1, second)
    return nb


def add_cell_before(nb, ex: str, text: str, cell_id: str = "added-by-student"):
    """A new cell (no metadata, as Jupyter makes it) right above ``ex``'s solution cell."""
    cell = new_code_cell(text)
    cell["id"] = cell_id
    nb.cells.insert(nb.cells.index(solution_cell(nb, ex)), cell)
    return nb


class LabClient(NotebookClient):
    """nbclient, sending each cell's id as ``cellId`` as JupyterLab does."""

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        kc = self.kc
        original = kc.execute

        def execute(code, silent=False, store_history=True, user_expressions=None,
                    allow_stdin=None, stop_on_error=True):
            content = {"code": code, "silent": silent, "store_history": store_history,
                       "user_expressions": user_expressions or {}, "allow_stdin": False,
                       "stop_on_error": stop_on_error}
            msg = kc.session.msg("execute_request", content, metadata={"cellId": cell.get("id")})
            kc.shell_channel.send(msg)
            return msg["header"]["msg_id"]

        kc.execute = execute
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            kc.execute = original


def lab_run(path: Path, home: Path, timeout: int = 120, cells=None) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` as-is, as the lab does; returns the executed notebook.

    ``cells``: run this notebook instead, with the file at ``path`` as the one the lab has open
    (the student ran cells again, or in another order, than the file shows)."""
    nb = nbformat.read(path, as_version=4) if cells is None else cells
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_COURSE_", "JPY_"))}
    env.update(KMS_COURSE_BACKEND="moto", KMS_COURSE_HOME=str(home), JPY_SESSION_NAME=str(path))
    client = LabClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3")
    client.execute(cwd=str(path.parent), env=env)
    return nb


def lab_verdicts(submissions: Path, lesson: str, homes: Path, jobs: int = 2):
    """Run every ``submissions/<student>/<lesson>.ipynb`` as the lab does, ``jobs`` at a time.

    Returns:
        ``(points, messages)``: student -> exercise id -> points (or the verdict text shown).
    """
    from concurrent.futures import ThreadPoolExecutor

    paths = sorted(submissions.glob(f"*/{lesson}.ipynb"))

    def one(path: Path):
        home = homes / path.parent.name
        home.mkdir(parents=True, exist_ok=True)
        ran = lab_run(path, home)
        return path.parent.name, verdicts_of(ran), lab_messages(ran)

    with ThreadPoolExecutor(jobs) as pool:
        done = list(pool.map(one, paths))
    return {n: p for n, p, _ in done}, {n: m for n, _, m in done}


def verdicts_of(nb) -> dict[str, int]:
    """Points per exercise as the lab's check cells showed them (0 for a check never reached)."""
    points: dict[str, int] = {}
    for cell in nb.cells:
        if not is_check(cell) or course(cell).get("role") != "check":
            continue
        text = "".join(o.get("text", "") + str(o.get("evalue", "")) for o in cell.get("outputs", []))
        match = _VERDICT.search(text)
        ex = exercise_id(cell)
        points[ex] = int(match.group(3)) if match and match.group(2) == ex else 0
    return points


def lab_messages(nb) -> dict[str, str]:
    """The verdict text each check cell showed."""
    out = {}
    for cell in nb.cells:
        if is_check(cell):
            out[exercise_id(cell)] = "".join(
                o.get("text", "") + str(o.get("evalue", "")) for o in cell.get("outputs", []))
    return out


def grader_points(submissions: Path, masters: Path, lesson: str, out: Path) -> dict[str, dict]:
    """``kms-course grade`` (jailed) over ``submissions/<student>/<lesson>.ipynb``; returns the
    result rows of grades.json by student (``exercises``: id -> points, ``messages``...)."""
    from kms_course import cli

    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["grade", str(submissions), "--out", str(out), "--masters", str(masters),
                         "--lesson", lesson, "--jobs", "2", "--no-progress"])
    assert code == 0, f"kms-course grade exited with {code}"
    rows = json.loads((out / "grades.json").read_text())["students"]
    return {r["student"]: r for r in rows}


def masters_folder(lesson: str, folder: Path) -> Path:
    """A folder holding only ``lesson``'s master (so the test does not depend on the others)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(master_path(lesson), folder / master_path(lesson).name)
    return folder
