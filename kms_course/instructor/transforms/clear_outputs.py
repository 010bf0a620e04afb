"""Clear every code cell's outputs and execution count (nbgrader's ``ClearOutput``)."""

from __future__ import annotations

import copy

from nbformat import NotebookNode

_RUN_METADATA = ("execution", "collapsed", "scrolled")


def clear_outputs(nb: NotebookNode) -> NotebookNode:
    """Return a copy of ``nb`` with ``outputs = []``, ``execution_count = None`` in code cells
    and the run-time cell metadata (``execution``, ``collapsed``, ``scrolled``) removed."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in _RUN_METADATA:
            cell.metadata.pop(key, None)
    return nb
