"""Lock every cell the student must not change (nbgrader's ``LockCells``).

Non-solution cells get ``editable: false`` and ``deletable: false`` (the standard Jupyter cell
metadata, https://nbformat.readthedocs.io/en/latest/format_description.html#cell-metadata) and
``nbgrader.locked: true``; solution cells stay editable but not deletable. Frontends honour these
keys voluntarily (VS Code ignores them), so grading never trusts them: it takes every
non-solution cell from the master notebook (see :mod:`take_master_cells`).
"""

from __future__ import annotations

import copy

from nbformat import NotebookNode

from kms_course.transforms.cells import is_solution


def lock_cells(nb: NotebookNode) -> NotebookNode:
    """Return a copy of ``nb`` with every non-solution cell locked and solution cells undeletable."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        solution = is_solution(cell)
        cell.metadata["editable"] = solution
        cell.metadata["deletable"] = False
        grader = cell.metadata.get("nbgrader")
        if isinstance(grader, dict):
            grader["locked"] = not solution
    return nb
