"""Where one submission's grading time and CPU go (issue 18 item 3); run by bench_grading.py.

Grades ``--count`` submissions of a synthetic class serially in this process, as one grading
worker does (``kms_course.instructor.grading.worker.init_worker`` then ``grade``, jailed), after one
untimed submission that warms the zygote up, and writes each result with ``ResultStore.write`` as
``kms-course grade`` does. The phases are timed by wrapping, from here, the functions the
grader calls (nothing in kms_course is changed): nbclient's ``async_start_new_kernel`` and
``async_start_new_kernel_client`` (kernel start), ``take_master_cells`` and ``probe_answers``
(notebook transforms), ``async_execute_cell`` (cell execution, split by cell role), the worker's
``run_check`` (answer probing + checks, in this process), ``GradingServer.reset`` and the result
write. Times are exclusive: a check run from inside a cell's execution hook counts as a check, not
as the cell. CPU: the whole tree by control group (:mod:`_measure`), this process by
``getrusage(RUSAGE_SELF)``, its main thread by ``time.thread_time`` and libzmq's I/O threads by
``/proc/self/task``; the rest of this process's CPU is the sandbox server's threads.

    .venv/bin/python benchmarks/_breakdown.py --count 20
"""

from __future__ import annotations

import argparse
import atexit
import functools
import importlib
import inspect
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _measure import CpuGroup  # noqa: E402

WALL: dict[str, float] = defaultdict(float)
SERVER_CPU = [0.0]  # CPU seconds of the sandbox server's request threads
_LOCK = threading.Lock()
_STACK: list[list[float]] = []  # [started, time spent in nested phases]


def _enter() -> None:
    _STACK.append([time.perf_counter(), 0.0])


def _leave(phase: str) -> None:
    started, nested = _STACK.pop()
    elapsed = time.perf_counter() - started
    WALL[phase] += elapsed - nested
    if _STACK:
        _STACK[-1][1] += elapsed


def timed(phase, fn):
    """``fn`` wrapped so its exclusive wall time adds to ``WALL[phase(args)]``."""
    name = phase if callable(phase) else (lambda *a, **k: phase)
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args, **kwargs):
            _enter()
            try:
                return await fn(*args, **kwargs)
            finally:
                _leave(name(*args, **kwargs))
        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _enter()
        try:
            return fn(*args, **kwargs)
        finally:
            _leave(name(*args, **kwargs))
    return wrapper


def cell_phase(client, cell, cell_index, *args, **kwargs) -> str:
    from kms_course.lessons.cells import course

    role = course(cell).get("role")
    first_code = next(i for i, c in enumerate(client.nb.cells) if c.cell_type == "code")
    if cell_index == first_code:
        return "cell: setup (first code cell)"
    if role == "probe":
        return "cell: answer probes (in the kernel)"
    if role == "solution":
        return "cell: student solutions"
    return "cell: lesson cells" if cell.cell_type == "code" else "cell: markdown (skipped)"


def patch() -> None:
    import nbclient

    import kms_course.instructor.grading.execute as execute
    import kms_course.instructor.grading.sandbox as sandbox
    import kms_course.instructor.grading.worker as worker

    # the package's attribute of that name is the function
    # (kms_course.instructor.transforms._Package)
    tmc = importlib.import_module("kms_course.instructor.transforms.take_master_cells")

    nc = nbclient.NotebookClient
    nc.async_start_new_kernel = timed("kernel start: launch (zygote fork, jail)",
                                      nc.async_start_new_kernel)
    nc.async_start_new_kernel_client = timed("kernel start: client, wait until ready",
                                            nc.async_start_new_kernel_client)
    nc.async_execute_cell = timed(cell_phase, nc.async_execute_cell)
    tmc.take_master_cells = timed("transform: take_master_cells", tmc.take_master_cells)
    execute.probe_answers = timed("transform: probe_answers", execute.probe_answers)
    worker.run_check = timed("checks (run_check, this process)", worker.run_check)
    sandbox.GradingServer.reset = timed("sandbox reset", sandbox.GradingServer.reset)
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    handle = MotoRequestHandler.handle

    def counted_handle(self):  # runs in the server's thread for this connection
        started = time.thread_time()
        try:
            return handle(self)
        finally:
            with _LOCK:
                SERVER_CPU[0] += time.thread_time() - started

    MotoRequestHandler.handle = counted_handle


