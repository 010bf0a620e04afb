"""``kms-course grade SUBMISSIONS... --out DIR``: grade a class into a gradebook.

Each submission runs in a fresh kernel against a sandbox owned by the grader, with every
non-solution cell taken from the master notebook; each exercise's verdict is decided in the
grader's process (see :mod:`kms_course.instructor.grading`). Writes ``OUT/results/<student>/*.json``
as it goes, then ``OUT/grades.csv``, ``OUT/grades.json`` and ``OUT/feedback/<student>.html``.
A re-run reuses only the results the grader can prove it wrote (HMAC-tagged entries of
``OUT/manifest.json``, :mod:`kms_course.instructor.grading.store`), made from the same notebook
under the same grading fingerprint (:mod:`kms_course.instructor.grading.fingerprint`); the class
files hold only the submissions given in this run. One grader at a time per ``--out``
(:mod:`kms_course.instructor.grading.out_lock`); a full disk or Ctrl-C ends the run with one line
saying what was kept and how to resume.

Which lesson each submission is graded against: :data:`LESSON_RULE` (shown by
``kms-course grade --help``; :mod:`kms_course.instructor.grading.class_lesson` applies it).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kms_course.instructor import gradebook
from kms_course.errors import CourseError
from kms_course.instructor.grading import limits as execution

#: The lesson rule, shown by ``kms-course grade --help``.
LESSON_RULE = """Without --lesson, each submission's lesson is the one its file name names, else the one
its exercise ids name, and:
  * if at least half of the students submitted notebooks of two or more lessons (one folder
    per student holding several lesson notebooks), each submission is graded as its own
    lesson and grades.csv has the columns of every lesson submitted;
  * otherwise the class's lesson is the one most submissions belong to: every submission is
    graded against it, and one of another lesson gets the status wrong-lesson (grade it
    separately with --lesson <stem>). A tie between lessons is an error: pass --lesson.
A file whose name and exercise ids name different lessons is always wrong-lesson; a symbolic
link (never graded) counts for no lesson."""




#: Address schemes of a Dask scheduler (https://distributed.dask.org/en/stable/communications.html).
SCHEDULER_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def scheduler_address(text: str) -> str:
    """``--scheduler``'s value, checked: ``SCHEME://HOST:PORT`` with a Dask address scheme.

    Raises:
        argparse.ArgumentTypeError: anything else (argparse prints it as one line).
    """
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in SCHEDULER_SCHEMES or not rest:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Dask scheduler address: give the one `dask scheduler` prints, "
            "e.g. tcp://10.0.0.5:8786")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kms-course grade``."""
    parser.description = (parser.description or "") + "\n\n" + LESSON_RULE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "submissions", nargs="+",
        help="notebooks, student folders (one per student) or class folders (one sub-folder per student)",
    )
    parser.add_argument(
        "--out", required=True,
        help="folder for results, grades.csv, grades.json and feedback (created if needed; "
        "must not be a file)",
    )
    parser.add_argument("--masters", default=None, help="folder of master notebooks (default: notebooks/)")
    parser.add_argument(
        "--lesson", default=None,
        help="grade every submission against this lesson, e.g. 03_creating_and_describing_keys "
        "(default: the rule above)",
    )
    execution.add_execution_options(parser, "submission")
    parser.add_argument(
        "--force", action="store_true",
        help="grade again submissions already graded (default: reuse the result of an unchanged file)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (default: show it)")
    parser.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", type=scheduler_address,
        help="grade on this Dask cluster, e.g. tcp://10.0.0.5:8786 (its workers need kms-course "
        "installed; submissions and masters are sent to them; default: this machine)",
    )
    parser.add_argument(
        "--executor", choices=("pool", "dask"), default="pool",
        help="how to grade on this machine without --scheduler: a process pool, or an embedded "
        "Dask LocalCluster (default: %(default)s, measured the faster on one machine)",
    )
    parser.add_argument(
        "--no-jail", action="store_true",
        help="run kernels without the bubblewrap jail: not isolated, only for submissions you "
        "trust (default: each kernel in its own jail)",
    )
    # late penalties (issue 17 item 4): applied to the class files only, never to results
    parser.add_argument(
        "--late-rules", default=None, metavar="FILE",
        help="apply late penalties and extensions from this TOML (or JSON) rule file: due, "
        "penalty_per_day, [extensions] (format: kms_course.instructor.lms.late; default: no penalty)",
    )


def check_out(out: str, submissions: list[str] = ()) -> Path:
    """Make sure ``--out`` is a folder this process can write, and not a submission folder or
    inside one (a gradebook there would hand one student the whole class's grades, and the next
    run would take its folders for students), before any student code runs.

    Returns:
        The folder (created if needed).

    Raises:
        CourseError: ``out`` is empty, an existing file, inside (or equal to) a submission
            folder, or cannot be created or written.
    """
    from kms_course.instructor.out_folder import writable_folder

    if str(out).strip():
        target = Path(out).resolve()
        for given in submissions:
            folder = Path(given).resolve()
            if folder.is_dir() and (target == folder or folder in target.parents):
                raise CourseError(
                    f"--out {out} is inside the submissions {given}: pass a folder outside them "
                    "for the gradebook.")
    return writable_folder(out, "--out", "the gradebook")


