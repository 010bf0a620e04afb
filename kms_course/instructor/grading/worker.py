"""Grade one submission in a worker process that owns one sandbox server for its lifetime.

``init_worker(config)`` runs once per worker process (the pool's initializer): it starts the
guarded course server (:mod:`kms_course.instructor.grading.sandbox`), makes the grader's KMS client
and loads the master notebooks. ``grade(submission)`` then resets the sandbox, builds the notebook
to run (master cells + the student's solution sources), executes it in a fresh kernel, and returns
a plain-data result (pickled back to the parent, which writes it).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

from kms_course.lessons.exercises import CATALOGUE_ENV, Verdict, catalogue, run_check
from kms_course.instructor.grading import execute as execution
from kms_course.instructor.grading.jail import HOME as JAIL_HOME
from kms_course.instructor.grading.jail import MiB, JailLimits, python_trees, secret_paths
from kms_course.instructor.grading.masters import Master, cached_masters
from kms_course.instructor.grading.submissions import (
    identify_lesson,
    name_and_content_disagree,
    read_notebook,
    sha256,
)


@dataclass(frozen=True)
class GradeConfig:
    """Grading settings (seconds, characters); picklable for the worker pool."""

    masters: str | None = None
    lesson: str | None = None
    cell_timeout: float = execution.CELL_TIMEOUT
    submission_timeout: float = execution.SUBMISSION_TIMEOUT
    max_cell_output: int = execution.MAX_CELL_OUTPUT
    max_total_output: int = execution.MAX_TOTAL_OUTPUT
    keep_checks: bool = False  # validate: run the check cells too (probes after them)
    #: why ``lesson`` is set: "option" (--lesson) or "class" (the class's lesson, see
    #: :mod:`kms_course.instructor.grading.class_lesson`); it only changes the wrong-lesson message
    lesson_by: str = "option"
    #: run each kernel in its own jail (:mod:`kms_course.instructor.grading.jail`); ``validate``
    #: runs the instructor's own masters, which call the checks in the kernel, unjailed
    jail: bool = True
    limits: JailLimits = JailLimits()
    #: paths no jail may see even inside a visible folder (``--out``, the submissions)
    hidden: tuple[str, ...] = ()


class _Worker:
    def __init__(self, config: GradeConfig):
        from kms_course.instructor.grading.masters import default_folder
        from kms_course.instructor.grading.sandbox import GradingServer

        self.config = config
        self.masters = cached_masters(config.masters)
        self.server = GradingServer().start()
        self.kms = self.server.kms()
        masters_folder = config.masters or default_folder()
        self.trees = tuple(map(str, python_trees()))
        self.secrets = tuple(map(str, secret_paths([masters_folder, *config.hidden])))
        self.catalogue = catalogue()


_WORKER: _Worker | None = None


def init_worker(config: GradeConfig) -> None:
    """Pool initializer: start this process's sandbox server and load the masters (once)."""
    global _WORKER
    _reseed_moto()
    if _WORKER is None or _WORKER.config != config:
        _WORKER = _Worker(config)


def _reseed_moto() -> None:
    """Give this process moto's random generator a fresh seed. moto draws key IDs from its own
    ``random.Random`` (not the ``random`` module, which Python reseeds in a forked child), so
    every worker forked from one parent would otherwise hand out the same key IDs in the same
    order (https://docs.python.org/3/library/os.html#os.register_at_fork)."""
    from moto.moto_api._internal import mock_random

    mock_random.seed()


def _zero(master: Master, message: str) -> dict[str, dict[str, Any]]:
    return {
        e.id: {
            "points": 0,
            "max_points": e.points,
            "passed": False,
            "message": message,
            "hint": e.hint,
            "error": None,
            "submitted": False,
        }
        for e in master.exercises
    }


def grade(submission: dict[str, str]) -> dict[str, Any]:
    """Grade one submission (``Submission.to_dict()``) and return its result (plain data).

    The result holds ``student``, ``path``, ``key``, ``sha256``, ``lesson``, ``status`` (``"ok"``
    or comma-joined issue words), ``messages``, ``exercises`` (id -> points, max_points, passed,
    message, hint, error, submitted), ``total``, ``max_points``, ``seconds``, ``graded_as``
    (the lesson the batch was graded against, or None) and ``limits`` (``cell`` and
    ``submission`` timeouts in seconds). A file whose name names one lesson and whose exercise
    ids name another gets the status ``wrong-lesson`` and zero points. Never raises for anything
    in the submission.
    """
    assert _WORKER is not None, "init_worker() was not called"
    w = _WORKER
    started = time.monotonic()
    result: dict[str, Any] = {
        **submission,
        "sha256": sha256(submission["path"]),
        "lesson": None,
        "status": "ok",
        "messages": [],
        "exercises": {},
        "total": 0,
        "max_points": 0,
    }
    issues: list[str] = []
    nb, read_status, read_message = read_notebook(submission["path"])
    lessons = {name: [e.id for e in m.exercises] for name, m in w.masters.items()}
    lesson, how = identify_lesson(nb, submission["path"], lessons)
    wanted = w.config.lesson
    result["graded_as"] = wanted
    result["jailed"] = w.config.jail
    result["limits"] = {"cell": w.config.cell_timeout, "submission": w.config.submission_timeout}
    if read_status != "ok":
        issues.append(read_status)
        result["messages"].append(read_message)
    conflict = name_and_content_disagree(nb, submission["path"], lessons)
    if conflict:
        named, holds = conflict
        issues.append("wrong-lesson")
        result["messages"].append(
            f"the file is named for lesson {named} but holds the exercises of lesson {holds}: "
            f"submit your {named} notebook under that name, or have lesson {holds} graded "
            f"separately with --lesson {holds}"
        )
        lesson = wanted or named
        nb = None
    elif wanted and lesson and lesson != wanted:
        issues.append("wrong-lesson")
        if w.config.lesson_by == "class":
            result["messages"].append(
                f"this notebook is lesson {lesson} (by its {how}), not the class's lesson "
                f"{wanted}: grade it separately with --lesson {lesson}"
            )
        else:
            result["messages"].append(
                f"this notebook is lesson {lesson} (by its {how}), not {wanted}: submit {wanted}.ipynb"
            )
        lesson = wanted
        nb = None
    elif lesson is None:
        lesson = wanted
        if read_status == "ok":
            issues.append("unknown-lesson")
            result["messages"].append(f"cannot tell which lesson this is: {how}")
    master = w.masters.get(lesson) if lesson else None
    result["lesson"] = lesson
    if master is None:
        result["status"] = ",".join(issues) or "unknown-lesson"
        result["seconds"] = time.monotonic() - started
        return result
    if nb is None or issues:
        result["exercises"] = _zero(master, f"not graded: {'; '.join(result['messages'])}")
        result.update(status=",".join(issues), max_points=master.max_points)
        result["seconds"] = time.monotonic() - started
        return result
    result.update(_run(w, master, nb))
    result["seconds"] = time.monotonic() - started
    return result


