"""The sandbox: the bottom layer, where every KMS call of a lesson goes.

* :mod:`~kms_course.sandbox.start`: ``start_sandbox()``, the backends (``moto``, ``moto-server``,
  ``aws``) and the guard that keeps a sandbox kernel's calls off AWS; its public names are
  re-exported here (``from kms_course.sandbox import start_sandbox``).
* :mod:`~kms_course.sandbox.server`, :mod:`~kms_course.sandbox.server_cli`: the course's moto
  server (``kms-course server``).
* :mod:`~kms_course.sandbox.rules`: real-KMS rules on top of moto, one module per topic.
* :mod:`~kms_course.sandbox.access`: principals, key policies, IAM policies and grants.
* :mod:`~kms_course.sandbox.clock`, :mod:`~kms_course.sandbox.trail`,
  :mod:`~kms_course.sandbox.course_api`: the sandbox clock, the CloudTrail-style trail, and the
  course's own operations that read and move them.
* :mod:`~kms_course.sandbox.context_binding`: encryption context bound to ciphertext as on AWS.
* :mod:`~kms_course.sandbox.fidelity` (``kms-course fidelity``) and
  :mod:`~kms_course.sandbox.cleanup` (``kms-course cleanup``, the ``aws`` backend's keys).

Nothing here imports from the layers above (envelope, lessons, instructor):
``tests/test_layout.py`` says so.
"""

from kms_course.sandbox.start import (
    SandboxError,
    active_backend,
    client,
    describe,
    kms_client,
    region,
    reset,
    start_sandbox,
    stop_sandbox,
)

__all__ = [
    "SandboxError",
    "active_backend",
    "client",
    "describe",
    "kms_client",
    "region",
    "reset",
    "start_sandbox",
    "stop_sandbox",
]
