"""Practice exercises: the registry of checks and the one-line ``check("id")`` of a check cell.

A lesson's exercise has three cells, identified by cell metadata, never by position (nbgrader's
conventions, https://nbgrader.readthedocs.io/en/stable/user_guide/creating_and_grading_assignments.html):

* a **solution cell** (``metadata.nbgrader.solution = true``) holding the answer between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the student version replaces that region with
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()``;
* a **check cell** (``metadata.nbgrader.grade = true``, ``grade_id`` = the exercise id,
  ``points``) whose whole source is ``check("<exercise id>")``;
* ``metadata.kms_course = {"exercise": id, "role": "solution" | "check"}`` on both.

A check verifies the sandbox's state and the student's named answers, never printed output. It is
written once, as a function registered with :func:`exercise`, and runs in two places: in the
student's kernel (``check("id")``, which reads the answers from the notebook's globals) and in the
grader's own process (which fetches the answers from the kernel and calls :func:`run_check`).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"


class CheckFailed(AssertionError):
    """Raised inside a checker: the exercise is not (yet) right; the message says why."""


class UnknownExercise(KeyError):
    """``check("id")`` or :func:`run_check` named an exercise id that no lesson registers."""

    def __str__(self) -> str:
        return str(self.args[0])

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"UnknownExercise: {self}"]


class ExerciseNotPassed(AssertionError):
    """Raised by :func:`check` when an exercise fails, so the check cell fails (nbval, grading).

    In Jupyter only the verdict and hint are shown, not a traceback.
    """

    def __init__(self, verdict: Verdict):
        super().__init__(verdict.text())
        self.verdict = verdict

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        return self.verdict.text().splitlines()


@dataclass(frozen=True)
class Exercise:
    """One practice exercise.

    Attributes:
        id: exercise id, also the check cell's ``grade_id`` (e.g. ``"create-hmac-key"``).
        lesson: notebook stem the exercise belongs to (e.g. ``"03_creating_and_describing_keys"``).
        points: points awarded when the check passes (int, > 0).
        hint: what to look at when the check fails, in one or two sentences.
        answers: names of the notebook variables the checker reads (fetched by the grader).
        checker: ``fn(kms, answers) -> None``; raises :class:`CheckFailed` when wrong.
    """

    id: str
    lesson: str
    points: int
    hint: str
    answers: tuple[str, ...]
    checker: Callable[[Any, Answers], None] = field(repr=False)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: ``passed``, ``points`` earned of ``max_points``, and why."""

    exercise: str
    passed: bool
    points: int
    max_points: int
    message: str = ""
    hint: str = ""

    def text(self) -> str:
        if self.passed:
            return f"PASSED {self.exercise}: {self.points}/{self.max_points} points. {self.message}".rstrip()
        lines = [f"NOT YET {self.exercise}: 0/{self.max_points} points. {self.message}"]
        if self.hint:
            lines.append(f"Hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise": self.exercise,
            "passed": self.passed,
            "points": self.points,
            "max_points": self.max_points,
            "message": self.message,
            "hint": self.hint,
        }


class Answers:
    """Read-only view of the student's named answers (notebook globals or grader-fetched values)."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = values

    def get(self, name: str) -> Any:
        """The value of notebook variable ``name``.

        Raises:
            CheckFailed: the variable is not defined (the exercise cell was not completed or run).
        """
        if name not in self._values:
            raise CheckFailed(
                f"`{name}` is not defined yet: complete the exercise cell above and run it."
            )
        return self._values[name]

    def __contains__(self, name: str) -> bool:
        return name in self._values


EXERCISES: dict[str, Exercise] = {}
_listeners: list[Callable[[Verdict], None]] = []
#: Exercise id -> how many times its check judged the work and failed in this kernel (the lab's
#: stepped hints, :mod:`kms_course.lessons.nudges`).
FAILURES: dict[str, int] = {}


def exercise(id: str, *, lesson: str, points: int, hint: str, answers: tuple[str, ...] = ()):
    """Decorator: register ``checker(kms, answers)`` as the check of exercise ``id``.

    Raises:
        ValueError: ``id`` is already registered or ``points`` is not a positive int.
    """

    def register(checker: Callable[[Any, Answers], None]) -> Callable[[Any, Answers], None]:
        if id in EXERCISES:
            raise ValueError(f"exercise id {id!r} is registered twice")
        if not isinstance(points, int) or points <= 0:
            raise ValueError(f"exercise {id!r}: points must be a positive int")
        EXERCISES[id] = Exercise(id, lesson, points, hint, tuple(answers), checker)
        return checker

    return register


#: In a grading jail, where :mod:`kms_course.lessons.checks` is hidden, the exercises' public fields
#: (JSON of :func:`catalogue`) come in this environment variable, for lesson widgets.
CATALOGUE_ENV = "KMS_COURSE_EXERCISES"


#: Whether this process has imported every check module (load_all does it once).
_LOADED = False


def load_all() -> dict[str, Exercise]:
    """Import every module of :mod:`kms_course.lessons.checks` and return the registry (id ->
    Exercise).

    Where the check modules are hidden (a grading jail) and ``KMS_COURSE_EXERCISES`` holds a
    :func:`catalogue`, the registry holds those exercises, whose checks only say that they run
    in the grader.
    """
    global _LOADED
    if not _LOADED:  # listing the package's folder costs ~1 ms: once per process
        import kms_course.lessons.checks as pkg

        for info in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
        _LOADED = True
    if not EXERCISES and os.environ.get(CATALOGUE_ENV):
        for item in json.loads(os.environ[CATALOGUE_ENV]):
            EXERCISES[item["id"]] = Exercise(
                item["id"], item["lesson"], item["points"], item["hint"],
                tuple(item["answers"]), _graded_elsewhere,
            )
    return EXERCISES


def _graded_elsewhere(kms: Any, answers: Answers) -> None:
    raise CheckFailed("while grading, checks run in the grader, outside this kernel")


def catalogue() -> str:
    """Every exercise's public fields (id, lesson, points, hint, answers) as JSON, without checks."""
    return json.dumps([
        {"id": e.id, "lesson": e.lesson, "points": e.points, "hint": e.hint,
         "answers": list(e.answers)}
        for e in load_all().values()
    ])


