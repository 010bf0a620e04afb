"""Per-student feedback: one self-contained HTML page with each exercise's verdict and hint.

Everything from the submission or a check message is HTML-escaped
(https://docs.python.org/3/library/html.html#html.escape). The page shows only what the student
may see: the verdict's message and the exercise's hint, never a check's code (checks live in
:mod:`kms_course.checks`, outside the notebooks, so no hidden test can leak as in nbgrader#917).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from kms_course.gradebook import atomic_write_text

_STYLE = """body{font-family:system-ui,sans-serif;max-width:50em;margin:2em auto;line-height:1.45}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4em;vertical-align:top}
.pass{color:#176b2c;font-weight:bold}.fail{color:#a11;font-weight:bold}.status{color:#555}"""


def render(student: str, results: list[dict[str, Any]]) -> str:
    """The feedback page of ``student`` for their graded submissions (results of one student).

    Returns:
        A complete HTML document (str).
    """
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Feedback for {escape(student)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Feedback for {escape(student)}</h1>",
    ]
    for r in results:
        title = r.get("lesson") or Path(r.get("path", "")).name
        parts.append(
            f"<h2>{escape(str(title))}: {int(r.get('total', 0))} / {int(r.get('max_points', 0))}"
            " points</h2>"
        )
        if r.get("status", "ok") != "ok":
            parts.append(f"<p class='status'>Status: {escape(str(r['status']))}</p>")
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


def write_all(out: str | Path, results: list[dict[str, Any]]) -> list[Path]:
    """Write ``OUT/feedback/<student>.html`` for every student in ``results``; returns the paths."""
    by_student: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_student.setdefault(r["student"], []).append(r)
    paths = []
    for student, items in sorted(by_student.items()):
        path = Path(out) / "feedback" / f"{student}.html"
        atomic_write_text(path, render(student, items))
        paths.append(path)
    return paths
