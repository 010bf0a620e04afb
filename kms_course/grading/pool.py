"""Grade many submissions on every core: a process pool, one sandbox server + kernel per worker.

Workers are forked once from a parent that has already imported the heavy libraries (nbformat's
validator pulls in jsonschema and rfc3987-syntax, ~1.2 s), so each worker pays that only once and
is reused for many submissions (https://docs.python.org/3/library/concurrent.futures.html#processpoolexecutor).
If a worker process itself dies, the pool is rebuilt and its submissions are tried once more;
a second crash gives the status ``grader-crashed`` so the batch always finishes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from kms_course.grading import worker
from kms_course.grading.worker import GradeConfig


def preload() -> None:
    """Import what every worker needs, once, before forking."""
    import boto3  # noqa: F401
    import jupyter_client  # noqa: F401
    import moto.moto_server.werkzeug_app  # noqa: F401
    import nbclient  # noqa: F401
    import nbformat.validator  # noqa: F401

    from kms_course import rules  # noqa: F401
    from kms_course.exercises import load_all

    load_all()


def _init(config: GradeConfig) -> None:
    from kms_course import sandbox

    sandbox.stop_sandbox()  # a forked copy of the parent's sandbox state must not linger
    worker.init_worker(config)


from kms_course.grading.limits import default_jobs  # noqa: E402  (one definition)


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
) -> list[dict[str, Any]]:
    """Grade every submission (``Submission.to_dict()``) and call ``on_result`` as each finishes.

    Args:
        submissions: what to grade.
        config: grading settings, passed to every worker.
        jobs: worker processes (default: cores + 1).
        on_result: called in this process with each result, in completion order (write it).

    Returns:
        All results, in completion order.
    """
    pending = list(submissions)
    attempts: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    preload()
    context = multiprocessing.get_context("fork")
    jobs = max(1, min(jobs or default_jobs(), len(pending) or 1))
    while pending:
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init, initargs=(config,)) as pool:
            futures = {pool.submit(worker.grade, s): s for s in pending}
            pending = []
            broken = False
            waiting = set(futures)
            while waiting:
                done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                for future in done:
                    sub = futures[future]
                    try:
                        result = future.result()
                    except BrokenProcessPool as error:
                        broken = True
                        attempts[sub["path"]] = attempts.get(sub["path"], 0) + 1
                        if attempts[sub["path"]] >= 2:
                            result = _crashed(sub, error)
                        else:
                            pending.append(sub)
                            continue
                    except Exception as error:  # a grader bug on one submission
                        result = _crashed(sub, error)
                        result["status"] = "grader-error"
                    results.append(result)
                    on_result(result)
            if broken:
                jobs = 1  # retry the survivors one at a time to find the culprit
    return results
