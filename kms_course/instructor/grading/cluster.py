"""Grading on Dask: the same code on this machine (a LocalCluster) or on any Dask cluster.

Dask distributed (https://distributed.dask.org/) runs each submission as one task. Every worker
process holds what the in-process grader needs, set up once by a worker plugin
(:class:`GradingPlugin`, https://distributed.dask.org/en/stable/plugins.html): its own guarded
sandbox server, its kernel zygote (so each kernel is still a jailed fork of a preloaded
process, :mod:`kms_course.instructor.grading.jail`) and the master notebooks, which travel with the
plugin as text. Submissions travel to workers as bytes and results come back to the client as plain
data, so no shared file system is needed; only the client writes ``--out``, once per result,
even when Dask re-runs a task whose worker died (each task has one future, and its result
arrives once).

A task that was running on a worker that died is run again elsewhere; Dask counts it as
suspicious only if it was running there (one task per worker: ``threads_per_worker=1``), so a
classmate queued behind a crashing submission is never blamed. A submission that kills its
worker twice gets the status ``grader-crashed``
(``distributed.scheduler.allowed-failures``, https://distributed.dask.org/en/stable/killed.html).

The local cluster's workers start from a forkserver that has imported the grading stack once
(https://docs.python.org/3/library/multiprocessing.html#multiprocessing.set_forkserver_preload),
so starting a worker costs a fork, not a new Python importing boto3, moto and Jupyter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

from kms_course.errors import CourseError
from kms_course.instructor.grading import forkserver
from kms_course.instructor.grading.worker import GradeConfig

#: Dask settings of the local cluster (https://distributed.dask.org/en/stable/configuration.html),
#: which pass to its worker processes. Off or slowed, because they cost grading CPU for what the
#: local cluster has no use for: the statistical profiler (every thread's stack every 10 ms) and
#: the system monitor (psutil every 0.5 s), which only feed a dashboard it does not have; the
#: event-loop health tick (every 20 ms in the scheduler, each worker and each nanny), which only
#: logs warnings; work stealing (tasks wait on the scheduler until a worker is free, so there
#: is nothing to steal); the memory monitor (every 100 ms; the workers have no memory limit).
LOCAL_WORKER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.tick.interval": "1s",
    "distributed.scheduler.work-stealing": False,
    "distributed.worker.memory.monitor-interval": "5s",
}
#: Submissions sent to the cluster ahead of the results (bounds the client's memory).
IN_FLIGHT_PER_WORKER = 4
#: Seconds to wait for a --scheduler to answer before giving up.
CONNECT_TIMEOUT = 10
#: Times a task may lose its worker before it is given up (Dask's allowed-failures).
ALLOWED_FAILURES = 1


def _import_checks(modules: Iterable[str]) -> None:
    import importlib

    from kms_course.lessons.exercises import load_all

    load_all()
    for name in modules:
        importlib.import_module(name)


class GradingPlugin(WorkerPlugin):
    """Dask worker plugin: set up one grading worker (sandbox server, zygote, masters).

    Args:
        config: the batch's settings (its ``masters`` is replaced by the worker's own copy).
        masters: lesson name -> master notebook file text.
        check_modules: modules whose import registers the exercises (the course's
            ``kms_course.lessons.checks`` and any the grader loaded, such as a test fixture's).
    """

    name = "kms-course-grading"

    def __init__(self, config: GradeConfig, masters: dict[str, str], check_modules: tuple[str, ...],
                 zygote_address: str | None = None):
        self.config = config
        self.masters = masters
        self.check_modules = check_modules
        self.zygote_address = zygote_address
        self.folder: str | None = None

    def setup(self, worker: Any = None) -> None:
        from kms_course.instructor.grading import worker as grading
        from kms_course.instructor.grading import zygote
        from kms_course.instructor.grading.jail import die_with_parent

        die_with_parent()  # a local worker never outlives the grader (or a remote one its nanny)
        if self.zygote_address:
            zygote.use_shared(self.zygote_address)
        _import_checks(self.check_modules)
        self.folder = tempfile.mkdtemp(prefix="kms-masters-")
        for name, text in self.masters.items():
            Path(self.folder, f"{name}.ipynb").write_text(text, encoding="utf-8")
        grading.init_worker(dataclasses.replace(self.config, masters=self.folder))

    def teardown(self, worker: Any = None) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def grade_bytes(submission: dict[str, str], content: bytes) -> dict[str, Any]:
    """Dask task: grade one submission sent as its file's bytes; its result (plain data).

    The bytes are written under the submission's own file name (which names its lesson) in a
    private folder of the worker, removed afterwards; the result keeps the client's path.
    """
    from kms_course.instructor.grading import worker as grading

    folder = tempfile.mkdtemp(prefix="kms-submission-")
    try:
        path = Path(folder) / Path(submission["path"]).name
        path.write_bytes(content)
        result = grading.grade({**submission, "path": str(path)})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["path"] = submission["path"]
    return result


def _masters_text(config: GradeConfig) -> dict[str, str]:
    from kms_course.instructor.grading.masters import cached_masters

    return {name: Path(m.path).read_text(encoding="utf-8")
            for name, m in cached_masters(config.masters).items()}


def _check_modules() -> tuple[str, ...]:
    from kms_course.lessons.exercises import load_all

    return tuple(sorted({e.checker.__module__ for e in load_all().values()}))


def local_cluster(jobs: int):
    """A LocalCluster of ``jobs`` one-thread worker processes forked from a preloaded
    forkserver, with no dashboard and quiet logs (https://docs.dask.org/en/stable/deploying-python.html)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver",
                          **LOCAL_WORKER_CONFIG}):
        forkserver.start()  # usually already running: see grade_all
        return LocalCluster(
            n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=logging.ERROR, memory_limit=0,
        )


