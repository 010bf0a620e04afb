"""Helpers shared by the tests/test_gradebook_*.py modules: a tiny class to grade and its runs.

The lesson is the grading fixture (tests/grading_cases): 2 points for "90-key", 3 for "90-blob".
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

CASES_DIR = Path(__file__).parent / "grading_cases"
if str(CASES_DIR) not in sys.path:
    sys.path.insert(0, str(CASES_DIR))

import fixture  # noqa: E402
import fixture_checks  # noqa: E402,F401  (registers the fixture's exercises before forking)

from kms_course import cli  # noqa: E402
from kms_course.instructor.grading.grader_key import KEY_FILE_ENV  # noqa: E402

LESSON = fixture.LESSON
FULL = dict(fixture.SOLUTIONS)
ROOT = Path(__file__).resolve().parent.parent

#: A solution cell that waits until the file FLAG exists (then solves 90-key): a submission
#: that is still running when a test interrupts the grader, and finishes at once on a re-run.
#: A jailed kernel cannot see FLAG (its /tmp is its own): grade such a submission --no-jail.
WAIT_FOR_FLAG = (
    "import os, time\n"
    "while not os.path.exists({flag!r}):\n"
    "    time.sleep(0.05)\n" + fixture.SOLUTIONS["90-key"]
)


@pytest.fixture
def grading_env(tmp_path, monkeypatch):
    """A private grader key, kernels that can import the fixture's checks, and the masters.

    The course-code part of the grading fingerprint is pinned: in a work tree that others edit
    while the tests run it would change between two runs of one test (tests of the fingerprint
    itself change it on purpose).
    """
    from kms_course.instructor.grading import fingerprint

    monkeypatch.setattr(fingerprint, "code_hash", lambda: "pinned-by-the-test")
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "state" / "grader.key"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(CASES_DIR), os.environ.get("PYTHONPATH", "")]))
    return fixture.write_masters(tmp_path / "masters")


def write_submission(folder: Path, sources: dict[str, str] | None) -> Path:
    """Write a fixture submission ``folder/90_grading_fixture.ipynb``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{LESSON}.ipynb"
    nbformat.write(fixture.submission(dict(sources or {})), path)
    return path


def grade(*argv: str) -> tuple[int, str, str]:
    """``kms-course grade ARGV --no-progress`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["grade", *argv, "--no-progress"])
    return code, out.getvalue(), err.getvalue()


def grade_args(subs: Path, out: Path, masters: Path, *extra: str) -> list[str]:
    return [str(subs), "--out", str(out), "--masters", str(masters), "--jobs", "1",
            "--lesson", LESSON, *extra]


def rows(out: Path) -> dict[str, dict[str, str]]:
    """grades.csv as student -> row."""
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def totals(out: Path) -> dict[str, int]:
    """grades.json as student -> total points."""
    return {r["student"]: r["total"] for r in json.loads((out / "grades.json").read_text())["students"]}


GRADER_SCRIPT = """
import sys
sys.path.insert(0, {cases!r})
import fixture_checks  # noqa: F401
from kms_course import cli
from kms_course.instructor.grading import fingerprint
fingerprint.code_hash = lambda: "pinned-by-the-test"  # as grading_env does
sys.exit(cli.main(["grade", *sys.argv[1:], "--no-progress"]))
"""


def start_grader(argv: list[str], **popen) -> subprocess.Popen:
    """``kms-course grade ARGV`` in a new process (own session, SIGINT handled as in a shell)."""
    import signal

    return subprocess.Popen(
        [sys.executable, "-c", GRADER_SCRIPT.format(cases=str(CASES_DIR)), *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **popen,
    )


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll ``predicate`` every 50 ms until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the grader ended before {what}: {proc.returncode}\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def journal_names(out: Path) -> list[str]:
    """The result names in OUT/manifest.journal so far."""
    try:
        lines = (out / "manifest.journal").read_text().splitlines()
    except OSError:
        return []
    names = []
    for line in lines:
        with contextlib.suppress(ValueError):
            names.append(json.loads(line)["name"])
    return names
