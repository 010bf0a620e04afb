"""Progress panel: a lesson's practice exercises, their points and latest verdicts, live.

``ProgressPanel("03_creating_and_describing_keys")`` lists the lesson's exercises (from the
registry in :mod:`kms_course.exercises`) with their points, and updates each row whenever a check
cell runs ``check("<exercise id>")`` in this kernel (it listens through
:func:`kms_course.exercises.on_verdict`). Verdicts of checks run before the panel was created are
shown too: this module records the latest verdict of every exercise from the moment it is
imported.

The panel has a stable plain-text form (exercise ids, points and verdicts only), so nbval and
frontends without widget support show a sensible summary; its callbacks never print.
"""

from __future__ import annotations

import html
import weakref

import ipywidgets as widgets

from kms_course import exercises
from kms_course.exercises import Exercise, Verdict
from kms_course.widget_text import TextForm

#: exercise id -> latest verdict of a check run in this process.
_LATEST: dict[str, Verdict] = {}


def _record(verdict: Verdict) -> None:
    _LATEST[verdict.exercise] = verdict


exercises.on_verdict(_record)


def latest_verdict(exercise_id: str) -> Verdict | None:
    """The latest verdict of ``exercise_id`` checked in this process, or None if never checked."""
    return _LATEST.get(exercise_id)


def status_of(verdict: Verdict | None) -> str:
    """``"not checked yet"``, ``"PASSED"`` or ``"NOT YET"`` (the words of :meth:`Verdict.text`)."""
    if verdict is None:
        return "not checked yet"
    return "PASSED" if verdict.passed else "NOT YET"


class ProgressPanel(TextForm):
    """A lesson's exercises with points and latest verdict, updated as checks run.

    Args:
        lesson: the notebook stem, e.g. ``"03_creating_and_describing_keys"``.

    Attributes:
        lesson: the lesson's notebook stem.
        exercises: the lesson's :class:`~kms_course.exercises.Exercise` list, in registration
            order.
        bar: ``IntProgress`` whose value is the points earned, max the lesson's total points.
        table: ``HTML`` table: exercise, points, verdict.
        widget: the ``VBox`` that Jupyter displays.

    Raises:
        ValueError: no exercise is registered for ``lesson`` (the message lists known lessons).
    """

    def __init__(self, lesson: str):
        found = exercises.for_lesson(lesson)
        if not found:
            known = sorted({e.lesson for e in exercises.load_all().values()})
            raise ValueError(
                f"No exercises are registered for lesson {lesson!r}. Use the notebook's file name "
                f"without .ipynb; lessons with exercises: {', '.join(known) or 'none yet'}."
            )
        self.lesson = lesson
        self.exercises: list[Exercise] = found
        self.title = widgets.HTML()
        self.bar = widgets.IntProgress(value=0, min=0, max=self.total_points, description="Points:")
        self.table = widgets.HTML()
        self.widget = widgets.VBox([self.title, self.bar, self.table])
        self._redraw()
        # A weak reference, so a panel from an earlier run of the cell can be freed.
        ref = weakref.ref(self)

        def listener(verdict: Verdict) -> None:
            panel = ref()
            if panel is not None and verdict.exercise in panel.ids:
                panel._redraw()

        exercises.on_verdict(listener)

    @property
    def ids(self) -> tuple[str, ...]:
        """The lesson's exercise ids, in order."""
        return tuple(e.id for e in self.exercises)

    @property
    def total_points(self) -> int:
        """Sum of the lesson's exercise points."""
        return sum(e.points for e in self.exercises)

    @property
    def earned_points(self) -> int:
        """Points of the exercises whose latest check passed."""
        return sum(v.points for v in map(latest_verdict, self.ids) if v is not None and v.passed)

    def rows(self) -> list[tuple[str, int, str]]:
        """``(exercise id, points, status)`` per exercise; status as :func:`status_of` gives it."""
        return [(e.id, e.points, status_of(latest_verdict(e.id))) for e in self.exercises]

    def _redraw(self) -> None:
        earned, total = self.earned_points, self.total_points
        self.title.value = (
            f"<b>Practice exercises of {html.escape(self.lesson)}</b>: {earned}/{total} points"
        )
        self.bar.value = earned
        colours = {"PASSED": "#1a7f37", "NOT YET": "#b42318"}
        body = "".join(
            f"<tr><td style='padding:2px 8px'><code>{html.escape(ex_id)}</code></td>"
            f"<td style='padding:2px 8px'>{points}</td>"
            f"<td style='padding:2px 8px;color:{colours.get(status, '#57606a')}'>{status}</td></tr>"
            for ex_id, points, status in self.rows()
        )
        self.table.value = (
            "<table class='kms-course-progress'><thead><tr>"
            + "".join(
                f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
                for h in ("Exercise", "Points", "Verdict")
            )
            + "</tr>"
            f"</thead><tbody>{body}</tbody></table>"
        )

    # --- display ---------------------------------------------------------------------------

    def text(self) -> str:
        """Stable plain-text summary: lesson, points earned of total, one line per exercise."""
        lines = [
            f"Practice exercises of {self.lesson}: {self.earned_points}/{self.total_points} points"
        ]
        width = max(len(ex_id) for ex_id in self.ids)
        for ex_id, points, status in self.rows():
            lines.append(
                f"  {ex_id.ljust(width)}  {points} point{'s' if points != 1 else ''}  {status}"
            )
        return "\n".join(lines)

    def html(self) -> str:
        """Stable HTML form: the panel's title and its table of exercises."""
        return f"<div>{self.title.value}</div>{self.table.value}"
