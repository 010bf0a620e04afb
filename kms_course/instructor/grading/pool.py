"""Grade many submissions on every core: a process pool, one sandbox server + kernel per worker.

Workers are forked once from a parent that has already imported the heavy libraries (nbformat's
validator pulls in jsonschema and rfc3987-syntax, ~1.2 s), so each worker pays that only once and
is reused for many submissions (https://docs.python.org/3/library/concurrent.futures.html#processpoolexecutor).
Each worker dies with the grader (``PR_SET_PDEATHSIG``), and its zygote, jails and sandbox
server die with it, so killing the grader leaves nothing running.

If a worker process itself dies, every submission it may have held is graded again, one at a
time in a fresh pool, so a crash is charged only to the submission that causes it again: a
second crash of that one alone gives the status ``grader-crashed``, and the batch always finishes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from kms_course.errors import CourseError
from kms_course.instructor.grading import worker
from kms_course.instructor.grading.worker import GradeConfig


def preload() -> None:
    """Import what every worker needs, once, before forking, and keep it out of the workers'
    garbage collections (https://docs.python.org/3/library/gc.html#gc.freeze): a collection in a
    forked worker would otherwise touch, and so copy, every inherited object's page (measured
    with benchmarks/bench_grading.py: 100 of a worker's 107 MiB were its own before, 67 after)."""
    import importlib

    from kms_course.instructor.grading.forkserver import WORKER_MODULES

    import boto3  # noqa: F401
    import jupyter_client  # noqa: F401
    import moto.moto_server.werkzeug_app  # noqa: F401
    import nbclient  # noqa: F401
    import nbformat.validator  # noqa: F401

    from kms_course.sandbox import rules  # noqa: F401
    from kms_course.lessons.exercises import load_all

    load_all()
    for name in WORKER_MODULES:
        importlib.import_module(name)
    from kms_course.instructor.grading.sandbox import warm_botocore

    warm_botocore()  # the botocore data every worker reads, parsed once here
    from kms_course.instructor.grading import heap_freeze

    heap_freeze.freeze()  # again if this process imported it before


def _init(config: GradeConfig, parent: int, zygote_address: str) -> None:
    from kms_course.sandbox import start as sandbox
    from kms_course.instructor.grading import zygote
    from kms_course.instructor.grading.jail import die_with_parent

    die_with_parent()
    if os.getppid() != parent:  # the grader died before the line above took effect
        os._exit(1)
    sandbox.stop_sandbox()  # a forked copy of the parent's sandbox state must not linger
    zygote.use_shared(zygote_address)
    worker.init_worker(config)


from kms_course.instructor.grading.limits import default_jobs  # noqa: E402  (one definition)


def _crashed(submission: dict[str, str], error: BaseException) -> dict[str, Any]:
    return {
        **submission,
        "sha256": "",
        "lesson": None,
        "status": "grader-crashed",
        "messages": [f"the grading worker died twice on this submission: {error!r}"],
        "exercises": {},
        "total": 0,
        "max_points": 0,
        "seconds": 0.0,
    }


def grade_all(
    submissions: Iterable[dict[str, str]],
    config: GradeConfig,
    jobs: int | None = None,
    on_result: Callable[[dict[str, Any]], None] = lambda r: None,
    scheduler: str | None = None,
    executor: str = "pool",
) -> list[dict[str, Any]]:
    """Grade every submission (``Submission.to_dict()``) and call ``on_result`` as each finishes.

    Args:
        submissions: what to grade.
        config: grading settings, passed to every worker.
        jobs: worker processes (default: one per core).
        on_result: called in this process with each result, in completion order (write it).

    Returns:
        All results, in completion order.
    """
    pending = list(submissions)
    results: list[dict[str, Any]] = []
    jobs = max(1, min(jobs or default_jobs(), len(pending) or 1))
    if scheduler or executor == "dask":
        import importlib.util

        if importlib.util.find_spec("distributed") is None:  # found, not imported (seconds)
            raise CourseError(
                "grading on Dask needs the instructor set: run `make install` in the course "
                "(or `pip install -e '.[instructor]'`)")
    if not scheduler and executor == "dask":
        from kms_course.instructor.grading import forkserver

        forkserver.start()  # its imports run while this process imports Dask
    if scheduler or executor == "dask":
        # the workers import the grading stack themselves (a local cluster's from its preloaded
        # forkserver): importing it here too would only delay the start by seconds
        from kms_course.instructor.grading.cluster import grade_on_dask

        return grade_on_dask(pending, config, jobs, on_result, _crashed, scheduler)
    preload()  # before forking: every worker shares what is imported here

    def finish(result: dict[str, Any]) -> None:
        results.append(result)
        on_result(result)

    from kms_course.instructor.grading import zygote

    with zygote.shared() as address:  # one kernel zygote for all the workers
        suspects = _run_pool(pending, config, jobs, finish, address)
        for sub in suspects:  # one at a time: a crash now is this submission's own
            if _run_pool([sub], config, 1, finish, address):
                again = _run_pool([sub], config, 1, finish, address)
                if again:
                    finish(_crashed(sub, BrokenProcessPool("the worker died")))
    return results


def _run_pool(
    submissions: list[dict[str, str]],
    config: GradeConfig,
    jobs: int,
    finish: Callable[[dict[str, Any]], None],
    zygote_address: str,
) -> list[dict[str, str]]:
    """Grade ``submissions`` in one pool; ``finish`` each result. Returns those left without a
    result because a worker died (the pool breaks: every unfinished submission is returned)."""
    context = multiprocessing.get_context("fork")
    left: list[dict[str, str]] = []
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_init, initargs=(config, os.getpid(), zygote_address)
    ) as pool:
        futures = {pool.submit(worker.grade, s): s for s in submissions}
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                sub = futures[future]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    left.append(sub)
                    continue
                except Exception as error:  # a grader bug on one submission
                    result = _crashed(sub, error)
                    result["status"] = "grader-error"
                finish(result)
    return left
