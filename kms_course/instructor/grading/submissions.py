"""Find submissions, read them defensively, and tell which lesson each one is.

A submission is a notebook file; its student is the folder it sits in (one folder per student)
or, for a loose notebook, its file stem. Names are kept exactly as given (spaces, accents, case,
any length): two folders are two students, and the gradebook shows each name as it is; the files
derived from a name are made by :mod:`kms_course.instructor.grading.file_names`. Reading never
raises: a file that is not JSON, not a notebook, or of an nbformat too old to upgrade gets a status
instead (https://nbformat.readthedocs.io/en/latest/api.html#reading-and-writing).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode

from kms_course.errors import CourseError
from kms_course.instructor.grading.file_names import display_name
from kms_course.lessons.cells import exercise_ids

LESSON_FILE = re.compile(r"^\d\d_")


@dataclass(frozen=True)
class Submission:
    """One notebook to grade.

    Attributes:
        student: the student's name exactly as given (folder name or file stem).
        path: the notebook file.
        key: the notebook's path in the student's folder, without ``.ipynb`` and with ``/``
            (``"03_keys"``, ``"week 1/03_keys"``); unique per student.
    """

    student: str
    path: str
    key: str

    def to_dict(self) -> dict[str, str]:
        return {"student": self.student, "path": self.path, "key": self.key}


def _notebooks_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file()
    )


def discover(paths: list[str]) -> list[Submission]:
    """The submissions named by ``paths`` (files and folders), in a stable order.

    * a file: one submission, student = file stem;
    * a folder holding only lesson notebooks (``NN_topic.ipynb``) and no sub-folder: one
      student's folder (student = the folder's name);
    * any other folder (a class): each sub-folder is a student (every notebook below it a
      submission), each loose notebook a student named by its stem.

    Raises:
        FileNotFoundError: a path does not exist (the message names it).
        CourseError: two paths give the same student the same notebook (e.g. two class folders
            that both hold ``ana/03_keys.ipynb``): the message names both files.
    """
    found: list[Submission] = []
    for raw in paths:
        if not Path(raw).exists():
            raise FileNotFoundError(f"No such submission file or folder: {raw}")
        # the folder the instructor named, with its own links resolved: any link below it is
        # the submission's, and read_notebook refuses it
        path = Path(raw).resolve()
        if path.is_file():
            found.append(_loose(path))
            continue
        folders = [c for c in sorted(path.iterdir()) if c.is_dir() and not c.name.startswith(".")]
        loose = sorted(p for p in path.glob("*.ipynb") if p.is_file())
        if not folders and loose and all(LESSON_FILE.match(p.stem) for p in loose):
            found.extend(_student_folder(path))
            continue
        for child in folders:
            found.extend(_student_folder(child))
        found.extend(_loose(p) for p in loose)
    return _without_duplicates(found)


def folders_without_notebooks(paths: list[str]) -> list[str]:
    """The student folders of the classes in ``paths`` that hold no notebook at all (names as
    :func:`discover` gives students), so the grader can say so instead of leaving them out of
    the gradebook unnoticed. A path that is a file or a single student's folder has none."""
    empty: list[str] = []
    for raw in paths:
        path = Path(raw).resolve()
        if not path.is_dir():
            continue
        folders = [c for c in sorted(path.iterdir()) if c.is_dir() and not c.name.startswith(".")]
        empty.extend(display_name(c.name) for c in folders if not _notebooks_in(c))
    return empty


def _loose(path: Path) -> Submission:
    name = display_name(path.stem)
    return Submission(name, str(path), name)


def _student_folder(folder: Path) -> list[Submission]:
    student = display_name(folder.name)
    return [
        Submission(student, str(p), display_name(p.relative_to(folder).with_suffix("").as_posix()))
        for p in _notebooks_in(folder)
    ]


def _without_duplicates(found: list[Submission]) -> list[Submission]:
    """``found`` with a file named twice kept once; two files for one student's key refused."""
    seen: dict[tuple[str, str], Submission] = {}
    for submission in found:
        other = seen.setdefault((submission.student, submission.key), submission)
        if other is not submission and not os.path.samefile(other.path, submission.path):
            raise CourseError(
                f"{other.path} and {submission.path} are both student {submission.student!r}'s "
                f"{submission.key!r}: grade them in separate runs (another --out), or rename one."
            )
    return list(seen.values())


def sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes ("" if unreadable)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def symlinked(path: str) -> bool:
    """True if ``path``, or a folder above it, is a symbolic link (its real path differs)."""
    return os.path.realpath(path) != os.path.abspath(path)


