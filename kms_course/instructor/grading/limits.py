"""Default grading limits (light module: the CLI reads these without importing nbclient).

nbgrader's per-cell default is 30 s and it has no per-notebook limit
(https://nbgrader.readthedocs.io/en/stable/configuration/config_options.html, ``ExecutePreprocessor.timeout``);
we add one, as otter-grader's ``--timeout`` does.
"""

from __future__ import annotations

import argparse
import math
import os

#: Seconds a cell may run before the kernel is interrupted.
CELL_TIMEOUT = 30.0
#: Seconds a whole submission may run before its kernel is killed.
SUBMISSION_TIMEOUT = 180.0
#: Characters of output kept per cell, per notebook, and for an answer probe's cell.
MAX_CELL_OUTPUT = 100_000
MAX_TOTAL_OUTPUT = 1_000_000
MAX_PROBE_OUTPUT = 1_000_000


def default_jobs() -> int:
    """Worker processes to use by default: one per core this process may run on.

    Each worker brings a kernel, so a worker costs about 75 MiB (PSS, worker and kernel
    together). One more worker than cores kept the cores busier but gained little once a
    submission's CPU came down: 200 lesson-03 submissions on 2 cores, jailed, graded at 299-355
    per minute in 370-382 MiB with 2 workers and 311-387 per minute in 446-492 MiB with 3
    (``python benchmarks/bench_grading.py --jobs N``). ``--jobs`` sets another count.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


def seconds(text: str) -> float:
    """argparse type: a finite number of seconds greater than zero (``"30"``, ``"2.5"``).

    Raises:
        argparse.ArgumentTypeError: not a number, or nan, inf, zero or negative.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a finite number of seconds greater than 0 (e.g. 30)"
        )
    return value


def worker_count(text: str) -> int:
    """argparse type: a whole number of worker processes, at least 1.

    Raises:
        argparse.ArgumentTypeError: not a whole number, or less than 1.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of workers") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1 worker is needed (e.g. 2)")
    return value


def add_execution_options(parser: argparse.ArgumentParser, unit: str) -> None:
    """Add ``--jobs``, ``--cell-timeout`` and ``--timeout`` (seconds) to ``parser``.

    Args:
        parser: the command's parser (``grade`` or ``validate``).
        unit: what ``--timeout`` limits, in the help text (``"submission"``, ``"notebook"``).
    """
    parser.add_argument(
        "--jobs", type=worker_count, default=default_jobs(),
        help="worker processes, at least 1 (default: one per core, here %(default)s)",
    )
    parser.add_argument(
        "--cell-timeout", type=seconds, default=CELL_TIMEOUT,
        help="seconds a cell may run before it is interrupted (default: %(default)g seconds)",
    )
    parser.add_argument(
        "--timeout", type=seconds, default=SUBMISSION_TIMEOUT,
        help=f"seconds a whole {unit} may run before its kernel is killed "
        "(default: %(default)g seconds)",
    )
