"""The instructor's master notebooks and the exercises each one holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode

from kms_course.errors import CourseError
from kms_course.lessons.exercises import Exercise, load_all
from kms_course.lessons.cells import exercise_ids


@dataclass(frozen=True)
class Master:
    """A master notebook: ``lesson`` (file stem), ``path``, ``nb`` and its registered ``exercises``
    in notebook order."""

    lesson: str
    path: str
    nb: NotebookNode
    exercises: tuple[Exercise, ...]

    @property
    def max_points(self) -> int:
        return sum(e.points for e in self.exercises)

    def answers(self) -> dict[str, tuple[str, ...]]:
        """Exercise id -> the variable names its check reads."""
        return {e.id: e.answers for e in self.exercises}


def default_folder() -> Path:
    """``notebooks/`` in the current folder, else the one next to the installed package."""
    here = Path("notebooks")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "notebooks"


_CACHE: dict[str, dict[str, Master]] = {}


def cached_masters(folder: str | Path | None = None) -> dict[str, Master]:
    """:func:`load_masters`, once per folder per process (forked workers inherit the cache)."""
    key = str(Path(folder).resolve()) if folder else str(default_folder().resolve())
    if key not in _CACHE:
        _CACHE[key] = load_masters(folder)
    return _CACHE[key]


def load_masters(folder: str | Path | None = None) -> dict[str, Master]:
    """Every ``NN_*.ipynb`` master notebook of ``folder`` with at least one registered exercise.

    Raises:
        CourseError: the folder does not exist or holds no lesson notebook (say where they are
            with ``--masters``).
    """
    import json

    import nbformat
    from nbformat.v4.rwbase import rejoin_lines

    folder = Path(folder) if folder else default_folder()
    if not folder.is_dir():
        raise CourseError(f"No master notebook folder {folder}: pass --masters DIR.")
    registry = load_all()
    masters: dict[str, Master] = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        # trusted files: read without the (slow) schema validation; `validate` runs them all
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("nbformat") == 4:
            nb = rejoin_lines(nbformat.from_dict(data))
        else:
            nb = nbformat.read(path, as_version=4)
        exercises = tuple(registry[i] for i in exercise_ids(nb) if i in registry)
        masters[path.stem] = Master(path.stem, str(path), nb, exercises)
    if not masters:
        raise CourseError(f"No lesson notebooks (NN_topic.ipynb) in {folder}.")
    return masters
