"""Remove instructor-only content: hidden-test regions and cells tagged ``instructor-only``.

Hidden tests use nbgrader's delimiters ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``
(https://nbgrader.readthedocs.io/en/stable/user_guide/creating_and_grading_assignments.html#autograder-tests-cells-with-hidden-tests).
kms-course keeps its checks in :mod:`kms_course.lessons.checks`, outside the notebooks, so lessons
normally have none; this step makes sure none ever ships.
"""

from __future__ import annotations

import copy

from nbformat import NotebookNode

from kms_course.lessons.cells import replace_regions, source

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
INSTRUCTOR_TAG = "instructor-only"


class HiddenMarkerError(ValueError):
    """A hidden-test region is not closed, or an END comes without a BEGIN."""


def drop_hidden_regions(text: str) -> str:
    """``text`` without its hidden-test regions (marker lines included).

    Raises:
        HiddenMarkerError: unbalanced markers.
    """
    return replace_regions(text, HIDDEN_BEGIN, HIDDEN_END, "", HiddenMarkerError)[0]


def strip_hidden(nb: NotebookNode) -> NotebookNode:
    """Return a copy of ``nb`` without hidden-test regions and ``instructor-only`` cells.

    Raises:
        HiddenMarkerError: unbalanced hidden-test markers (the message names the cell index).
    """
    nb = copy.deepcopy(nb)
    kept = []
    for index, cell in enumerate(nb.cells):
        if INSTRUCTOR_TAG in cell.metadata.get("tags", []):
            continue
        text = source(cell)
        if HIDDEN_BEGIN in text or HIDDEN_END in text:
            try:
                cell.source = drop_hidden_regions(text)
            except HiddenMarkerError as error:
                raise HiddenMarkerError(f"cell {index}: {error}") from None
        kept.append(cell)
    nb.cells = kept
    return nb
