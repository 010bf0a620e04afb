"""The first module paths of what the lessons import, kept for copies of the lessons.

The lessons import a few course modules by the names they had before the package was laid out by
layer (``from kms_course.progress import ProgressPanel``, ``from kms_course.trail import trail``).
Copies of the lessons outside this repository keep those names: a student's workspace, which
``kms-course lab`` fills once and never overwrites (:mod:`kms_course.lessons.workspace`), the
notebooks students submit, and the kernel configuration that ``kms-course lab`` copied into an
environment (``<prefix>/etc/ipython/ipython_kernel_config.py``, :mod:`kms_course.lessons.lab`).
And a course server's saved state (``server-state.pickle``, :mod:`kms_course.sandbox.server`)
names the functions that rebuild its private keys by the module they were in
(``kms_course.server``) and its grants by theirs (``kms_course.access.grants``). So each name in
:data:`MOVED` imports the module where the code lives now: the very same module object
(``kms_course.trail is kms_course.sandbox.trail``), so its state, and whatever a test patches in
it, is shared. Submodules follow their package (``kms_course.access.grants``). No
other old path is kept: everything else imports from the new places only.

Source: the import system's meta path finders and loaders
(https://docs.python.org/3/reference/import.html#finders-and-loaders).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

#: old module name -> the module it is now (a package's submodules follow it).
MOVED: dict[str, str] = {
    "kms_course.access": "kms_course.sandbox.access",
    "kms_course.clock": "kms_course.sandbox.clock",
    "kms_course.trail": "kms_course.sandbox.trail",
    "kms_course.docstore": "kms_course.envelope.docstore",
    "kms_course.display": "kms_course.lessons.widgets.display",
    "kms_course.key_explorer": "kms_course.lessons.widgets.key_explorer",
    "kms_course.stepper": "kms_course.lessons.widgets.stepper",
    "kms_course.hints": "kms_course.lessons.hints",
    "kms_course.practice": "kms_course.lessons.practice",
    "kms_course.progress": "kms_course.lessons.progress",
    "kms_course.solutions": "kms_course.lessons.solutions",
    "kms_course.server": "kms_course.sandbox.server",
    "kms_course.aws_guard": "kms_course.sandbox.aws_guard",
}


def new_name(name: str) -> str | None:
    """The current name of the old module ``name`` (str), or None when ``name`` is no old name."""
    for old, new in MOVED.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old):]
    return None


class _Alias(importlib.abc.Loader):
    """Loads an old name as the module of its new name (imported first if need be)."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # a placeholder module, replaced in exec_module

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system returns what sys.modules holds under the old name once this returns.
        sys.modules[module.__name__] = importlib.import_module(self.target)


class MovedFinder(importlib.abc.MetaPathFinder):
    """A meta path finder for the names of :data:`MOVED` (first on ``sys.meta_path``)."""

    def find_spec(self, fullname: str, path=None, target=None):
        new = new_name(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Put :class:`MovedFinder` first on ``sys.meta_path`` (once per process)."""
    if not any(isinstance(finder, MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())