def run(args: argparse.Namespace) -> int:
    """Grade, write the gradebook and feedback; 0 when every submission got a result.

    Holds the lock of ``--out`` for the whole run (:mod:`kms_course.instructor.grading.out_lock`).
    Ctrl-C (SIGINT) or SIGTERM stops the workers at once, keeps every finished result and returns
    ``128 + signal`` (130 for Ctrl-C) after one line saying what was saved and how to resume.

    Raises:
        CourseError: a bad ``--late-rules`` file
            (:func:`kms_course.instructor.lms.late.load_rules`), ``--out`` is not a writable folder
            or another grader holds it, no master notebooks, an unknown ``--lesson``, no notebooks
            in the submissions, submissions split evenly between lessons without ``--lesson``, the
            grader's key is unusable, or a gradebook file cannot be written
            (:class:`~kms_course.instructor.grading.store.WriteFailed`).
        FileNotFoundError: a submission path does not exist.
    """
    from kms_course.instructor.grading.out_lock import hold

    if getattr(args, "late_rules", None):  # a bad rule file stops the run before anything else
        from kms_course.instructor.lms.late import load_rules

        args.late_rules_loaded = load_rules(args.late_rules)
    check_out(args.out, list(args.submissions))
    _check_jail(getattr(args, "no_jail", False))
    with hold(args.out):
        return _run_locked(args)


def _check_jail(no_jail: bool) -> None:
    """Stop before anything runs when kernels cannot be jailed; warn when asked not to."""
    from kms_course.instructor.grading.jail import unavailable

    if no_jail:
        print("kms-course grade: warning: --no-jail: student code runs unisolated as your own "
              "user (it can read and change your files); grades.json records that this batch "
              "was not jailed.", file=sys.stderr)
        return
    reason = unavailable()
    if reason:
        raise CourseError(f"cannot isolate the submissions: {reason}.")


def _run_locked(args: argparse.Namespace) -> int:
    from kms_course.instructor.feedback import write_all
    from kms_course.instructor.grading import class_lesson
    from kms_course.instructor.grading.fingerprint import Fingerprints
    from kms_course.instructor.grading.grader_key import key_path, load_key
    from kms_course.instructor.grading.masters import cached_masters
    from kms_course.instructor.grading.store import ResultStore, regrade_reasons, writing
    from kms_course.instructor.grading.submissions import discover, folders_without_notebooks, sha256

    masters = cached_masters(args.masters)
    if args.lesson and args.lesson not in masters:
        raise CourseError(f"Unknown --lesson {args.lesson!r}; known: {', '.join(masters)}.")
    submissions = discover(args.submissions)
    if not submissions:
        raise CourseError(f"no notebooks found in {', '.join(args.submissions)}: pass .ipynb files or folders holding them.")
    for student in folders_without_notebooks(args.submissions):
        print(f"kms-course grade: warning: {student!r} submitted no notebook (.ipynb) and gets no "
              "grade: check their folder.", file=sys.stderr)
    lesson_ids = {name: [e.id for e in m.exercises] for name, m in masters.items()}
    plan = class_lesson.plan(submissions, lesson_ids, args.lesson)
    if plan.by == "class" and len(plan.counts) > 1:
        print(f"Grading against the class's lesson {plan.lesson} ({plan.counts[plan.lesson]} of "
              f"{sum(plan.counts.values())} submissions); the others are wrong-lesson.")
    config = _config(args, plan, [str(key_path().parent)])
    prints = Fingerprints(config, {name: m.path for name, m in masters.items()})
    fingerprints = {(s.student, s.key): prints.of(plan.graded_against(s)) for s in submissions}
    store = ResultStore(args.out, load_key(), fingerprints)
    todo, reasons = [], []
    for submission in submissions:
        stale = [] if args.force else store.stale(submission, plan.lesson, sha256(submission.path))
        if stale is not None:
            todo.append(submission)
            if stale:
                reasons.append(stale)
    line = regrade_reasons(reasons)
    if line:
        print(line)
    skipped = len(submissions) - len(todo)
    started = time.monotonic()
    with _signals_stop_the_batch(store) as stopped:
        try:
            where = {"scheduler": getattr(args, "scheduler", None),
                     "executor": getattr(args, "executor", "pool")}
            fresh = _grade_with_progress(todo, config, args.jobs, store, show=not args.no_progress,
                                         where=where)
        except BaseException:
            stopped.saving = True  # a second Ctrl-C must not cut the manifest short
            _save_quietly(store)  # the manifest on disk must still be the grader's own
            if stopped.signum is None:
                raise
            fresh = None
    if fresh is None:
        print(f"kms-course grade: stopped by {stopped.name}: {store.fresh} result(s) of this run "
              f"saved in {args.out} ({len(todo) - store.fresh} not graded). Run the same command "
              "again to finish: finished results are reused.", file=sys.stderr)
        return 128 + stopped.signum
    elapsed = time.monotonic() - started
    results = store.finish(submissions, fresh)
    graded_lessons = {r["lesson"] for r in results if r.get("lesson") in masters}
    if plan.lesson:
        graded_lessons = {plan.lesson}
    lessons = {
        name: [(e.id, e.points) for e in m.exercises]
        for name, m in masters.items()
        if name in graded_lessons
    }
    late = _late_plan(args, results)
    with writing("grades.csv and grades.json", args.out, store.fresh):
        rows = gradebook.write_class_files(args.out, results, lessons, late=late)
    with writing("feedback/", args.out, store.fresh):
        write_all(args.out, results, late={r["student"]: r.get("late") for r in rows} if late else None)
    rate = len(todo) / elapsed * 60 if todo and elapsed > 0 else 0.0
    print(
        f"Graded {len(todo)} submission(s) in {elapsed:.1f} s ({rate:.0f}/min, {args.jobs} worker(s)); "
        f"skipped {skipped} already graded. {len(rows)} student(s) in {args.out}/grades.csv"
    )
    for row in rows:
        if row["status"] != "ok":
            print(f"  {row['student']}: {row['total']}/{row['max_points']} {row['status']}")
    return 0


