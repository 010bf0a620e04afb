"""The forkserver a local Dask cluster's workers are forked from, started as early as possible.

A local cluster's workers start from a forkserver that has imported the grading stack once
(https://docs.python.org/3/library/multiprocessing.html#multiprocessing.set_forkserver_preload),
so starting a worker costs a fork, not a new Python importing boto3, moto and Jupyter. Those
imports take seconds; :func:`start` begins them in the forkserver's own process, so they run
while the grader itself is still importing Dask (this module imports neither).
"""

from __future__ import annotations

import multiprocessing
from multiprocessing import forkserver

#: What a grading worker imports besides, when its sandbox server first answers: the moto
#: services the lessons call (KMS; S3, IAM and STS in lessons 08 and 10) and the grading modules.
WORKER_MODULES = (
    "moto.backends",
    "moto.kms.models", "moto.kms.responses",
    "moto.s3.models", "moto.s3.responses",
    "moto.iam.models", "moto.iam.responses",
    "moto.sts.models", "moto.sts.responses",
    "kms_course.sandbox.access", "kms_course.sandbox.clock", "kms_course.sandbox.trail",
    "kms_course.sandbox.context_binding", "kms_course.sandbox.course_api",
    "kms_course.sandbox.rules.asymmetric", "kms_course.lessons.hints",
    "kms_course.instructor.grading.sandbox",
    "kms_course.instructor.grading.execute",
    "kms_course.instructor.grading.zygote",
)
#: What the local workers' forkserver imports before forking any worker; the last freezes the
#: heap (:mod:`kms_course.instructor.grading.heap_freeze`).
PRELOAD = (
    "distributed",
    "boto3",
    "moto.moto_server.werkzeug_app",
    "nbclient",
    "nbformat.validator",
    "jupyter_client",
    "kms_course.sandbox.rules",
    "kms_course.instructor.grading.worker",
    "kms_course.lessons.checks",
    *WORKER_MODULES,
    "kms_course.instructor.grading.heap_freeze",
)


def start() -> None:
    """Start this process's forkserver, preloading :data:`PRELOAD` (no-op if it runs)."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(PRELOAD))
    forkserver.ensure_running()