def grade_on_dask(
    submissions: list[dict[str, str]],
    config: GradeConfig,
    jobs: int,
    on_result: Callable[[dict[str, Any]], None],
    crashed: Callable[[dict[str, str], BaseException], dict[str, Any]],
    scheduler: str | None = None,
) -> list[dict[str, Any]]:
    """Grade ``submissions`` on a Dask cluster; ``on_result`` each result as it arrives.

    Args:
        submissions: ``Submission.to_dict()`` of each.
        config: grading settings.
        jobs: workers of the local cluster (ignored with ``scheduler``).
        on_result: called in this process once per submission, in completion order.
        crashed: makes the result of a submission whose task failed.
        scheduler: address of an existing cluster's scheduler (``tcp://host:8786``); None: a
            LocalCluster on this machine, closed at the end.

    Returns:
        All results, in completion order.

    Raises:
        CourseError: the scheduler did not answer within :data:`CONNECT_TIMEOUT` seconds.
    """
    import dask
    from distributed import Client, as_completed

    from kms_course.instructor.grading import zygote

    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack, dask.config.set(
            {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        # the local cluster's workers share one kernel zygote of this machine (a remote
        # cluster's workers start their own)
        address = None if scheduler else stack.enter_context(zygote.shared())
        cluster = None if scheduler else local_cluster(jobs)
        try:
            wait = {"timeout": CONNECT_TIMEOUT} if scheduler else {}
            client = Client(scheduler or cluster, set_as_default=False, **wait)
        except (OSError, TimeoutError) as error:
            raise CourseError(
                f"cannot reach the Dask scheduler at {scheduler} ({error}): start it with "
                "`dask scheduler` on that machine and pass the address it prints") from None
        try:
            plugin = GradingPlugin(config, _masters_text(config), _check_modules(), address)
            client.register_plugin(plugin, name=GradingPlugin.name)
            workers = max(1, len(client.scheduler_info().get("workers", {})) or jobs)
            queue = list(submissions)
            owner: dict[str, dict[str, str]] = {}

            def send(submission: dict[str, str]):
                future = client.submit(grade_bytes, submission, Path(submission["path"]).read_bytes(),
                                       pure=False)
                owner[future.key] = submission
                return future

            window = [send(queue.pop(0)) for _ in range(min(len(queue), workers * IN_FLIGHT_PER_WORKER))]
            pending = as_completed(window, loop=client.loop)
            for future in pending:
                submission = owner.pop(future.key)
                try:
                    result = future.result()
                except Exception as error:  # KilledWorker twice, or a grader bug on this one
                    result = crashed(submission, error)
                    if type(error).__name__ != "KilledWorker":
                        result["status"] = "grader-error"
                future.release()
                results.append(result)
                on_result(result)
                if queue:
                    pending.add(send(queue.pop(0)))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return results

