"""Find anything of the master's answers left in a student notebook (release's last gate)."""

from __future__ import annotations

import json

from nbformat import NotebookNode

from kms_course.lessons.exercises import SOLUTION_BEGIN, SOLUTION_END
from kms_course.lessons.cells import is_solution, source
from kms_course.instructor.transforms.strip_hidden import HIDDEN_BEGIN, HIDDEN_END, INSTRUCTOR_TAG

MARKERS = (SOLUTION_BEGIN, SOLUTION_END, HIDDEN_BEGIN, HIDDEN_END, "BEGIN SOLUTION", "END SOLUTION")


def find_leaks(nb: NotebookNode, master: NotebookNode | None = None) -> list[str]:
    """Problems that would leak answers from a released notebook; ``[]`` when it is clean.

    Looks for solution or hidden-test markers in every cell's source (anywhere in a code cell; as
    a line of its own in markdown and raw cells, where prose may name the convention),
    outputs, attachments and metadata, and in the notebook metadata; for outputs or execution
    counts left over; for ``instructor-only`` cells. With ``master``, also for any solution
    cell whose source is still the master's (a solution cell without markers kept as is).

    Returns:
        One human-readable line per problem, naming the cell index.
    """
    problems: list[str] = []
    for marker in MARKERS:
        if marker in json.dumps(nb.get("metadata", {})):
            problems.append(f"notebook metadata contains {marker!r}")
    master_solutions = set()
    if master is not None:
        master_solutions = {source(c).strip() for c in master.cells if is_solution(c)}
    for index, cell in enumerate(nb.cells):
        text = source(cell)
        rest = json.dumps(
            {k: v for k, v in cell.items() if k != "source"}, default=str, sort_keys=True
        )
        lines = [line.strip() for line in text.splitlines()]
        for marker in MARKERS:
            if (marker in text) if cell.cell_type == "code" else any(
                line.startswith(marker) or line.startswith("# " + marker) for line in lines
            ):
                problems.append(f"cell {index} ({cell.cell_type}) source contains {marker!r}")
                break
        for marker in MARKERS:
            if marker in rest:
                problems.append(f"cell {index} outputs or metadata contain {marker!r}")
                break
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"cell {index} still has outputs or an execution count")
        if INSTRUCTOR_TAG in cell.metadata.get("tags", []):
            problems.append(f"cell {index} is tagged {INSTRUCTOR_TAG!r}")
        if is_solution(cell) and text.strip() and text.strip() in master_solutions:
            if "raise NotImplementedError()" not in text:
                problems.append(f"cell {index} is a solution cell still holding the master's code")
    return problems
