"""Small notebook transforms, one per module, each ``nb -> nb`` on an nbformat v4 notebook.

Release and grading are ordered lists of these steps, in the style of nbgrader's preprocessors
(https://nbgrader.readthedocs.io/en/stable/api/preprocessors.html). Each transform returns a new
notebook and leaves its argument unchanged, so each can be tested alone on a three-cell notebook.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from nbformat import NotebookNode

#: The transform steps; each is the function of the same name in the module of the same name.
#: They are imported on first use, not with the package: each imports nbformat, whose validator
#: imports jsonschema (over a second), and the student's kernel imports this package only for
#: :func:`kms_course.lessons.cells.answer_cells` (the lab's check,
#: :mod:`kms_course.lessons.cellruns`).
_STEPS = ("clear_outputs", "clear_solutions", "find_leaks", "lock_cells", "probe_answers",
          "strip_hidden", "take_master_cells")

Transform = Callable[["NotebookNode"], "NotebookNode"]


def _step(name: str) -> Transform:
    return getattr(importlib.import_module(f"{__name__}.{name}"), name)


class _Package(types.ModuleType):
    """This package, whose step names always mean the step functions (as when they were imported
    eagerly), even after the import system binds the submodule of the same name."""

    @property
    def RELEASE_STEPS(self) -> tuple[Transform, ...]:  # noqa: N802
        """The student version, in order (see ``kms-course release``)."""
        return tuple(_step(n) for n in ("strip_hidden", "clear_solutions", "clear_outputs",
                                        "lock_cells"))


def _step_property(name: str) -> property:
    def setter(self: Any, value: Any) -> None:  # the import system binding the submodule
        pass

    return property(lambda self: _step(name), setter)


for _name in _STEPS:
    setattr(_Package, _name, _step_property(_name))
sys.modules[__name__].__class__ = _Package


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
