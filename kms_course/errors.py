"""Errors a user can act on (:class:`CourseError`), and the one line that says what an
OSError means; the command line shows both (:mod:`kms_course.cli`)."""

from __future__ import annotations



class CourseError(Exception):
    """Base of the course's own errors whose message says what to do."""


def os_message(error: OSError) -> str:
    """The one line for an OSError (str): the path, the reason and what to do."""
    if error.errno is None:  # raised by the course with its own message
        return str(error)
    where = f" {error.filename}" if error.filename else ""
    reason = error.strerror or str(error)
    hints = {
        "EACCES": "check its permissions or choose another place",
        "EPERM": "check its permissions or choose another place",
        "EROFS": "the file system is read-only: choose another place",
        "ENOSPC": "the disk is full: free some space",
        "EDQUOT": "your disk quota is used up: free some space",
        "EEXIST": "it already exists: choose another name",
        "ENOTDIR": "a part of the path is a file, not a folder",
        "EISDIR": "it is a folder, not a file",
        "ENOENT": "check the path",
    }
    import errno

    hint = hints.get(errno.errorcode.get(error.errno or 0, ""), "")
    return f"cannot use{where}: {reason}" + (f" ({hint})." if hint else ".")
