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

#: What the local workers' forkserver imports before forking any worker.
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
)


def start() -> None:
    """Start this process's forkserver, preloading :data:`PRELOAD` (no-op if it runs)."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(PRELOAD))
    forkserver.ensure_running()
