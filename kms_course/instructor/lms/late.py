"""Late penalties and extensions from a small rule file (``kms-course grade --late-rules FILE``).

The rule file is TOML (read with :mod:`tomllib`, https://docs.python.org/3/library/tomllib.html,
Python 3.11+) or JSON (a ``.json`` file, or any file on Python 3.10) with these keys::

    # rules.toml: one assignment
    due = 2026-03-01T23:59:00-05:00   # required: ISO 8601 date and time WITH a time zone
    penalty_per_day = 10              # required: percent taken off per late day (>= 0)
    max_penalty = 50                  # percent, the cap (default 100)
    basis = "earned"                  # "earned": percent of the points earned (nbgrader's way);
                                      # "possible": percent of the points possible (Canvas's
                                      # late policy); default "earned"
    grace_minutes = 0                 # minutes after the due time that still count as on time
    decimals = 2                      # the penalty is rounded half-up to this many decimals

    [extensions]                      # per student, names exactly as in grades.csv
    ana = 2                           # extra days (a number, fractions allowed)
    bo = 2026-03-04T12:00:00-05:00    # or a new due date (with a time zone)

In TOML a date-time may be written bare (an offset date-time) or as a string; in JSON it is a
string. Either way it is parsed by :meth:`datetime.datetime.fromisoformat`
(https://docs.python.org/3/library/datetime.html#datetime.datetime.fromisoformat) and must carry
a time zone (``Z`` or ``+01:00``), so that "late" means the same on every grading machine.

**Late days.** ``late_days = ceil((submitted_at - due - grace) / 24 h)`` when positive, else 0:
any started day counts as a whole day (one minute late is one day late). The due date is the
student's extension when there is one. ``penalty_percent = min(late_days * penalty_per_day,
max_penalty)``; ``penalty = percent / 100 * (points earned | points possible)``, rounded half-up
to ``decimals`` and never more than the points earned; ``total_after_penalty = total - penalty``.
A student's time is the latest of their submissions' times.

**Where the submission time comes from** (:func:`submission_time`), in this order:

1. a file ``timestamp.txt`` in the notebook's folder, nbgrader's convention
   (``submitted/{student}/{assignment}/timestamp.txt``, written by ``nbgrader submit``/``collect``):
   its text is one timestamp, optionally after ``submitted_at:`` or ``submitted_at =``, in ISO 8601
   with a time zone, or nbgrader's own ``2026-03-01 23:59:00.000000 UTC`` form (a time followed by
   ``UTC`` or an IANA zone name such as ``America/New_York``);
2. else the notebook file's modification time (``os.stat().st_mtime``, in UTC).

The feedback page says which one was used. Both come from whoever collected the submissions: a
``timestamp.txt`` must be written by the collection (an LMS download, ``nbgrader collect``), not
taken from a student's upload, and an archive's extraction may keep the times stored in it.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from kms_course.errors import CourseError

#: nbgrader's file beside each submitted assignment.
TIMESTAMP_FILE = "timestamp.txt"

_KEYS = {"due", "penalty_per_day", "max_penalty", "basis", "grace_minutes", "decimals", "extensions"}
_BASES = ("earned", "possible")


@dataclass(frozen=True)
class LateRules:
    """A rule file, checked.

    Attributes:
        due: the due date-time (aware).
        penalty_per_day: percent per late day (float >= 0).
        max_penalty: the cap in percent (0..100).
        basis: ``"earned"`` or ``"possible"``.
        grace: time after ``due`` still on time.
        decimals: the penalty's rounding (half-up), in decimal places (0..6).
        extensions: student -> a new due date-time (aware) or extra days (float).
        source: the file the rules came from.
    """

    due: datetime
    penalty_per_day: float
    max_penalty: float = 100.0
    basis: str = "earned"
    grace: timedelta = timedelta(0)
    decimals: int = 2
    extensions: dict[str, datetime | float] = field(default_factory=dict)
    source: str = ""

    def due_for(self, student: str) -> tuple[datetime, str | None]:
        """``(due date-time, extension text or None)`` of ``student``."""
        ext = self.extensions.get(student)
        if ext is None:
            return self.due, None
        if isinstance(ext, datetime):
            return ext, f"extension to {ext.isoformat()}"
        return self.due + timedelta(days=ext), f"extension of {_number(ext)} day(s)"

    def summary(self) -> dict[str, Any]:
        """The rules as plain data (for ``grades.json``)."""
        return {
            "file": self.source,
            "due": self.due.isoformat(),
            "penalty_per_day": self.penalty_per_day,
            "max_penalty": self.max_penalty,
            "basis": self.basis,
            "grace_minutes": self.grace.total_seconds() / 60,
            "decimals": self.decimals,
            "extensions": {
                s: (e.isoformat() if isinstance(e, datetime) else e) for s, e in self.extensions.items()
            },
        }


def parse_time(text: str, what: str) -> datetime:
    """An aware datetime from ISO 8601 text with a time zone, or nbgrader's ``... UTC`` /
    ``... Area/City`` form.

    Raises:
        CourseError: not a date-time, or one without a time zone (the message names ``what``).
    """
    raw = str(text).strip()
    value: datetime | None = None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        head, _, zone = raw.rpartition(" ")
        if head and zone:
            try:
                naive = datetime.fromisoformat(head)
            except ValueError:
                naive = None
            if naive is not None and naive.tzinfo is None:
                if zone.upper() in ("UTC", "GMT", "Z"):
                    value = naive.replace(tzinfo=timezone.utc)
                else:
                    try:
                        from zoneinfo import ZoneInfo

                        value = naive.replace(tzinfo=ZoneInfo(zone))
                    except (KeyError, ValueError, ImportError):
                        value = None
    if value is None:
        raise CourseError(f"{what}: {raw!r} is not a date and time; write ISO 8601 with a time "
                          "zone, e.g. 2026-03-01T23:59:00-05:00.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise CourseError(f"{what}: {raw!r} has no time zone; add one, e.g. {raw}+00:00 or "
                          f"{raw}-05:00.")
    return value


def _time_value(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CourseError(f"{what}: {value.isoformat()} has no time zone; add one, e.g. "
                              f"{value.isoformat()}-05:00.")
        return value
    if isinstance(value, str):
        return parse_time(value, what)
    raise CourseError(f"{what}: expected a date and time with a time zone, got {value!r}.")


def _percent(rules: dict, key: str, default: float | None, where: str) -> float:
    value = rules.get(key, default)
    if value is None:
        raise CourseError(f"{where}: {key} is missing; add e.g. {key} = 10 (percent per day).")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise CourseError(f"{where}: {key} must be a percentage from 0 to 100, not {value!r}.")
    return float(value)


def load_rules(path: str | Path) -> LateRules:
    """Read and check a rule file (format: this module's docstring).

    Returns:
        The rules.

    Raises:
        CourseError: the file is missing or unreadable, not valid TOML/JSON, has an unknown key,
            a date-time without a time zone, or a value out of range; the message says which
            and what to write.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CourseError(f"--late-rules {where}: cannot read it ({error.strerror or error}); "
                          "check the path.") from None
    use_json = Path(path).suffix.lower() == ".json" or sys.version_info < (3, 11)
    try:
        if use_json:
            data = json.loads(text)
        else:
            import tomllib

            data = tomllib.loads(text)
    except ValueError as error:  # json.JSONDecodeError and tomllib.TOMLDecodeError
        kind = "JSON" if use_json else "TOML"
        raise CourseError(f"--late-rules {where}: not valid {kind} ({' '.join(str(error).split())}).") from None
    if not isinstance(data, dict):
        raise CourseError(f"--late-rules {where}: expected a table of keys (due, penalty_per_day, ...).")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise CourseError(f"--late-rules {where}: unknown key(s) {', '.join(unknown)}; the keys are "
                          f"{', '.join(sorted(_KEYS))}.")
    if "due" not in data:
        raise CourseError(f"--late-rules {where}: due is missing; add e.g. due = 2026-03-01T23:59:00-05:00.")
    due = _time_value(data["due"], f"--late-rules {where}: due")
    basis = data.get("basis", "earned")
    if basis not in _BASES:
        raise CourseError(f"--late-rules {where}: basis must be \"earned\" or \"possible\", not {basis!r}.")
    grace = data.get("grace_minutes", 0)
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or grace < 0:
        raise CourseError(f"--late-rules {where}: grace_minutes must be a number >= 0, not {grace!r}.")
    decimals = data.get("decimals", 2)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 6:
        raise CourseError(f"--late-rules {where}: decimals must be a whole number from 0 to 6, not {decimals!r}.")
    raw_ext = data.get("extensions", {})
    if not isinstance(raw_ext, dict):
        raise CourseError(f"--late-rules {where}: extensions must be a table: student = days or a new due date.")
    extensions: dict[str, datetime | float] = {}
    for student, value in raw_ext.items():
        what = f"--late-rules {where}: extension of {student!r}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < 0:
                raise CourseError(f"{what}: extra days must be >= 0, not {value!r}.")
            extensions[str(student)] = float(value)
        else:
            extensions[str(student)] = _time_value(value, what)
    return LateRules(
        due=due,
        penalty_per_day=_percent(data, "penalty_per_day", None, f"--late-rules {where}"),
        max_penalty=_percent(data, "max_penalty", 100, f"--late-rules {where}"),
        basis=basis,
        grace=timedelta(minutes=grace),
        decimals=decimals,
        extensions=extensions,
        source=where,
    )


def submission_time(notebook: str | Path) -> tuple[datetime, str]:
    """When ``notebook`` was submitted, and where that came from (see the module docstring).

    Returns:
        ``(aware datetime, source)`` with source ``"timestamp.txt"`` or ``"mtime"``.

    Raises:
        CourseError: a ``timestamp.txt`` exists but holds no valid time (the message names it).
        OSError: the notebook cannot be stat'ed (it was removed after grading).
    """
    path = Path(notebook)
    stamp = path.parent / TIMESTAMP_FILE
    if stamp.is_file() and not stamp.is_symlink():
        text = stamp.read_text(encoding="utf-8", errors="replace").strip()
        for prefix in ("submitted_at:", "submitted_at ="):
            if text.startswith(prefix):
                text = text[len(prefix):].strip().strip('"')
        return parse_time(text, str(stamp)), TIMESTAMP_FILE
    return datetime.fromtimestamp(os.stat(path).st_mtime, tz=timezone.utc), "mtime"


def _round(value: Decimal, decimals: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _number(value: float | Decimal) -> int | float:
    """An int when whole, else a float (for CSV and JSON)."""
    as_float = float(value)
    return int(as_float) if as_float == int(as_float) else as_float


def assess(rules: LateRules, student: str, submitted_at: datetime, source: str,
           total: float, max_points: float) -> dict[str, Any]:
    """The late days and penalty of one student (rules: the module docstring).

    Args:
        rules: the checked rules.
        student: the name as in the gradebook (extensions are looked up by it).
        submitted_at: aware submission time; source: ``"timestamp.txt"`` or ``"mtime"``.
        total: points earned before the penalty; max_points: points possible.

    Returns:
        ``submitted_at`` and ``due`` (ISO 8601 text), ``source``, ``extension`` (text or None),
        ``late_days`` (int), ``penalty_percent``, ``penalty`` (points), ``total_after_penalty``
        and ``max_points`` (numbers: int when whole).
    """
    due, extension = rules.due_for(student)
    late = submitted_at - due - rules.grace
    days = max(0, math.ceil(late.total_seconds() / 86400)) if late > timedelta(0) else 0
    percent = min(Decimal(str(rules.penalty_per_day)) * days, Decimal(str(rules.max_penalty)))
    base = Decimal(str(total if rules.basis == "earned" else max_points))
    penalty = min(_round(base * percent / 100, rules.decimals), Decimal(str(total)))
    return {
        "submitted_at": submitted_at.isoformat(),
        "source": source,
        "due": due.isoformat(),
        "extension": extension,
        "late_days": days,
        "penalty_percent": _number(percent),
        "penalty": _number(penalty),
        "total_after_penalty": _number(Decimal(str(total)) - penalty),
        "max_points": _number(max_points),
    }


class LatePlan:
    """The rules plus each student's submission time, for one batch of results.

    ``assess(row)`` is called by :func:`kms_course.instructor.gradebook.write_class_files` for each
    row.
    """

    def __init__(self, rules: LateRules, results: list[dict[str, Any]]):
        self.rules = rules
        self.times: dict[str, tuple[datetime, str]] = {}
        for r in results:
            path = r.get("path")
            if not path:
                continue
            when = submission_time(path)
            best = self.times.get(r["student"])
            if best is None or when[0] > best[0]:
                self.times[r["student"]] = when

    def assess(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The late fields of one gradebook row (``student``, ``total``, ``max_points``), or
        None when the student has no submission time (no submission file)."""
        when = self.times.get(row["student"])
        if when is None:
            return None
        return assess(self.rules, row["student"], when[0], when[1], row["total"], row["max_points"])


def sentence(late: dict[str, Any]) -> str:
    """One plain sentence for the feedback page about the submission time and any penalty."""
    source = ("from the timestamp.txt your submission was collected with"
              if late["source"] == TIMESTAMP_FILE
              else "from the notebook file's modification time (no timestamp.txt was beside it)")
    due = late["due"] + (f" ({late['extension']})" if late.get("extension") else "")
    head = f"Submitted {late['submitted_at']} ({source}); due {due}. "
    if not late["late_days"]:
        return head + "On time: no late penalty."
    return head + (
        f"{late['late_days']} day(s) late: {late['penalty_percent']}% penalty, "
        f"minus {late['penalty']} point(s); total after penalty: "
        f"{late['total_after_penalty']} / {late['max_points']}."
    )
