"""Replace every solution region with the stub a student fills in (nbgrader's ``ClearSolutions``).

A region runs from a line containing ``### BEGIN SOLUTION`` to a line containing
``### END SOLUTION``; it becomes ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` indented
like the BEGIN line. A solution cell without markers becomes the stub as a whole. Source:
https://nbgrader.readthedocs.io/en/stable/user_guide/creating_and_grading_assignments.html#autograded-answer-cells
"""

from __future__ import annotations

import copy

from nbformat import NotebookNode

from kms_course.lessons.exercises import SOLUTION_BEGIN, SOLUTION_END
from kms_course.lessons.cells import STUB_CODE, STUB_TEXT, is_solution, replace_regions, source


class SolutionMarkerError(ValueError):
    """Solution markers are unbalanced, nested, or outside a solution cell."""


def clear_region(text: str, stub: str = STUB_CODE) -> tuple[str, bool]:
    """Replace each BEGIN/END SOLUTION region of ``text`` by ``stub``.

    Returns:
        ``(new_text, found)``; ``found`` is True when at least one region was replaced.

    Raises:
        SolutionMarkerError: a nested BEGIN, an END without BEGIN, or a BEGIN without END.
    """
    return replace_regions(text, SOLUTION_BEGIN, SOLUTION_END, stub, SolutionMarkerError)


def marker_lines(text: str, cell_type: str = "code") -> list[str]:
    """Lines of ``text`` that act as solution markers.

    In code cells any line containing a marker counts (nbgrader matches substrings); in markdown
    and raw cells only a line that starts with one (once stripped) does, so prose that mentions
    the convention in backticks is not taken for a marker.
    """
    found = []
    for line in text.splitlines():
        for marker in (SOLUTION_BEGIN, SOLUTION_END):
            if (marker in line) if cell_type == "code" else line.strip().startswith(marker):
                found.append(line)
                break
    return found


def clear_solutions(nb: NotebookNode) -> NotebookNode:
    """Return a copy of ``nb`` with every solution region replaced by the stub.

    Raises:
        SolutionMarkerError: unbalanced markers, or markers in a cell that is not a solution
            cell (mark it ``nbgrader.solution: true`` or remove the markers); the message names
            the cell index.
    """
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        text = source(cell)
        if not is_solution(cell):
            if marker_lines(text, cell.cell_type):
                raise SolutionMarkerError(
                    f"cell {index} has solution markers but is not a solution cell: set "
                    "metadata.nbgrader.solution = true or remove the markers"
                )
            continue
        stub = STUB_CODE if cell.cell_type == "code" else STUB_TEXT
        try:
            new_text, found = clear_region(text, stub)
        except SolutionMarkerError as error:
            raise SolutionMarkerError(f"cell {index}: {error}") from None
        cell.source = new_text if found else stub
    return nb