def _late_plan(args: argparse.Namespace, results: list[dict]):
    """The :class:`~kms_course.instructor.lms.late.LatePlan` of ``--late-rules``, or None without
    it."""
    rules = getattr(args, "late_rules_loaded", None)
    if rules is None:
        return None
    from kms_course.instructor.lms.late import LatePlan

    return LatePlan(rules, results)


def _config(args: argparse.Namespace, plan, private: list[str]):
    """The batch's ``GradeConfig``; the jail's fields only where this version of it has them."""
    import dataclasses

    from kms_course.instructor.grading.worker import GradeConfig

    values = dict(
        masters=args.masters,
        lesson=plan.lesson,
        lesson_by=plan.by,
        cell_timeout=args.cell_timeout,
        submission_timeout=args.timeout,
    )
    fields = {f.name for f in dataclasses.fields(GradeConfig)}
    if "jail" in fields:
        values["jail"] = not getattr(args, "no_jail", False)
    if "hidden" in fields:  # what no jail may see: the gradebook, the submissions, the key
        values["hidden"] = tuple(str(Path(p).resolve()) for p in (args.out, *args.submissions, *private))
    return GradeConfig(**values)


def _save_quietly(store) -> None:
    """Write the manifest if the disk lets us; else the journal already holds every entry."""
    from kms_course.instructor.grading.store import WriteFailed

    try:
        store.save()
    except WriteFailed:
        pass


class _Stop:
    """Which signal stopped the batch (``signum`` None: none did); ``saving``: signals are
    ignored while the manifest is written after it."""

    signum: int | None = None
    saving: bool = False

    @property
    def name(self) -> str:
        return "Ctrl-C" if self.signum == signal.SIGINT else signal.Signals(self.signum).name


@contextmanager
def _signals_stop_the_batch(store) -> Iterator[_Stop]:
    """While the block runs, SIGINT and SIGTERM stop the pool's workers at once and raise
    ``KeyboardInterrupt`` in the grader, never in the middle of a result being stored (it is
    raised when that write is done). Without this the pool waited for every running and queued
    submission before the grader could exit (95 s for a class of slow notebooks).

    In a forked worker the inherited handler does what Python does by default (SIGINT raises
    KeyboardInterrupt, SIGTERM ends the process).
    Outside the main thread (where signals cannot be handled) nothing is changed.
    """
    stop = _Stop()
    grader = os.getpid()

    def handler(signum, frame):
        if os.getpid() != grader:  # a forked worker: what Python does by default
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if stop.saving:
            return
        if stop.signum is None:
            stop.signum = signum
            _stop_workers()
        if store.writing:
            store.interrupted = KeyboardInterrupt()
            return
        raise KeyboardInterrupt

    try:
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield stop
        return
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _stop_workers() -> None:
    """Kill this process's pool workers (SIGKILL), so the pool's shutdown does not wait for
    their submissions; each worker's zygote sees its pipe close and exits, and the kernels die
    with their zygote (:mod:`kms_course.instructor.grading.zygote`).

    Not SIGTERM: a process-directed signal goes to any thread of the worker, and Python runs its
    handler only in the main thread, which sat in the event loop's ``epoll_wait`` until the
    cell's timeout (measured: 52 s with ``--cell-timeout 50``).
    """
    import multiprocessing

    try:
        children = multiprocessing.active_children()
    except RuntimeError:  # the set of children changed while it was listed: once more
        children = multiprocessing.active_children()
    for child in children:
        try:
            child.kill()
        except (OSError, ValueError):
            pass


def _grade_with_progress(todo, config, jobs, store, show: bool, where: dict | None = None) -> list[dict]:
    from functools import partial

    from kms_course.instructor.grading.pool import grade_all

    grade_all = partial(grade_all, **(where or {}))

    def write(result):
        try:
            store.write(result)
        except BaseException:  # a full disk or a signal: the pool must not wait for the others
            _stop_workers()
            raise

    if not show or not todo:
        return grade_all([s.to_dict() for s in todo], config, jobs, write)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

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
