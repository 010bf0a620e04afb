"""Lock the cells the student must not change (nbgrader's ``LockCells``, narrowed).

Locked: the lesson's text (markdown and raw cells), its **setup cell** (the first code cell,
which starts the sandbox) and its **check cells**. They get ``editable: false`` and
``deletable: false`` (the standard Jupyter cell metadata,
https://nbformat.readthedocs.io/en/latest/format_description.html#cell-metadata) and
``nbgrader.locked: true``. Every other code cell, the demos included, stays editable, so a
student can change a demo and run it again; solution and demo cells are not deletable. Frontends
honour these keys voluntarily (VS Code ignores them), so grading never trusts them: it takes every
non-solution cell from the master notebook (see :mod:`take_master_cells`).
"""

from __future__ import annotations

import copy

from nbformat import NotebookNode

from kms_course.lessons.cells import is_check, is_solution


def locked_indices(nb: NotebookNode) -> set[int]:
    """Indices of the cells :func:`lock_cells` locks: text, check cells and the setup cell (the
    first code cell, unless it is a solution or check cell)."""
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    if code and (is_solution(nb.cells[code[0]]) or is_check(nb.cells[code[0]])):
        code = []
    locked = {i for i, cell in enumerate(nb.cells) if cell.cell_type != "code" or is_check(cell)}
    if code:
        locked.add(code[0])
    return locked


def lock_cells(nb: NotebookNode) -> NotebookNode:
    """Return a copy of ``nb`` with text, setup and check cells locked, the others editable;
    no cell is deletable."""
    nb = copy.deepcopy(nb)
    locked = locked_indices(nb)
    for index, cell in enumerate(nb.cells):
        cell.metadata["editable"] = index not in locked or is_solution(cell)
        cell.metadata["deletable"] = False
        grader = cell.metadata.get("nbgrader")
        if isinstance(grader, dict):
            grader["locked"] = index in locked
    return nb
