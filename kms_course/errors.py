"""Errors a user can act on, and how the command line shows them (one line, no traceback)."""

from __future__ import annotations



class CourseError(Exception):
    """Base of the course's own errors whose message says what to do."""


def _os_message(error: OSError) -> str:
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


def user_message(error: BaseException) -> str | None:
    """The one-line message for an error the user can act on, or None for a bug.

    Course errors (:class:`CourseError`, ``SandboxError``, ``ServerError``) give their own message;
    an :class:`OSError` (missing file, no permission, disk full, ...) names the path and what to do.
    """
    from kms_course.sandbox.start import SandboxError
    from kms_course.sandbox.server import ServerError

    if isinstance(error, (CourseError, SandboxError, ServerError)):
        return " ".join(str(error).split()) if "\n" not in str(error) else str(error)
    if isinstance(error, OSError):
        return _os_message(error)
    return None


def report_bug(error: BaseException, verb: str) -> str:
    """Save the traceback of an unexpected ``error`` and return one line saying where it is.

    The traceback goes to ``$KMS_COURSE_HOME/last-error.txt`` (default ``~/.kms-course``); if that
    cannot be written, the line says to set ``KMS_COURSE_DEBUG=1`` to see it.
    """
    import traceback

    from kms_course.atomic import atomic_write_text
    from kms_course.sandbox.server import state_dir

    summary = " ".join(f"{type(error).__name__}: {error}".split())[:300]
    path = state_dir() / "last-error.txt"
    try:
        atomic_write_text(path, "".join(traceback.format_exception(error)))
        where = f"the details are in {path}"
    except OSError:
        where = "set KMS_COURSE_DEBUG=1 to see the details"
    return f"unexpected error ({summary}); {where}. Please report it."


