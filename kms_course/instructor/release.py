"""``kms-course release OUT``: write the student version of every lesson notebook.

Each master notebook (``notebooks/NN_topic.ipynb`` by default) goes through the release steps of
:mod:`kms_course.instructor.transforms`: hidden content removed, solution regions replaced by
``# YOUR CODE HERE`` / ``raise NotImplementedError()``, outputs cleared, the lesson's text, its
setup cell and its check cells locked (``editable: false``, ``nbgrader.locked: true``; demo and
solution cells stay editable, no cell is deletable). ``kms-course lab`` copies this version into
the student's workspace (:mod:`kms_course.lessons.workspace`). Every notebook is
built and checked for leaks (markers or the master's answers anywhere, including markdown,
outputs and metadata) before any file is written; each file is then written to a temporary file
and moved into place with ``os.replace``, so OUT never holds a half-written notebook.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kms_course.errors import CourseError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kms-course release``."""
    parser.add_argument("out", help="folder for the student notebooks (created if needed)")
    parser.add_argument("--source", default=None, help="folder of master notebooks (default: notebooks/)")


def check_out(out: str | Path, name: str = "OUT", holds: str = "the student notebooks") -> Path:
    """Make sure OUT is a folder this process can write, before anything is built.

    Args:
        out: the folder.
        name, holds: how messages call it and what it is for (a student's workspace says
            ``"The workspace"``; see :func:`kms_course.instructor.out_folder.writable_folder`).

    Returns:
        The folder (created if needed).

    Raises:
        CourseError: OUT is empty, an existing file, or cannot be created or written.
    """
    from kms_course.instructor.out_folder import writable_folder

    return writable_folder(out, name, holds)


def build(source: str | Path | None = None) -> dict[str, object]:
    """The student version of every master notebook of ``source``: file name -> notebook.

    Raises:
        CourseError: no lesson notebooks, bad solution markers, or a leak (the message lists
            each problem with its notebook and cell index).
    """
    import nbformat

    from kms_course.instructor.grading.masters import default_folder
    from kms_course.instructor.transforms import RELEASE_STEPS, apply, find_leaks

    folder = Path(source) if source else default_folder()
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise CourseError(f"No lesson notebooks (NN_topic.ipynb) in {folder}: pass --source DIR.")
    released, problems = {}, []
    for path in paths:
        master = nbformat.read(path, as_version=4)
        try:
            student = apply(master, RELEASE_STEPS)
        except ValueError as error:
            problems.append(f"{path.name}: {error}")
            continue
        problems += [f"{path.name}: {p}" for p in find_leaks(student, master)]
        released[path.name] = student
    if problems:
        raise CourseError("Nothing written; fix these first:\n  " + "\n  ".join(problems))
    return released


def run(args: argparse.Namespace) -> int:
    """Build every student notebook, then write them all into ``args.out``.

    Raises:
        CourseError: OUT is the source folder (it would overwrite the masters), a file, or a
            folder that cannot be created or written; or :func:`build` failed. Nothing is written
            then.
    """
    import nbformat

    from kms_course.atomic import atomic_write_text
    from kms_course.instructor.grading.masters import default_folder

    source = Path(args.source) if args.source else default_folder()
    out = check_out(args.out)  # first: Path("") would be this folder
    if out.resolve() == source.resolve():
        raise CourseError("OUT must not be the master folder: the masters would be overwritten.")
    if source.exists() and not source.is_dir():
        raise CourseError(f"--source {source} is a file, not a folder: pass the folder of master notebooks.")
    released = build(source)
    for name, nb in released.items():
        atomic_write_text(out / name, nbformat.writes(nb))
    print(f"Released {len(released)} notebook(s) from {source} into {out}")
    return 0
