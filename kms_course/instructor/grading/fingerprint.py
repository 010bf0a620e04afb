"""The grading fingerprint: everything besides the notebook that decided a submission's grade.

A re-run reuses a stored result only if its fingerprint equals the one this run would record
(and the notebook's SHA-256 is the same), so changing anything that could change a grade grades
the submission again. Its parts (a JSON object, stored in each result under ``"fingerprint"``):

``course``
    ``kms_course.__version__``.
``code``
    SHA-256 over the course package's Python sources (``kms_course/**/*.py`` outside
    ``checks/``): the grader, the sandbox and everything a lesson kernel imports.
``checks``
    SHA-256 over the sources of the checks: ``kms_course/lessons/checks/*.py`` and every other file
    that registered an exercise (:data:`kms_course.lessons.exercises.EXERCISES`), points and hints
    included.
``master``
    SHA-256 of the bytes of the master notebook the submission is graded against (``null`` when
    it has none, e.g. a file of no known lesson).
``settings``
    the batch's :class:`~kms_course.instructor.grading.worker.GradeConfig` as data (time limits in
    seconds, output limits, the lesson rule, whether kernels are jailed and the jail's limits),
    without the places of the masters and of ``--out`` (their content is what counts).

Sources: https://docs.python.org/3/library/hashlib.html, :func:`dataclasses.asdict`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kms_course

#: GradeConfig fields that say where things are, not how they are graded.
PLACES = ("masters", "hidden")
#: What each part is called in the "graded again because ..." line.
PART_NAMES = {
    "course": "the course version",
    "code": "the course code",
    "checks": "the checks",
    "master": "the master notebook",
    "cell_timeout": "the cell time limit",
    "submission_timeout": "the submission time limit",
    "jail": "jailed or not",
    "limits": "the jail's limits",
}


def _hash_files(paths: Iterable[Path], root: Path | None = None) -> str:
    digest = hashlib.sha256()
    for path in sorted(set(paths)):
        label = path.relative_to(root).as_posix() if root and path.is_relative_to(root) else str(path)
        try:
            data = path.read_bytes()
        except OSError:
            data = b"<unreadable>"
        digest.update(f"{label}\0{len(data)}\0".encode("utf-8", "surrogateescape"))
        digest.update(data)
    return digest.hexdigest()


def _package_root() -> Path:
    return Path(kms_course.__file__).resolve().parent


def code_hash() -> str:
    """SHA-256 over ``kms_course/**/*.py`` except ``kms_course/lessons/checks``."""
    root = _package_root()
    checks = root / "lessons" / "checks"
    return _hash_files((p for p in root.rglob("*.py") if checks not in p.parents), root)


def checks_hash() -> str:
    """SHA-256 over ``kms_course/lessons/checks/*.py`` and every file that registered an
    exercise."""
    from kms_course.lessons.exercises import load_all

    root = _package_root()
    files = set((root / "lessons" / "checks").glob("*.py"))
    for exercise in load_all().values():
        try:
            files.add(Path(inspect.getsourcefile(exercise.checker) or "").resolve())
        except TypeError:  # a built-in checker: nothing to hash
            continue
    return _hash_files(files, root)


def settings(config: Any) -> dict[str, Any]:
    """``config`` (a dataclass) as JSON data, without :data:`PLACES`."""
    data = dataclasses.asdict(config)
    for name in PLACES:
        data.pop(name, None)
    return json.loads(json.dumps(data, sort_keys=True, default=str))


def file_hash(path: str | Path | None) -> str | None:
    """SHA-256 of a file's bytes, or None for no file."""
    if path is None:
        return None
    return _hash_files([Path(path)])


class Fingerprints:
    """The fingerprint of each submission of one batch; the shared parts are computed once.

    Args:
        config: the batch's ``GradeConfig``.
        master_paths: lesson -> its master notebook file.
    """

    def __init__(self, config: Any, master_paths: dict[str, str]):
        self._common = {
            "course": kms_course.__version__,
            "code": code_hash(),
            "checks": checks_hash(),
            "settings": settings(config),
        }
        self._masters = {lesson: file_hash(path) for lesson, path in master_paths.items()}

    def of(self, lesson: str | None) -> dict[str, Any]:
        """The fingerprint of a submission graded against ``lesson`` (None: no lesson)."""
        return {**self._common, "master": self._masters.get(lesson) if lesson else None}


def changed_parts(old: Any, new: dict[str, Any]) -> list[str]:
    """What differs between a stored fingerprint and this run's, in words (``[]``: nothing).

    A result without a fingerprint (written by an older kms-course) differs in everything.
    """
    if not isinstance(old, dict):
        return ["the course version"]
    parts = []
    for name in ("course", "code", "checks", "master"):
        if old.get(name) != new.get(name):
            parts.append(PART_NAMES[name])
    old_settings, new_settings = old.get("settings") or {}, new.get("settings") or {}
    for name in sorted(set(old_settings) | set(new_settings)):
        if old_settings.get(name) != new_settings.get(name):
            parts.append(PART_NAMES.get(name, f"the setting {name}"))
    return parts
