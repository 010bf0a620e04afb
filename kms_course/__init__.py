"""kms-course: a hands-on Jupyter course on AWS KMS with boto3.

A lesson's first code cell is ``kms = start_sandbox()`` (see :mod:`kms_course.sandbox`); a check
cell is ``check("exercise-id")`` (see :mod:`kms_course.exercises`).
"""

from kms_course.exercises import check
from kms_course.sandbox import SandboxError, reset, start_sandbox

__all__ = ["SandboxError", "check", "reset", "start_sandbox"]
__version__ = "0.1.0"
