"""An output folder checked before any work: it exists (or is made) and this process can write it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kms_course.errors import CourseError


def writable_folder(path: str | Path, name: str, holds: str) -> Path:
    """Make sure ``path`` is a folder this process can write (creating it if needed).

    Args:
        path: the folder.
        name: how the command line calls it in messages (``"OUT"``, ``"--out"``).
        holds: what it is for, in the message (``"the gradebook"``).

    Returns:
        The folder.

    Raises:
        CourseError: ``path`` is empty, an existing file, or cannot be created or written (one
            line saying to pass another).
    """
    if not str(path).strip():
        raise CourseError(f"{name} is empty: pass a folder for {holds}.")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise CourseError(f"{name} {path} is a file, not a folder: pass a folder for {holds}.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise CourseError(f"{name} {path}: cannot create or write this folder ({reason}); pass another.") from None
    return folder