def _run(w: _Worker, master: Master, nb) -> dict[str, Any]:
    from kms_course.instructor.transforms import take_master_cells

    graded = take_master_cells(nb, master.nb)
    submitted = {
        (c.metadata.get("kms_course") or {}).get("exercise"): c.metadata["kms_course"]["submitted"]
        for c in graded.cells
        if "submitted" in (c.metadata.get("kms_course") or {})
    }
    limits = w.config.limits
    w.server.reset(limits.sandbox_request_mib * MiB, limits.sandbox_total_mib * MiB)
    options = dict(
        cell_timeout=w.config.cell_timeout,
        submission_timeout=w.config.submission_timeout,
        max_cell_output=w.config.max_cell_output,
        max_total_output=w.config.max_total_output,
        keep_checks=w.config.keep_checks,
    )
    decide = lambda ex, values: run_check(ex, w.kms, values)  # noqa: E731
    if w.config.jail:
        with w.server.channel() as serve:
            spec = execution.JailSpec(serve, limits, w.trees, w.secrets)
            report = execution.execute(
                graded, master.answers(), decide,
                env={**w.server.kernel_env(f"{JAIL_HOME}/.kms-course", jailed=True),
                     CATALOGUE_ENV: w.catalogue},
                cwd=JAIL_HOME, jail=spec, **options,
            )
        return summarize(master, report, submitted)
    home = tempfile.mkdtemp(prefix="kms-grade-home-")
    cwd = tempfile.mkdtemp(prefix="kms-grade-cwd-")
    try:
        report = execution.execute(
            graded, master.answers(), decide, env=w.server.kernel_env(home), cwd=cwd, **options
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(cwd, ignore_errors=True)
    return summarize(master, report, submitted)


def _unfinished(error: str, verdict: Verdict) -> str:
    """The message for an exercise whose solution cell raised or timed out (it scores 0)."""
    from kms_course.lessons.hints import hint_for_error_text

    stopped = f"Your solution cell did not run to the end ({error.rstrip('. ')})"
    hint = hint_for_error_text(error)  # what the lab hints under the same error
    if hint:
        stopped = f"{stopped}. {hint.rstrip('.')}"
    if verdict.passed:
        return (f"{stopped}. It scores 0 although the values it left would pass the check: a "
                "solution must run without errors.")
    return f"{stopped}. {verdict.message}"


def summarize(master: Master, report: execution.ExecutionReport, submitted: dict) -> dict[str, Any]:
    """Turn an execution report into the result's ``exercises``, totals and status."""
    exercises: dict[str, dict[str, Any]] = {}
    unreached = "not graded: " + ("; ".join(report.messages) or "its check was never reached")
    for ex in master.exercises:
        verdict = report.verdicts.get(ex.id) or Verdict(
            ex.id, False, 0, ex.points, unreached, ex.hint
        )
        item = asdict(verdict)
        item.pop("exercise")
        item["error"] = report.solution_errors.get(ex.id)
        placeholder = bool(item["error"]) and item["error"].startswith("NotImplementedError")
        if item["error"] and (verdict.passed or not placeholder):
            # an answer must run to the end, as the lab's check says (kms_course.lessons.cellruns):
            # any of its cells that raised or timed out, the stub's NotImplementedError included
            # (an answer written in an added cell below a stub left in place), scores 0
            item.update(passed=False, points=0, message=_unfinished(item["error"], verdict))
        item["submitted"] = bool(submitted.get(ex.id, False))
        exercises[ex.id] = item
    issues = list(report.issues)
    real_errors = [e for e in report.solution_errors.values() if not e.startswith("NotImplementedError")]
    if real_errors and "solution-error" not in issues:
        issues.append("solution-error")
    messages = list(report.messages) + [f"lesson {e}" for e in report.other_errors]
    if report.other_errors:
        issues.append("lesson-cell-error")
    return {
        "exercises": exercises,
        "total": sum(e["points"] for e in exercises.values()),
        "max_points": master.max_points,
        "status": ",".join(issues) or "ok",
        "messages": messages,
        "check_errors": dict(report.check_errors),
        "other_errors": list(report.other_errors),
    }