def for_lesson(lesson: str) -> list[Exercise]:
    """The exercises of one lesson (notebook stem), in registration order."""
    return [e for e in load_all().values() if e.lesson == lesson]


def run_check(exercise_id: str, kms: Any, values: Mapping[str, Any]) -> Verdict:
    """Run the check of ``exercise_id`` against a KMS client and the student's answers.

    Args:
        exercise_id: a registered exercise id.
        kms: a boto3 KMS client on the sandbox the student's code used.
        values: variable name -> value (only the names in ``Exercise.answers`` are read).

    Returns:
        A :class:`Verdict`; any exception other than :class:`CheckFailed` inside the checker is
        reported as a failed check with its type and message, never raised.

    Raises:
        UnknownExercise: ``exercise_id`` is not registered (a KeyError; the message lists the
            known ids).
    """
    registry = load_all()
    if exercise_id not in registry:
        raise UnknownExercise(
            f"No exercise {exercise_id!r}: check the id in the check cell. "
            f"Known ids: {', '.join(sorted(registry))}"
        )
    ex = registry[exercise_id]
    try:
        ex.checker(kms, Answers(values))
    except CheckFailed as failed:
        return Verdict(ex.id, False, 0, ex.points, str(failed), ex.hint)
    except Exception as error:  # a wrong answer may make the checker's own KMS calls fail
        message = f"{type(error).__name__}: {error}"
        return Verdict(ex.id, False, 0, ex.points, message, ex.hint)
    return Verdict(ex.id, True, ex.points, ex.points, "Well done.")


def on_verdict(listener: Callable[[Verdict], None]) -> None:
    """Call ``listener(verdict)`` after every :func:`check` in this kernel (progress widgets)."""
    _listeners.append(listener)


def check(exercise_id: str, *, quiet: bool = False) -> None:
    """Check an exercise in the student's notebook and print the verdict (a check cell's call).

    Reads the answers from the calling notebook's globals and uses a fresh KMS client of the
    running sandbox. When the exercise's answer cells
    (:func:`kms_course.lessons.cells.answer_cells`) did not all run to the end since they last
    changed, the verdict says so and passes nothing (:func:`kms_course.lessons.cellruns.problem`),
    as the grader scores an answer cell that raised 0. Hints step up
    (:func:`kms_course.lessons.nudges.stepped_hint`): the first two failures of an exercise in this
    kernel show its nudge, the third and later its full hint; a failure counts when the check judged
    the work (not when the answer cells did not run to the end), and a pass resets nothing. The
    grader (:func:`run_check`) always gives the full hint. Returns None, so a check cell shows only
    the verdict line; use
    :func:`run_check` to get the :class:`Verdict` itself.

    Raises:
        ExerciseNotPassed: the exercise does not pass (shown as verdict and hint, no traceback).
        kms_course.SandboxError: the sandbox is not running (run the lesson's first cell).
    """
    from kms_course.lessons import cellruns
    from kms_course.sandbox import start as sandbox

    caller_globals = sys._getframe(1).f_globals
    verdict = run_check(exercise_id, sandbox.kms_client(), caller_globals)
    stale = cellruns.problem(exercise_id, caller_globals)
    if stale:  # the answer's cells did not run to the end: nothing they left is judged
        verdict = Verdict(verdict.exercise, False, 0, verdict.max_points, stale, "")
    elif not verdict.passed:  # hints step up: a nudge first, the full hint from the 3rd failure
        from kms_course.lessons.nudges import stepped_hint

        FAILURES[exercise_id] = FAILURES.get(exercise_id, 0) + 1
        verdict = replace(verdict, hint=stepped_hint(exercise_id, verdict.hint,
                                                     FAILURES[exercise_id]))
    for listener in list(_listeners):
        listener(verdict)
    if not verdict.passed:
        raise ExerciseNotPassed(verdict)
    if not quiet:
        print(verdict.text())


def _track_cell_runs() -> None:
    """In a notebook kernel, start recording each cell's runs (:mod:`kms_course.lessons.cellruns`)
    as soon as the course is imported (the lesson's setup cell), before any exercise cell runs."""
    try:
        from kms_course.lessons import cellruns

        cellruns.install()
    except Exception:  # never break an import over a convenience
        pass


_track_cell_runs()
