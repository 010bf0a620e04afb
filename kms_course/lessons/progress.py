"""Progress panel: a lesson's practice exercises, their points and latest verdicts, live.

``ProgressPanel("03_creating_and_describing_keys")`` lists the lesson's exercises (from the
registry in :mod:`kms_course.lessons.exercises`) with their points, and updates each row whenever a
check cell runs ``check("<exercise id>")`` in this kernel (it listens through
:func:`kms_course.lessons.exercises.on_verdict`). Verdicts of checks run before the panel was created are
shown too: this module records the latest verdict of every exercise from the moment it is
imported.

The panel has a stable plain-text form (exercise ids, points and verdicts only), so nbval and
frontends without widget support show a sensible summary; its callbacks never print.

Kernel restarts: verdicts belong to the kernel that ran the checks, so a restart empties them. The
panel is displayed under a display id of its lesson (``kms-course-progress-<lesson>``), and in
``kms-course lab`` kernels this module is imported at start (:mod:`kms_course.jupyter_config`):
the first check of a lesson in a kernel without a live panel of that lesson sends an update of
that display (Jupyter's ``update_display_data``,
https://jupyter-client.readthedocs.io/en/stable/messaging.html#update-display-data), so the panel
left on screen by the previous kernel shows this kernel's verdicts instead of stale ones. The
widget and its HTML form say so under the table.
"""

from __future__ import annotations

import html
import weakref

import ipywidgets as widgets

from kms_course.lessons import exercises
from kms_course.lessons.exercises import Exercise, Verdict
from kms_course.widget_text import TextForm

#: exercise id -> latest verdict of a check run in this process.
_LATEST: dict[str, Verdict] = {}


#: lesson -> the panels of that lesson created in this kernel (weakly held).
_LIVE: dict[str, weakref.WeakSet] = {}

#: lesson -> the panel made to refresh a previous kernel's display (held so that it stays live).
_REFRESHED: dict[str, "ProgressPanel"] = {}

#: Printed under every panel: verdicts are this kernel's.
STALE_NOTE = (
    "Verdicts of the checks run in this kernel; after a kernel restart they start again at "
    "'not checked yet' and this panel refreshes at the next check."
)


def display_id(lesson: str) -> str:
    """The display id of ``lesson``'s progress panel, the same in every kernel."""
    return f"kms-course-progress-{lesson}"


def _record(verdict: Verdict) -> None:
    _LATEST[verdict.exercise] = verdict
    _refresh_after_restart(verdict)


def _refresh_after_restart(verdict: Verdict) -> None:
    """Update the panel display of the verdict's lesson when no panel of it lives here."""
    ex = exercises.load_all().get(verdict.exercise)
    if ex is None or any(True for _ in _LIVE.get(ex.lesson, ())):
        return
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover (IPython comes with ipykernel)
        return
    if get_ipython() is None:
        return
    try:
        panel = _REFRESHED[ex.lesson] = ProgressPanel(ex.lesson)  # kept: it stays live
    except Exception:  # noqa: BLE001 (a panel never makes a check fail)
        return
    panel._displayed = True
    _update(panel)


def _update(panel: ProgressPanel) -> None:
    """Send ``update_display_data`` for ``panel``'s lesson display (never raises)."""
    try:
        from IPython.display import update_display

        update_display(panel._repr_mimebundle_(), raw=True, display_id=display_id(panel.lesson))
    except Exception:  # noqa: BLE001 (a panel never makes a check fail)
        return


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
        exercises: the lesson's :class:`~kms_course.lessons.exercises.Exercise` list, in
            registration order.
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
        self._displayed = False
        self.note = widgets.HTML(f"<small>{html.escape(STALE_NOTE)}</small>")
        self.widget = widgets.VBox([self.title, self.bar, self.table, self.note])
        self._redraw()
        _LIVE.setdefault(lesson, weakref.WeakSet()).add(self)
        # A weak reference, so a panel from an earlier run of the cell can be freed.
        ref = weakref.ref(self)

        def listener(verdict: Verdict) -> None:
            panel = ref()
            if panel is not None and verdict.exercise in panel.ids:
                panel._redraw()
                if panel._displayed:  # keep the saved text and HTML forms in step with the widget
                    _update(panel)

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

    def _ipython_display_(self) -> None:
        """Display under the lesson's display id, so a later kernel can update it."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True, display_id=display_id(self.lesson))
        self._displayed = True

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
        return f"<div>{self.title.value}</div>{self.table.value}<div>{self.note.value}</div>"
