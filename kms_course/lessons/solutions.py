"""Solutions on demand: ``solution("<exercise id>")`` prints the master's answer to one exercise.

The student version of a lesson holds no solution (``kms-course lab`` opens it); a student who
is stuck asks for one on purpose, in a cell of their own::

    from kms_course.lessons.solutions import solution
    solution("05-seal-document")

The answer is read from the instructor's master notebooks, the course's ``notebooks/`` folder
(where a grading jail hides them, there is no solution to show).
"""

from __future__ import annotations

from pathlib import Path

from kms_course.errors import CourseError
from kms_course.lessons.exercises import SOLUTION_BEGIN, SOLUTION_END


class NoSolution(CourseError):
    """No solution to show: unknown exercise id, or no master notebooks here."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"NoSolution: {self}"]


def masters_folder() -> Path:
    """The master notebooks: the ``notebooks/`` folder beside the installed package."""
    return Path(__file__).resolve().parents[2] / "notebooks"


def solution_source(exercise_id: str, folder: Path | None = None) -> str:
    """The master's solution code of ``exercise_id`` (the lines between the solution markers).

    Raises:
        CourseError: no master notebooks, or no exercise of that id (the message lists the ids).
    """
    import nbformat

    from kms_course.lessons.cells import exercise_id as cell_exercise, is_solution, source

    folder = folder or masters_folder()
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb")) if folder.is_dir() else []
    if not paths:
        raise NoSolution(f"No master notebooks in {folder}: solutions are not available here.")
    known = []
    for path in paths:
        for cell in nbformat.read(path, as_version=4).cells:
            if not is_solution(cell):
                continue
            ex = cell_exercise(cell)
            known.append(ex)
            if ex != exercise_id:
                continue
            lines = source(cell).splitlines()
            if any(SOLUTION_BEGIN in line for line in lines):
                start = next(i for i, line in enumerate(lines) if SOLUTION_BEGIN in line)
                end = next(i for i, line in enumerate(lines) if SOLUTION_END in line)
                lines = lines[start + 1 : end]
            return "\n".join(lines).strip("\n")
    raise NoSolution(
        f"No exercise {exercise_id!r}: use the id of its check cell, e.g. "
        f"solution({(known or ['01-aws-managed-key'])[0]!r}). Known ids: {', '.join(known)}"
    )


def solution(exercise_id: str) -> None:
    """Print the master's solution of ``exercise_id``, e.g. ``solution("03-hmac-key")``.

    Raises:
        CourseError: unknown exercise id or no master notebooks (one line saying what to do).
    """
    text = solution_source(exercise_id)
    print(f"# Solution of {exercise_id} (from the course's master notebook):")
    print(text)
