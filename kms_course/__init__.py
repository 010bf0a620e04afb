"""kms-course: a hands-on Jupyter course on AWS KMS with boto3.

A lesson starts with ``kms = start_sandbox()``; see :mod:`kms_course.sandbox`.
"""

from kms_course.sandbox import SandboxError, reset, start_sandbox

__all__ = ["SandboxError", "reset", "start_sandbox"]
__version__ = "0.1.0"
