"""``kms-course grade SUBMISSIONS... --out DIR``: grade a class into a gradebook.

Each submission runs in a fresh kernel against a sandbox owned by the grader, with every
non-solution cell taken from the master notebook; each exercise's verdict is decided in the
grader's process (see :mod:`kms_course.grading`). Writes ``OUT/results/<student>/*.json`` as it
goes, then ``OUT/grades.csv``, ``OUT/grades.json`` and ``OUT/feedback/<student>.html``.
"""

from __future__ import annotations

import argparse
import time

from kms_course.errors import CourseError
from kms_course.grading import limits as execution


def default_jobs() -> int:
    """Worker processes to use by default: one per core this process may run on, plus one.

    The extra worker keeps the cores busy while the others wait on kernel start-up and message
    round trips (measured: 200 lesson-03 submissions on 2 cores took 143 s with 2 workers and
    119 s with 3; benchmarks/bench_grading.py).
    """
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores) + 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kms-course grade``."""
    parser.add_argument("submissions", nargs="+", help="notebooks, student folders or class folders")
    parser.add_argument("--out", required=True, help="folder for results, grades and feedback")
    parser.add_argument("--masters", default=None, help="master notebooks (default: notebooks/)")
    parser.add_argument("--lesson", default=None, help="grade only this lesson, e.g. 03_creating_and_describing_keys")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="worker processes (default: cores + 1)")
    parser.add_argument("--cell-timeout", type=float, default=execution.CELL_TIMEOUT, help="seconds per cell (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=execution.SUBMISSION_TIMEOUT, help="seconds per submission (default %(default)s)")
    parser.add_argument("--force", action="store_true", help="grade again submissions already graded")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Grade, write the gradebook and feedback; 0 when every submission got a result.

    Raises:
        CourseError: no master notebooks, an unknown ``--lesson``, or bad timeouts.
    """
    from kms_course import gradebook
    from kms_course.feedback import write_all
    from kms_course.grading.masters import cached_masters
    from kms_course.grading.submissions import discover, sha256
    from kms_course.grading.worker import GradeConfig

    if args.cell_timeout <= 0 or args.timeout <= 0:
        raise CourseError("--cell-timeout and --timeout must be positive numbers of seconds.")
    masters = cached_masters(args.masters)
    if args.lesson and args.lesson not in masters:
        raise CourseError(f"Unknown --lesson {args.lesson!r}; known: {', '.join(masters)}.")
    submissions = discover(args.submissions)
    # Snapshot the stored results before any student code runs: a kernel runs as the same OS
    # user and could write files, so the gradebook is built from this snapshot plus this run's
    # results held in memory, and every result file is rewritten from memory at the end.
    previous = {(r["student"], r.get("key")): r for r in gradebook.load_results(args.out)}
    todo = [
        s for s in submissions
        if args.force or previous.get((s.student, s.key), {}).get("sha256") != sha256(s.path)
        or not sha256(s.path)
    ]
    skipped = len(submissions) - len(todo)
    config = GradeConfig(
        masters=args.masters,
        lesson=args.lesson,
        cell_timeout=args.cell_timeout,
        submission_timeout=args.timeout,
    )
    started = time.monotonic()
    fresh = _grade_with_progress(todo, config, args.jobs, args.out, show=not args.no_progress)
    elapsed = time.monotonic() - started
    final = {**previous, **{(r["student"], r["key"]): r for r in fresh}}
    results = sorted(final.values(), key=lambda r: (r["student"], r.get("key") or ""))
    for result in results:
        gradebook.write_result(args.out, result)
    stray = {(r["student"], r.get("key")) for r in gradebook.load_results(args.out)} - set(final)
    for student, key in sorted(stray, key=str):
        print(f"  ignored a result file the grader did not write: results/{student}/{key}.json")
    graded_lessons = {r["lesson"] for r in results if r.get("lesson") in masters}
    if args.lesson:
        graded_lessons = {args.lesson}
    lessons = {
        name: [(e.id, e.points) for e in m.exercises]
        for name, m in masters.items()
        if name in graded_lessons
    }
    rows = gradebook.write_class_files(args.out, results, lessons)
    write_all(args.out, results)
    rate = len(todo) / elapsed * 60 if todo and elapsed > 0 else 0.0
    print(
        f"Graded {len(todo)} submission(s) in {elapsed:.1f} s ({rate:.0f}/min, {args.jobs} worker(s)); "
        f"skipped {skipped} already graded. {len(rows)} student(s) in {args.out}/grades.csv"
    )
    for row in rows:
        if row["status"] != "ok":
            print(f"  {row['student']}: {row['total']}/{row['max_points']} {row['status']}")
    return 0


def _grade_with_progress(todo, config, jobs, out, show: bool) -> list[dict]:
    from kms_course import gradebook
    from kms_course.grading.pool import grade_all

    def write(result):
        gradebook.write_result(out, result)

    if not show or not todo:
        return grade_all([s.to_dict() for s in todo], config, jobs, write)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), auto_refresh=False,  # no refresh thread: workers are forked
    ) as progress:
        task = progress.add_task("grading", total=len(todo))

        def write_and_advance(result):
            write(result)
            progress.advance(task)
            progress.refresh()

        return grade_all([s.to_dict() for s in todo], config, jobs, write_and_advance)
