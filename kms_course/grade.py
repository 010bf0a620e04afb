"""``kms-course grade SUBMISSIONS... --out DIR``: grade a class into a gradebook.

Each submission runs in a fresh kernel against a sandbox owned by the grader, with every
non-solution cell taken from the master notebook; each exercise's verdict is decided in the
grader's process (see :mod:`kms_course.grading`). Writes ``OUT/results/<student>/*.json`` as it
goes, then ``OUT/grades.csv``, ``OUT/grades.json`` and ``OUT/feedback/<student>.html``.
A re-run reuses only the results the grader itself wrote (``OUT/manifest.json``, see
:mod:`kms_course.gradebook`); the class files hold only the submissions given in this run.

Which lesson each submission is graded against
(:mod:`kms_course.grading.class_lesson`):

Without --lesson, each submission's lesson is the one its file name names, else the one
its exercise ids name, and:
  * if some student submitted notebooks of two or more lessons (one folder per student
    holding several lesson notebooks), each submission is graded as its own lesson and
    grades.csv has the columns of every lesson submitted;
  * otherwise the class's lesson is the one most submissions belong to: every submission is
    graded against it, and one of another lesson gets the status wrong-lesson (grade it
    separately with --lesson <stem>). A tie between lessons is an error: pass --lesson.
A file whose name and exercise ids name different lessons is always wrong-lesson.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from kms_course import gradebook
from kms_course.errors import CourseError
from kms_course.grading import limits as execution

#: The lesson rule, shown by ``kms-course grade --help``.
LESSON_RULE = """Without --lesson, each submission's lesson is the one its file name names, else the one
its exercise ids name, and:
  * if some student submitted notebooks of two or more lessons (one folder per student
    holding several lesson notebooks), each submission is graded as its own lesson and
    grades.csv has the columns of every lesson submitted;
  * otherwise the class's lesson is the one most submissions belong to: every submission is
    graded against it, and one of another lesson gets the status wrong-lesson (grade it
    separately with --lesson <stem>). A tie between lessons is an error: pass --lesson.
A file whose name and exercise ids name different lessons is always wrong-lesson."""




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


def check_out(out: str) -> Path:
    """Make sure ``--out`` is a folder this process can write, before any student code runs.

    Returns:
        The folder (created if needed).

    Raises:
        CourseError: ``out`` is an existing file, or cannot be created or written.
    """
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise CourseError(f"--out {out} is a file, not a folder: pass a folder for the gradebook.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise CourseError(f"--out {out}: cannot create or write this folder ({reason}); pass another.") from None
    return folder


def run(args: argparse.Namespace) -> int:
    """Grade, write the gradebook and feedback; 0 when every submission got a result.

    Raises:
        CourseError: ``--out`` is not a writable folder, no master notebooks, an unknown
            ``--lesson``, no notebooks in the submissions, or submissions split evenly between
            lessons without ``--lesson``.
        FileNotFoundError: a submission path does not exist.
    """
    from kms_course.feedback import write_all
    from kms_course.grading import class_lesson
    from kms_course.grading.masters import cached_masters
    from kms_course.grading.submissions import discover
    from kms_course.grading.worker import GradeConfig

    check_out(args.out)
    masters = cached_masters(args.masters)
    if args.lesson and args.lesson not in masters:
        raise CourseError(f"Unknown --lesson {args.lesson!r}; known: {', '.join(masters)}.")
    submissions = discover(args.submissions)
    if not submissions:
        raise CourseError(f"no notebooks found in {', '.join(args.submissions)}: pass .ipynb files or folders holding them.")
    lesson_ids = {name: [e.id for e in m.exercises] for name, m in masters.items()}
    plan = class_lesson.plan(submissions, lesson_ids, args.lesson)
    if plan.by == "class" and len(plan.counts) > 1:
        print(f"Grading against the class's lesson {plan.lesson} ({plan.counts[plan.lesson]} of "
              f"{sum(plan.counts.values())} submissions); the others are wrong-lesson.")
    store = _Store(args.out)
    todo = [s for s in submissions if args.force or not store.reusable(s, plan.lesson)]
    skipped = len(submissions) - len(todo)
    config = GradeConfig(
        masters=args.masters,
        lesson=plan.lesson,
        lesson_by=plan.by,
        cell_timeout=args.cell_timeout,
        submission_timeout=args.timeout,
    )
    started = time.monotonic()
    try:
        fresh = _grade_with_progress(todo, config, args.jobs, store, show=not args.no_progress)
    except BaseException:
        store.save()  # interrupted: the manifest on disk must still be the grader's own
        raise
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


class _Store:
    """The result files of ``OUT``, trusted only through the grader's manifest.

    Built before any student code runs: it reads the manifest, keeps the result files that match
    it and quarantines the rest. :meth:`write` records each new result; :meth:`finish` rewrites
    this run's results from memory, checks the kept files again, quarantines anything else and
    stores the manifest.
    """

    def __init__(self, out: str):
        self.out = out
        manifest = gradebook.read_manifest(out)
        trusted = gradebook.trusted_results(out, manifest)
        self.previous: dict[tuple[str, str], dict] = {}
        self.manifest: dict[str, str] = {}
        for name, result in trusted.items():
            path = gradebook.result_path(out, str(result.get("student")), str(result.get("key")))
            if gradebook.manifest_name(out, path) == name:
                self.previous[(result["student"], result["key"])] = result
                self.manifest[name] = manifest[name]
        self._report(gradebook.quarantine(out, set(self.manifest)))

    def reusable(self, submission, lesson: str | None) -> bool:
        """True if a trusted result exists for this file's content, graded against ``lesson``."""
        from kms_course.grading.submissions import sha256

        old = self.previous.get((submission.student, submission.key))
        digest = sha256(submission.path)
        return bool(old and digest and old.get("sha256") == digest and old.get("graded_as") == lesson)

    def write(self, result: dict) -> None:
        """Store one fresh result and record its bytes in the manifest (in memory)."""
        path, digest = gradebook.write_result(self.out, result)
        self.manifest[gradebook.manifest_name(self.out, path)] = digest

    def finish(self, submissions, fresh: list[dict]) -> list[dict]:
        """The results of this run's ``submissions`` (fresh ones first, else the trusted earlier
        ones), sorted by student; every file is stored and the manifest written."""
        wanted = {(s.student, s.key) for s in submissions}
        final = {k: r for k, r in self.previous.items() if k in wanted}
        final.update({(r["student"], r["key"]): r for r in fresh})
        results = sorted(final.values(), key=lambda r: (r["student"], r.get("key") or ""))
        for result in results:
            self.write(result)
        self.save()
        self._report(gradebook.quarantine(self.out, set(self.manifest)))
        return results

    def save(self) -> None:
        """Write the manifest from memory, keeping only the files still holding the bytes the
        grader wrote (a kernel may have overwritten one during the run)."""
        still = gradebook.trusted_results(self.out, self.manifest)
        self.manifest = {name: self.manifest[name] for name in still}
        gradebook.write_manifest(self.out, self.manifest)

    def _report(self, moved: list[str]) -> None:
        for name in moved:
            print(f"  ignored a result file the grader did not write: {name} "
                  f"(moved to {gradebook.QUARANTINE}/)")


def _grade_with_progress(todo, config, jobs, store: _Store, show: bool) -> list[dict]:
    from kms_course.grading.pool import grade_all

    write = store.write
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
