"""Build the notebook to grade: the master, with only the student's answer cells in it.

Like nbgrader's ``OverwriteCells`` with ``add_missing_cells`` (https://nbgrader.readthedocs.io/en/stable/configuration/config_options.html),
but stricter: every lesson and check cell is the master's, in the master's order, with the
master's types and metadata. Each master solution cell is replaced by the student's answer to
that exercise as :func:`kms_course.lessons.cells.answer_cells` defines it, the same rule the
lab's checks follow (:mod:`kms_course.lessons.cellruns`): every code cell carrying the exercise's id
(the original, the parts of a split, copies) and the code cells the student added before the
exercise's check cell, in the student's order. Edited, deleted, moved or re-typed lesson and
check cells change nothing. An exercise with no answer cells gets the stub, never the master's
answer.
"""

from __future__ import annotations

import copy

from nbformat import NotebookNode

from kms_course.lessons.cells import (
    STUB_CODE,
    STUB_TEXT,
    answer_cells,
    exercise_id,
    is_added,
    is_solution,
    solution_keys,
    source,
)


def student_solutions(student: NotebookNode) -> dict[str, list[str]]:
    """Exercise id -> the sources of the student's answer cells (see ``answer_cells``), in order.

    Exercises whose answer cells are all empty are left out.
    """
    found: dict[str, list[str]] = {}
    for ex, cells in answer_cells(student).items():
        sources = [source(c) for c in cells if source(c).strip()]
        if sources:
            found[ex] = sources
    return found


def take_master_cells(student: NotebookNode, master: NotebookNode) -> NotebookNode:
    """Return a copy of ``master`` whose solution cells hold the student's answer cells.

    Args:
        student: the submitted notebook (nbformat v4; only its answer cells are read).
        master: the instructor's notebook.

    Returns:
        The notebook to execute. A master solution cell becomes one code cell per answer cell of
        the student (the first keeps the master cell's id, the next ``<id>-2``, ``<id>-3``...),
        each with the master cell's metadata and ``metadata.kms_course`` =
        ``{"exercise", "role": "solution", "submitted", "part", "added"}``: ``submitted`` is True
        when the student's cells were found, False when the stub was put in its place; ``added``
        marks a cell the student added. A second master solution cell of the same exercise gets
        nothing (the answer runs once, at the first).
    """
    answers = answer_cells(student)
    nb = copy.deepcopy(master)
    cells: list[NotebookNode] = []
    placed: set[str] = set()
    for cell in nb.cells:
        if not is_solution(cell):
            cells.append(cell)
            continue
        ex = exercise_id(cell)
        if cell.cell_type != "code":  # a written answer: the student's cell of the same id
            text = next((source(c) for c in student.get("cells", []) if isinstance(c, dict)
                         and is_solution(c) and c.get("cell_type") == cell.cell_type
                         and solution_keys(c)[:1] == solution_keys(cell)[:1]), None)
            cell.metadata.setdefault("kms_course", {})["submitted"] = text is not None
            cell.source = STUB_TEXT if text is None else text
            cells.append(cell)
            continue
        if ex in placed:
            continue
        placed.add(ex)
        given = [c for c in answers.get(ex, []) if source(c).strip()]
        parts = [(source(c), is_added(c)) for c in given] or [(STUB_CODE, False)]
        for number, (text, added) in enumerate(parts, start=1):
            part = copy.deepcopy(cell)
            if number > 1 and part.get("id"):
                part["id"] = f"{cell['id'][:56]}-{number}"
            part.metadata.setdefault("kms_course", {}).update(
                exercise=ex, role="solution", submitted=bool(given), part=number, added=added
            )
            part.source = text
            if part.cell_type == "code":
                part.outputs = []
                part.execution_count = None
            cells.append(part)
    nb.cells = cells
    return nb
