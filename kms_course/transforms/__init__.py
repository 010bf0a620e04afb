"""Small notebook transforms, one per module, each ``nb -> nb`` on an nbformat v4 notebook.

Release and grading are ordered lists of these steps, in the style of nbgrader's preprocessors
(https://nbgrader.readthedocs.io/en/stable/api/preprocessors.html). Each transform returns a new
notebook and leaves its argument unchanged, so each can be tested alone on a three-cell notebook.
"""

from __future__ import annotations

from collections.abc import Callable

from nbformat import NotebookNode

from kms_course.transforms.clear_outputs import clear_outputs
from kms_course.transforms.clear_solutions import clear_solutions
from kms_course.transforms.find_leaks import find_leaks
from kms_course.transforms.lock_cells import lock_cells
from kms_course.transforms.probe_answers import probe_answers
from kms_course.transforms.strip_hidden import strip_hidden
from kms_course.transforms.take_master_cells import take_master_cells

Transform = Callable[[NotebookNode], NotebookNode]

#: The student version, in order (see ``kms-course release``).
RELEASE_STEPS: tuple[Transform, ...] = (strip_hidden, clear_solutions, clear_outputs, lock_cells)


def apply(nb: NotebookNode, steps: tuple[Transform, ...]) -> NotebookNode:
    """Run ``steps`` over ``nb`` in order and return the result (``nb`` is not modified)."""
    for step in steps:
        nb = step(nb)
    return nb


__all__ = [
    "RELEASE_STEPS",
    "Transform",
    "apply",
    "clear_outputs",
    "clear_solutions",
    "find_leaks",
    "lock_cells",
    "probe_answers",
    "strip_hidden",
    "take_master_cells",
]
