"""``kms-course <verb>``: :data:`COMMANDS` maps each verb to its module (``lab`` in
``lessons/``; ``server``, ``fidelity`` and ``cleanup`` in ``sandbox/``; the others in
``instructor/``).

Every command module exposes ``add_arguments(parser)`` and ``run(args) -> int``. Whatever goes
wrong is one line on stderr and a non-zero exit: 2 for bad arguments, 1 for an error the user can
act on (:func:`user_message`), 130 for Ctrl-C; an unexpected error (a bug) is
one line too, with its traceback saved to a file (``KMS_COURSE_DEBUG=1`` shows it instead).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from kms_course.errors import CourseError, os_message

#: Set to 1 to see the Python traceback of an unexpected error instead of its one-line summary.
DEBUG_ENV = "KMS_COURSE_DEBUG"

# verb -> (module, one-line help)
COMMANDS = {
    "lab": ("kms_course.lessons.lab", "open the course in JupyterLab (offline sandbox)"),
    "server": ("kms_course.sandbox.server_cli", "start, stop or show the course's moto server"),
    "cleanup": ("kms_course.sandbox.cleanup", "aws backend: schedule deletion of the keys the course made"),
    "fidelity": ("kms_course.sandbox.fidelity", "compare real KMS, plain moto and the sandbox, live"),
    "release": ("kms_course.instructor.release", "write the student version of every lesson"),
    "validate": ("kms_course.instructor.validate", "prove solutions pass and released notebooks fail"),
    "grade": ("kms_course.instructor.grade", "grade student submissions into a gradebook"),
    "gradescope": ("kms_course.instructor.lms.gradescope", "write a Gradescope autograder zip for a lesson"),
    "export": ("kms_course.instructor.lms.export", "export the gradebook for an LMS (canvas)"),
}


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
        return os_message(error)
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


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit 2), e.g.
    ``kms-course server: argument --port: '99999' ... (see kms-course server --help)``."""

    def error(self, message: str):  # type: ignore[override]
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="kms-course", description="The command line of kms-course, the hands-on AWS KMS course."
    )
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=OneLineParser)
    for verb, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        sub = verbs.add_parser(verb, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run, _parser=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    if extra and not getattr(args, "_accepts_extra", False):  # the verb's own name and --help
        args._parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"kms-course {args.verb}: interrupted.", file=sys.stderr)
        return 130
    except Exception as error:  # a clear one-line message, never a traceback
        message = user_message(error)
        if message is None:
            if os.environ.get(DEBUG_ENV):
                raise
            message = report_bug(error, args.verb)
        print(f"kms-course {args.verb}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
