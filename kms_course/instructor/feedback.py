"""Per-student feedback: one self-contained HTML page with each exercise's verdict and hint.

Everything from the submission or a check message is HTML-escaped
(https://docs.python.org/3/library/html.html#html.escape). The page shows only what the student
may see: the verdict's message and the exercise's full hint, never a check's code (checks live in
:mod:`kms_course.lessons.checks`, outside the notebooks, so no hidden test can leak as in nbgrader#917).

The hint is always the full one (``hint=`` of the exercise, which may give the call), not the lab's
first-step nudge (:mod:`kms_course.lessons.nudges`): the lab steps hints up over repeated tries in
one kernel, while a graded submission gets one report, so it gets the last step at once.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from kms_course.atomic import atomic_write_text
from kms_course.instructor.grading.file_names import file_name
from kms_course.instructor.grading.limits import CELL_TIMEOUT, SUBMISSION_TIMEOUT

_STYLE = """body{font-family:system-ui,sans-serif;max-width:50em;margin:2em auto;line-height:1.45}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4em;vertical-align:top}
.pass{color:#176b2c;font-weight:bold}.fail{color:#a11;font-weight:bold}.status{color:#555}"""

#: One plain sentence per status word of a result (see :mod:`kms_course.instructor.grading.worker`);
#: ``{cell}`` and ``{submission}`` are the time limits in seconds.
STATUS_TEXT = {
    "cell-timeout": "A cell ran longer than the {cell:g}-second limit and was stopped.",
    "submission-timeout": "The whole notebook ran longer than the {submission:g}-second limit and was stopped.",
    "kernel-unresponsive": "A cell kept running after it was asked to stop (does your code catch KeyboardInterrupt?), so Python was stopped.",
    "kernel-died": "Python stopped while running your notebook (os._exit, sys.exit in a loop, a crash or too much memory).",
    "kernel-failed": "Your notebook could not be started; please tell your instructor.",
    "output-truncated": "Your notebook printed too much; the rest of the output was dropped.",
    "solution-error": "One of your exercise cells raised an error, so it did not run to the end.",
    "lesson-cell-error": "A lesson cell failed after your code ran; your code may have changed something it needs.",
    "grader-error": "The grader had a problem with your notebook; please tell your instructor.",
    "grader-crashed": "The grader had a problem with your notebook; please tell your instructor.",
    "not-json": "The file is not a Jupyter notebook (it is not JSON). Submit the .ipynb file saved by Jupyter.",
    "not-a-notebook": "The file is not a Jupyter notebook. Submit the .ipynb file saved by Jupyter.",
    "unreadable": "The file could not be read. Submit the .ipynb file saved by Jupyter.",
    "unsupported-nbformat": "The notebook's format is too old or damaged to read. Save it again with a current Jupyter.",
    "wrong-lesson": "This notebook is not the lesson being graded.",
    "unknown-lesson": "The grader could not tell which lesson this notebook is.",
}


def status_sentences(result: dict[str, Any]) -> list[str]:
    """Plain sentences for the status words of ``result`` (unknown words are shown as they are).

    Returns:
        One sentence per distinct sentence, in the order of the status words; [] for ``ok``.
    """
    limits = {"cell": CELL_TIMEOUT, "submission": SUBMISSION_TIMEOUT, **(result.get("limits") or {})}
    sentences: list[str] = []
    for word in str(result.get("status") or "ok").split(","):
        word = word.strip()
        if not word or word == "ok":
            continue
        template = STATUS_TEXT.get(word)
        text = template.format(**limits) if template else f"Status: {word}."
        if text not in sentences:
            sentences.append(text)
    return sentences


def render(student: str, results: list[dict[str, Any]], late: dict[str, Any] | None = None) -> str:
    """The feedback page of ``student`` for their graded submissions (results of one student).

    ``late``: the student's late fields (:func:`kms_course.instructor.lms.late.assess`, from
    ``--late-rules``), shown as one paragraph under the title: when the work was submitted and
    where that time came from, the due date, and any penalty with the total after it.

    Returns:
        A complete HTML document (str).
    """
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Feedback for {escape(student)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Feedback for {escape(student)}</h1>",
    ]
    if late:
        from kms_course.instructor.lms.late import sentence

        parts.append(f"<p class='late'>{escape(sentence(late))}</p>")
    for r in results:
        title = r.get("lesson") or Path(r.get("path", "")).name
        parts.append(
            f"<h2>{escape(str(title))}: {int(r.get('total', 0))} / {int(r.get('max_points', 0))}"
            " points</h2>"
        )
        if r.get("status", "ok") != "ok":
            for sentence in status_sentences(r):
                parts.append(f"<p class='status'>{escape(sentence)}</p>")
            for message in r.get("messages", []):
                parts.append(f"<p class='status'>{escape(str(message))}</p>")
        parts.append("<table><tr><th>Exercise</th><th>Points</th><th>Verdict</th></tr>")
        for ex_id, item in r.get("exercises", {}).items():
            passed = bool(item.get("passed"))
            verdict = "Passed" if passed else "Not yet"
            detail = [f"<span class='{'pass' if passed else 'fail'}'>{verdict}</span>"]
            if not passed:
                if item.get("message"):
                    detail.append(f"<br>{escape(str(item['message']))}")
                if item.get("error"):
                    detail.append(f"<br>Your cell raised: <code>{escape(str(item['error']))}</code>")
                if item.get("hint"):
                    detail.append(f"<br><em>Hint:</em> {escape(str(item['hint']))}")
            parts.append(
                f"<tr><td>{escape(str(ex_id))}</td><td>{int(item.get('points', 0))} / "
                f"{int(item.get('max_points', 0))}</td><td>{''.join(detail)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def page_path(out: str | Path, student: str) -> Path:
    """Where ``student``'s page is: ``OUT/feedback/<file_name(student)>.html``, one file per
    exact name (:func:`kms_course.instructor.grading.file_names.file_name`)."""
    return Path(out) / "feedback" / f"{file_name(student)}.html"


def write_all(out: str | Path, results: list[dict[str, Any]],
              late: dict[str, dict[str, Any] | None] | None = None) -> list[Path]:
    """Write the feedback page of every student in ``results`` (see :func:`page_path`); each
    page is titled with the student's name as given. ``late``: student -> late fields (see
    :func:`render`), from ``--late-rules``.

    Returns:
        The paths written.

    Raises:
        OSError: a page cannot be written (e.g. ``ENOSPC``); that page's older version, and
            every page not yet written, are unchanged.
    """
    by_student: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_student.setdefault(r["student"], []).append(r)
    paths = []
    for student, items in sorted(by_student.items()):
        path = page_path(out, student)
        atomic_write_text(path, render(student, items, (late or {}).get(student)))
        paths.append(path)
    return paths