def other_threads_cpu() -> tuple[float, float]:
    """CPU seconds of this process's live threads other than the main one: (Python threads,
    that is the sandbox server's; threads Python did not start, that is libzmq's I/O threads)."""
    python = {t.native_id for t in threading.enumerate()} - {threading.main_thread().native_id}
    main = threading.main_thread().native_id
    ours = theirs = 0
    for tid in os.listdir("/proc/self/task"):
        if int(tid) == main:
            continue
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        if int(tid) in python:
            ours += ticks
        else:
            theirs += ticks
    return ours / os.sysconf("SC_CLK_TCK"), theirs / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", default="03_creating_and_describing_keys")
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args(argv)
    group = CpuGroup("kms-breakdown")
    group.join()
    atexit.register(group.close)  # again at exit, when the worker's children are gone
    from bench_grading import build_class

    from kms_course.instructor.grading.store import ResultStore
    from kms_course.instructor.grading.submissions import discover
    from kms_course.instructor.grading.worker import GradeConfig, grade, init_worker

    patch()
    with tempfile.TemporaryDirectory() as tmp:
        build_class(args.lesson, args.count + 1, Path(tmp) / "class")
        subs = discover([str(Path(tmp) / "class")])
        out = Path(tmp) / "out"
        out.mkdir()
        store = ResultStore(str(out), os.urandom(32), {})
        started = time.perf_counter()
        init_worker(GradeConfig(lesson=args.lesson, hidden=(str(out),)))
        init_seconds = time.perf_counter() - started
        store.write(grade(subs[0].to_dict()))  # warm-up, not counted
        WALL.clear()
        cpu0, self0, main0 = group.usage(), self_cpu(), time.thread_time()
        (_, zmq0), server0 = other_threads_cpu(), SERVER_CPU[0]
        walls = []
        for sub in subs[1:]:
            started = time.perf_counter()
            result = timed("grade (rest: read, lesson, kernel stop, jail close, summary)",
                           grade)(sub.to_dict())
            timed("result writing (ResultStore.write)", store.write)(result)
            walls.append(time.perf_counter() - started)
        cpu = group.usage() - cpu0
        own = self_cpu() - self0
        main_thread = time.thread_time() - main0
        _, zmq1 = other_threads_cpu()
        zmq = zmq1 - zmq0
        server = SERVER_CPU[0] - server0
        rest = own - main_thread - zmq - server  # other threads, ended ones included
    group.close()
    n = len(walls)
    print(f"breakdown: {n} submissions of {args.lesson} graded serially in one jailed worker "
          f"(after init_worker {init_seconds:.2f} s and one untimed submission)")
    print(f"  wall per submission: mean {sum(walls) / n * 1000:.0f} ms, median "
          f"{statistics.median(walls) * 1000:.0f} ms; by phase (exclusive, ms per submission):")
    for phase, seconds in sorted(WALL.items(), key=lambda item: -item[1]):
        print(f"    {phase:<62} {seconds / n * 1000:7.1f}")
    print(f"  CPU per submission ({group.source}): {cpu / n * 1000:.0f} ms in all")
    print(f"    grading worker process (getrusage RUSAGE_SELF): {own / n * 1000:.0f} ms = main "
          f"thread {main_thread / n * 1000:.0f} ms (transforms, nbclient, checks, writing) + "
          f"libzmq I/O threads {zmq / n * 1000:.0f} ms + sandbox server (moto request threads) "
          f"{server / n * 1000:.0f} ms + other threads {rest / n * 1000:.0f} ms")
    print(f"    kernels, zygote and jail (group minus worker process): "
          f"{(cpu - own) / n * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
