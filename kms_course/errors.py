"""Errors a user can act on, and how the command line shows them (one line, no traceback)."""

from __future__ import annotations


class CourseError(Exception):
    """Base of the course's own errors whose message says what to do."""


def user_message(error: BaseException) -> str | None:
    """The one-line message for an error the user can act on, or None for a bug (re-raise it)."""
    from kms_course.sandbox import SandboxError
    from kms_course.server import ServerError

    if isinstance(error, (CourseError, SandboxError, ServerError, FileNotFoundError)):
        return str(error)
    return None
