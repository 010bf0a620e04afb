"""Build the notebook to grade: the master, with only the student's solution sources in it.

Like nbgrader's ``OverwriteCells`` with ``add_missing_cells`` (https://nbgrader.readthedocs.io/en/stable/configuration/config_options.html),
but stricter: the result *is* the master notebook (every lesson and check cell, in the master's
order, with the master's types and metadata) and only the source of each master solution cell
comes from the student's solution cell with the same ``nbgrader.grade_id`` (else the same
``kms_course.exercise``). Edited, deleted, moved, re-typed or added cells in the submission change
nothing. A solution cell the student deleted becomes the stub, never the master's answer.
"""

from __future__ import annotations

import copy

from nbformat import NotebookNode

from kms_course.transforms.cells import STUB_CODE, is_solution, solution_keys, source


def student_solutions(student: NotebookNode) -> dict[str, str]:
    """Key (``grade_id:…`` / ``exercise:…``) -> source of the student's solution cells.

    When a student duplicated a solution cell, the first one counts (as nbgrader's
    ``DeduplicateIds`` keeps the first).
    """
    found: dict[str, str] = {}
    for cell in student.get("cells", []):
        if not isinstance(cell, dict) or not is_solution(cell):
            continue
        for key in solution_keys(cell):
            found.setdefault(key, source(cell))
    return found


def take_master_cells(student: NotebookNode, master: NotebookNode) -> NotebookNode:
    """Return a copy of ``master`` whose solution cells hold the student's sources.

    Args:
        student: the submitted notebook (nbformat v4; only its solution cells are read).
        master: the instructor's notebook.

    Returns:
        The notebook to execute. Each solution cell gets ``metadata.kms_course.submitted``:
        True when the student's cell was found, False when the stub was put in its place.
    """
    answers = student_solutions(student)
    nb = copy.deepcopy(master)
    for cell in nb.cells:
        if not is_solution(cell):
            continue
        text = next((answers[k] for k in solution_keys(cell) if k in answers), None)
        cell.metadata.setdefault("kms_course", {})["submitted"] = text is not None
        cell.source = STUB_CODE if text is None else text
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb
