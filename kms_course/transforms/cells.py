"""What a cell is, read from its metadata (never from its position).

A lesson cell carries nbgrader's schema-3 metadata (``metadata.nbgrader``:
https://nbgrader.readthedocs.io/en/stable/contributor_guide/metadata.html) and, for exercise cells,
``metadata.kms_course = {"exercise": id, "role": "solution" | "check"}``.
"""

from __future__ import annotations

from typing import Any

STUB_CODE = "# YOUR CODE HERE\nraise NotImplementedError()"
STUB_TEXT = "YOUR ANSWER HERE"
ANSWER_SUFFIX = "-answer"


def nbgrader(cell: Any) -> dict:
    """The cell's ``metadata.nbgrader`` dict (empty if missing or not a dict)."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def course(cell: Any) -> dict:
    """The cell's ``metadata.kms_course`` dict (empty if missing or not a dict)."""
    meta = cell.get("metadata", {}).get("kms_course")
    return meta if isinstance(meta, dict) else {}


def is_solution(cell: Any) -> bool:
    """True for a cell the student writes (``role: solution`` or ``nbgrader.solution``)."""
    return course(cell).get("role") == "solution" or nbgrader(cell).get("solution") is True


def is_check(cell: Any) -> bool:
    """True for a check cell (``role: check``, or nbgrader ``grade`` without ``solution``)."""
    if course(cell).get("role") == "check":
        return True
    meta = nbgrader(cell)
    return meta.get("grade") is True and meta.get("solution") is not True


def exercise_id(cell: Any) -> str | None:
    """The exercise a solution or check cell belongs to, or None.

    ``kms_course.exercise`` first; else nbgrader's ``grade_id`` (without the ``-answer`` suffix
    of a solution cell).
    """
    ex = course(cell).get("exercise")
    if isinstance(ex, str) and ex:
        return ex
    if not (is_solution(cell) or is_check(cell)):
        return None
    grade_id = nbgrader(cell).get("grade_id")
    if not isinstance(grade_id, str) or not grade_id:
        return None
    if is_solution(cell) and grade_id.endswith(ANSWER_SUFFIX):
        return grade_id[: -len(ANSWER_SUFFIX)]
    return grade_id


def solution_keys(cell: Any) -> list[str]:
    """Keys that match a student's solution cell to the master's: ``grade_id`` then exercise id."""
    keys = []
    grade_id = nbgrader(cell).get("grade_id")
    if isinstance(grade_id, str) and grade_id:
        keys.append(f"grade_id:{grade_id}")
    ex = exercise_id(cell)
    if ex:
        keys.append(f"exercise:{ex}")
    return keys


def source(cell: Any) -> str:
    """The cell source as one string (nbformat allows a list of lines on disk)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def exercise_ids(nb: Any) -> list[str]:
    """Exercise ids of a notebook's check cells, then solution cells, in order, without repeats."""
    seen: list[str] = []
    for cell in nb.get("cells", []):
        ex = exercise_id(cell) if isinstance(cell, dict) else None
        if ex and ex not in seen:
            seen.append(ex)
    return seen


def replace_regions(
    text: str, begin: str, end: str, replacement: str, error: type[ValueError]
) -> tuple[str, bool]:
    """Replace each region of ``text`` from a line containing ``begin`` to one containing ``end``
    (marker lines included) by ``replacement``, indented like the ``begin`` line.

    Returns:
        ``(new_text, found)``; ``found`` is True when at least one region was replaced.

    Raises:
        error: a nested ``begin``, an ``end`` without ``begin``, or a ``begin`` without ``end``
            (the message quotes the marker).
    """
    out: list[str] = []
    inside = found = False
    for line in text.splitlines():
        if begin in line:
            if inside:
                raise error(f"nested '{begin}': close the first region")
            inside = found = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + part for part in replacement.splitlines())
        elif end in line:
            if not inside:
                raise error(f"'{end}' without a '{begin}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise error(f"'{begin}' without a '{end}'")
    return "\n".join(out), found