def read_notebook(path: str) -> tuple[NotebookNode | None, str, str]:
    """Read a submitted notebook without trusting it.

    Returns:
        ``(nb, "ok", "")`` with an nbformat v4 notebook, or ``(None, status, message)`` with
        status ``symlink`` (the file, or a folder on its way from the folder the instructor
        named, is a symbolic link: it could point at anything, a master notebook included),
        ``unreadable``, ``not-json``, ``not-a-notebook`` or ``unsupported-nbformat``. A v3
        notebook is upgraded with nbformat's converter; v4 notebooks are not schema-validated
        (only their solution cells' sources are used).
    """
    import nbformat
    from nbformat.v4.rwbase import rejoin_lines

    if symlinked(path):
        return None, "symlink", ("the submission is a symbolic link, not a notebook file: "
                                 "submit the notebook itself")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, "unreadable", f"cannot read the file: {error}"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        return None, "not-json", f"the file is not JSON (a notebook is JSON): {error}"
    if not isinstance(data, dict) or "nbformat" not in data:
        return None, "not-a-notebook", "the file is JSON but not a Jupyter notebook"
    major = data.get("nbformat")
    try:
        if major == 4:
            nb = nbformat.from_dict(data)
            if not isinstance(nb.get("cells"), list):
                raise ValueError("no list of cells")
            nb = rejoin_lines(nb)
        elif major in (2, 3):
            nb = nbformat.reads(text, as_version=4)
        else:
            return None, "unsupported-nbformat", f"nbformat {major!r} is not supported (use 4)"
    except Exception as error:
        return None, "unsupported-nbformat", f"cannot read notebook format {major!r}: {error}"
    nb.cells = [c for c in nb.cells if isinstance(c, dict) and "cell_type" in c]
    for cell in nb.cells:
        cell.setdefault("metadata", NotebookNode())
        cell.setdefault("source", "")
    return nb, "ok", ""


def lesson_by_content(nb: NotebookNode | None, lessons: dict[str, list[str]]) -> str | None:
    """The lesson sharing the most exercise ids with ``nb``'s cell metadata (None if none does).

    Args:
        nb: the notebook (None if it could not be read).
        lessons: lesson (notebook stem) -> its exercise ids.
    """
    if nb is None:
        return None
    ids = set(exercise_ids(nb))
    overlap = {lesson: len(ids & set(exs)) for lesson, exs in lessons.items()}
    best = max(overlap, key=overlap.get, default=None)
    return best if best is not None and overlap[best] > 0 else None


def lesson_by_name(path: str, lessons: Iterable[str]) -> str | None:
    """The lesson named by a file's stem: the lesson itself, a name starting with it, or its
    two-digit number (``03_keys.ipynb`` -> ``03_creating_and_describing_keys``); else None."""
    stem = Path(path).stem
    for lesson in lessons:
        if stem == lesson or stem.startswith(lesson):
            return lesson
    number = re.match(r"(\d\d)[_-]", stem)
    if number:
        for lesson in lessons:
            if lesson.startswith(number.group(1) + "_"):
                return lesson
    return None


def identify_lesson(
    nb: NotebookNode | None, path: str, lessons: dict[str, list[str]]
) -> tuple[str | None, str]:
    """Which lesson a submission is: by its exercise ids first, then by its file name.

    Args:
        nb: the notebook (None if it could not be read).
        path: its file path.
        lessons: lesson (notebook stem) -> its exercise ids.

    Returns:
        ``(lesson, how)`` with ``how`` in ``"metadata"``, ``"filename"``; or ``(None, reason)``.
    """
    by_content = lesson_by_content(nb, lessons)
    if by_content is not None:
        return by_content, "metadata"
    by_name = lesson_by_name(path, lessons)
    if by_name is not None:
        return by_name, "filename"
    return None, "no known exercise ids in its metadata and no lesson name in its file name"


def name_and_content_disagree(
    nb: NotebookNode | None, path: str, lessons: dict[str, list[str]]
) -> tuple[str, str] | None:
    """``(lesson by file name, lesson by exercise ids)`` when both are known and differ, else None.

    A file named ``03_creating_and_describing_keys.ipynb`` holding lesson 04's exercises is a
    wrong-lesson submission, never a lesson-04 one.
    """
    by_name = lesson_by_name(path, lessons)
    by_content = lesson_by_content(nb, lessons)
    if by_name and by_content and by_name != by_content:
        return by_name, by_content
    return None
