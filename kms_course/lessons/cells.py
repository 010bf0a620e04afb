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


def is_added(cell: Any) -> bool:
    """True for a code cell the student added: it carries neither ``nbgrader`` nor
    ``kms_course`` metadata (a new cell in Jupyter has none; a split or a copy keeps them)."""
    if not isinstance(cell, dict) or cell.get("cell_type") != "code":
        return False
    meta = cell.get("metadata", {})
    return not isinstance(meta.get("nbgrader"), dict) and not isinstance(meta.get("kms_course"), dict)


def answer_cells(nb: Any) -> dict[str, list[Any]]:
    """Which cells make up each exercise's answer: the one rule the lab and the grader share.

    Walking the notebook in order, an exercise's answer is

    * every code cell carrying the exercise's id as a solution cell (``kms_course.exercise``
      or nbgrader's ``grade_id``): the original, each part of a JupyterLab "Split Cell" and each
      copy, since Jupyter keeps a cell's metadata when it splits or copies it;
    * every code cell the student added (:func:`is_added`), counted for the first exercise whose
      solution or check cell comes after it (a helper cell written above a solution belongs to
      that exercise); added cells after the last check cell belong to no exercise;

    in notebook order. Lesson cells, check cells and markdown cells are never part of an answer:
    the grader takes them from the master.

    Args:
        nb: an nbformat v4 notebook (or a dict of the same shape).

    Returns:
        exercise id -> the answer's cells (the notebook's own cell objects), for each exercise
        that has at least one solution or check cell in ``nb``; an exercise whose solution cells
        were all deleted has only the added cells before its check cell.
    """
    answers: dict[str, list[Any]] = {}
    pending: list[Any] = []
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict):
            continue
        if is_added(cell):
            pending.append(cell)
            continue
        ex = exercise_id(cell)
        if ex is None:
            continue
        if is_solution(cell):
            if cell.get("cell_type") != "code":
                continue
            answers.setdefault(ex, []).extend(pending + [cell])
            pending = []
        elif is_check(cell):
            answers.setdefault(ex, []).extend(pending)
            pending = []
    return answers
