"""kms-course: a hands-on Jupyter course on AWS KMS with boto3.

A lesson's first code cell is ``kms = start_sandbox()`` (see :mod:`kms_course.sandbox.start`);
a check cell is ``check("exercise-id")`` (see :mod:`kms_course.lessons.exercises`). Also:
``advance(days=...)`` moves the sandbox clock, :mod:`kms_course.sandbox.trail` reads the
sandbox's CloudTrail-style record of calls, ``client_as(principal_arn)`` acts as an IAM
principal, and ``solution("exercise-id")`` prints an exercise's solution on demand.

The package is laid out by layer, imports pointing downward only: :mod:`kms_course.sandbox`
(the bottom), :mod:`kms_course.envelope`, :mod:`kms_course.lessons` (the student side),
:mod:`kms_course.instructor` (the top) and :mod:`kms_course.cli`; see the README's "For
developers".
"""

from kms_course import _moved

_moved.install()  # old module names of the lessons (kms_course._moved)

from kms_course.sandbox.access import client_as
from kms_course.sandbox.clock import advance
from kms_course.lessons.exercises import check
from kms_course.sandbox.start import SandboxError, reset, start_sandbox
from kms_course.lessons.solutions import solution

# (the trail stays in its module: ``from kms_course.sandbox.trail import trail, show_trail``; a
# function named ``trail`` here would hide ``kms_course.trail``, the name the lessons import it by)
__all__ = ["SandboxError", "advance", "check", "client_as", "reset", "solution", "start_sandbox"]
__version__ = "0.1.0"
