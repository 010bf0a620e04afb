"""``kms-course grade`` on a synthetic class: exact points for every cheat and every failure.

One batch grades the whole class (tests/grading_cases/cases.py) with two workers through the
command line; each test then reads its student's row. The expected points come from the fixture
lesson's check rules (tests/grading_cases/fixture_checks.py): 2 points for a key described
"grading fixture", 3 for a ciphertext that KMS decrypts to b"hello grader".
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest

CASES_DIR = Path(__file__).parent / "grading_cases"
sys.path.insert(0, str(CASES_DIR))

import fixture  # noqa: E402
import fixture_checks  # noqa: E402,F401  (registers the fixture's exercises before forking)
from cases import CASES, V3_NOTEBOOK  # noqa: E402

from kms_course import atomic, cli
from kms_course.instructor import gradebook  # noqa: E402

CELL_TIMEOUT = 6


def write_case(case, folder: Path, out: Path) -> None:
    target = folder / case.student / f"{fixture.LESSON}.ipynb"
    target.parent.mkdir(parents=True)
    if case.raw == V3_NOTEBOOK:
        nb = fixture.submission(dict(fixture.SOLUTIONS))
        nbformat.write(nbformat.convert(nb, 3), target, version=3)
    elif case.raw == "lesson03":
        other = fixture.master(("91-key",))
        nbformat.write(other, target)  # a lesson-91 notebook under lesson 90's name
    elif case.raw is not None:
        target.write_text(case.raw)
    else:
        sources = {k: v.replace("{OUT}", str(out)) for k, v in (case.sources or {}).items()}
        nbformat.write(fixture.submission(sources, tamper=case.tamper), target)


def grade(*argv: str) -> int:
    return cli.main(["grade", *argv, "--no-progress"])


@pytest.fixture(scope="module", autouse=True)
def grader_key(tmp_path_factory):
    """The grader's key in a test folder, never the real ~/.local/state."""
    from kms_course.instructor.grading.grader_key import KEY_FILE_ENV

    path = tmp_path_factory.mktemp("grader-state") / "grader.key"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_FILE_ENV, str(path))
        yield path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    masters = fixture.write_masters(root / "masters")
    subs, out = root / "submissions", root / "out"
    for case in CASES:
        write_case(case, subs, out)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join([str(CASES_DIR), os.environ.get("PYTHONPATH", "")]))
        import contextlib
        import io

        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = grade(str(subs), "--out", str(out), "--masters", str(masters), "--lesson",
                         fixture.LESSON, "--jobs", "2", "--cell-timeout", str(CELL_TIMEOUT),
                         "--timeout", "90")
    rows = {r["student"]: r for r in json.loads((out / "grades.json").read_text())["students"]}
    return {"code": code, "rows": rows, "out": out, "subs": subs, "masters": masters,
            "stdout": stdout.getvalue()}


def test_batch_finishes_with_a_row_per_student(graded):
    assert graded["code"] == 0
    assert set(graded["rows"]) == {c.student for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.student for c in CASES])
def test_points_and_status(graded, case):
    row = graded["rows"][case.student]
    assert row["exercises"] == case.expected, row
    assert row["total"] == sum(case.expected.values())
    assert row["max_points"] == 5
    for word in case.status:
        if word == "ok":
            assert row["status"] == "ok", row
        else:
            assert word in row["status"], row


def test_failed_exercises_carry_the_check_message(graded):
    messages = graded["rows"]["wrong"]["messages"]
    assert messages["90-key"] == "The key's description is 'other', not 'grading fixture'."
    assert "`fixture_blob` is not defined yet" in messages["90-blob"]


def test_unfinished_solutions_say_why_they_score_zero(graded):
    """Bug: the message doubled full stops ("requests.. ") and said the check "would have
    passed" with a stray ". " after it."""
    done_then_exit = graded["rows"]["workthensysexit"]["messages"]["90-key"]
    assert done_then_exit == (
        "Your solution cell did not run to the end (SystemExit: 0). It scores 0 although the "
        "values it left would pass the check: a solution must run without errors.")
    exit_only = graded["rows"]["sysexit"]["messages"]["90-key"]
    assert exit_only.startswith("Your solution cell did not run to the end (SystemExit: 3). ")
    for row in graded["rows"].values():
        for message in row["messages"].values():
            assert ".." not in message and ". ." not in message and not message.endswith(" ")


def test_moto_api_is_refused_to_the_kernel(graded):
    result = json.loads(
        (graded["out"] / "results" / "motodirect" / f"{fixture.LESSON}.json").read_text()
    )
    assert result["exercises"]["90-key"]["message"].startswith("No KMS key ")


def test_student_code_cannot_reach_out_or_the_checks(graded):
    # the "disk" student's kernel looked for the checks' source and tried to plant a full-marks
    # result under --out: in its jail neither exists, so its cell raised and nothing was planted
    result = json.loads((graded["out"] / "results" / "disk" / f"{fixture.LESSON}.json").read_text())
    assert result["exercises"]["90-key"]["error"].startswith("ModuleNotFoundError")
    assert not (graded["out"] / "results" / "disk" / "disk.json").exists()
    assert not (graded["out"] / "quarantine").exists()
    assert graded["rows"]["disk"]["total"] == 0


def test_result_files_are_in_the_manifest(graded):
    from kms_course.instructor.grading.grader_key import load_key, sign

    manifest = gradebook.read_manifest(graded["out"])
    assert set(manifest) == {f"results/{c.student}/{fixture.LESSON}.json" for c in CASES}
    name = f"results/full/{fixture.LESSON}.json"
    # an HMAC under the grader's key, not a SHA-256 anybody could compute
    assert manifest[name] == sign(load_key(), name, (graded["out"] / name).read_bytes())
    assert manifest[name] != gradebook.file_sha256(graded["out"] / name)


def test_files_get_mode_666_minus_umask(graded):
    expected = 0o666 & ~atomic.current_umask()
    out = graded["out"]
    for path in (out / "grades.csv", out / "grades.json", out / "feedback" / "full.html",
                 out / "results" / "full" / f"{fixture.LESSON}.json", out / "manifest.json"):
        assert path.stat().st_mode & 0o777 == expected, path


def test_status_column_and_feedback_are_readable(graded):
    with open(graded["out"] / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert rows["notjson"]["status"] == "not-json"
    assert rows["loop"]["status"] == "cell-timeout,solution-error"
    page = (graded["out"] / "feedback" / "loop.html").read_text()
    assert f"A cell ran longer than the {CELL_TIMEOUT}-second limit and was stopped." in page
    assert "cell-timeout" not in page
    page = (graded["out"] / "feedback" / "otherlesson.html").read_text()
    assert "This notebook is not the lesson being graded." in page
    assert (f"the file is named for lesson {fixture.LESSON} but holds the exercises of lesson "
            f"{fixture.OTHER_LESSON}") in page


def test_csv_has_one_row_per_student_with_points(graded):
    with open(graded["out"] / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert list(next(iter(rows.values())).keys()) == [
        "student", "90-key", "90-blob", "total", "max_points", "status"
    ]
    assert rows["full"]["90-key"] == "2" and rows["full"]["total"] == "5"
    assert rows["partial"]["total"] == "2"


def test_feedback_is_escaped_and_has_hints(graded):
    page = (graded["out"] / "feedback" / "wrong.html").read_text()
    assert "The key&#x27;s description is &#x27;other&#x27;" in page
    assert "Hint:" in page and "kms.create_key(Description=" in page
    assert "check(" not in page and "def _key" not in page


def test_rerun_skips_graded_and_force_regrades(graded, tmp_path, capsys):
    masters = graded["masters"]
    full = graded["subs"] / "full"
    out = tmp_path / "out"
    assert grade(str(full), "--out", str(out), "--masters", str(masters), "--jobs", "1") == 0
    first = (out / "results" / "full" / f"{fixture.LESSON}.json").read_text()
    capsys.readouterr()
    assert grade(str(full), "--out", str(out), "--masters", str(masters), "--jobs", "1") == 0
    assert "Graded 0 submission(s)" in capsys.readouterr().out
    assert (out / "results" / "full" / f"{fixture.LESSON}.json").read_text() == first
    assert gradebook.is_graded(out, "full", fixture.LESSON, json.loads(first)["sha256"])
    assert grade(str(full), "--out", str(out), "--masters", str(masters), "--jobs", "1",
                 "--force") == 0
    assert "Graded 1 submission(s)" in capsys.readouterr().out


def test_submission_timeout(tmp_path):
    masters = fixture.write_masters(tmp_path / "masters")
    sub = tmp_path / "slow.ipynb"
    nbformat.write(fixture.submission({"90-key": "import time\ntime.sleep(60)"}), sub)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(CASES_DIR))
        grade(str(sub), "--out", str(tmp_path / "out"), "--masters", str(masters),
              "--jobs", "1", "--cell-timeout", "50", "--timeout", "12")
    row = json.loads((tmp_path / "out" / "grades.json").read_text())["students"][0]
    assert row["total"] == 0
    assert "submission-timeout" in row["status"]


def test_each_forked_kernel_is_fresh(tmp_path, monkeypatch):
    """A kernel forked from the zygote never sees what an earlier kernel did."""
    from nbformat.v4 import new_code_cell, new_notebook

    from kms_course.instructor.grading import execute as execution

    ran = []
    original = execution.GradingClient.__init__

    def keep(self, nb, **kw):  # execute() runs a copy of the notebook: keep it to read outputs
        original(self, nb, **kw)
        ran.append(nb)

    monkeypatch.setattr(execution.GradingClient, "__init__", keep)
    for source in (
        "import kms_course, builtins\nkms_course.check = None\nbuiltins.LEAK = 1\nSECRET = 2",
        "import kms_course, builtins\n"
        "print(callable(kms_course.check), hasattr(builtins, 'LEAK'), 'SECRET' in globals())",
    ):
        execution.execute(new_notebook(cells=[new_code_cell(source)]), {}, lambda ex, v: None,
                          env=dict(os.environ), cwd=str(tmp_path))
    assert "".join(o.get("text", "") for o in ran[1].cells[0].outputs) == "True False False\n"


# --- re-runs trust only what the grader wrote -------------------------------------------------

FORGED = {"status": "ok", "messages": [], "total": 5, "max_points": 5, "lesson": fixture.LESSON,
          "exercises": {"90-key": {"points": 2, "max_points": 2, "passed": True},
                        "90-blob": {"points": 3, "max_points": 3, "passed": True}}}


@pytest.fixture
def kernel_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(CASES_DIR), os.environ.get("PYTHONPATH", "")]))


def _csv(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


def test_result_planted_between_runs_never_reaches_grades(tmp_path, kernel_path, capsys):
    masters = fixture.write_masters(tmp_path / "masters")
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "blank").mkdir(parents=True)
    nb_path = subs / "blank" / f"{fixture.LESSON}.ipynb"
    nbformat.write(fixture.submission({}), nb_path)
    argv = (str(subs), "--out", str(out), "--masters", str(masters), "--jobs", "1")
    assert grade(*argv) == 0
    assert _csv(out)["blank"]["total"] == "0"
    # forge: full marks for the same file content, and a student who submitted nothing
    from kms_course.instructor.grading.submissions import sha256

    own = out / "results" / "blank" / f"{fixture.LESSON}.json"
    genuine = json.loads(own.read_text())
    own.write_text(json.dumps({**genuine, **FORGED, "sha256": sha256(str(nb_path))}))
    (out / "results" / "mallory").mkdir()
    (out / "results" / "mallory" / "x.json").write_text(
        json.dumps({**FORGED, "student": "mallory", "key": "x", "sha256": "x"}))
    capsys.readouterr()
    assert grade(*argv) == 0
    stdout = capsys.readouterr().out
    assert "Graded 1 submission(s)" in stdout  # the forged result was not reused
    assert f"ignored a result file the grader did not write: results/blank/{fixture.LESSON}.json" in stdout
    assert "ignored a result file the grader did not write: results/mallory/x.json" in stdout
    rows = _csv(out)
    assert set(rows) == {"blank"} and rows["blank"]["total"] == "0"
    assert json.loads(own.read_text())["total"] == 0
    assert json.loads((out / "quarantine" / "mallory" / "x.json").read_text())["total"] == 5


#: Unjailed student code leaving a process behind that, once the grader has finished (its lock
#: on --out is free), turns the student's genuine result into full marks and forges the manifest
#: entries an attacker can compute (SHA-256 in manifest.json and in the journal).
FORGE = """import fcntl, hashlib, json, os, pathlib, time
out, marker = pathlib.Path({out!r}), pathlib.Path({marker!r})
if os.fork() == 0:
    os.setsid()
    time.sleep(1)
    while True:  # wait until the grader has finished
        fd = os.open(out / ".lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            time.sleep(0.1)
        finally:
            os.close(fd)
    name = "results/disk/90_grading_fixture.json"
    result = json.loads((out / name).read_text())
    for item in result["exercises"].values():
        item.update(points=item["max_points"], passed=True)
    result.update(total=5, status="ok")
    data = json.dumps(result, indent=1, sort_keys=True).encode()
    (out / name).write_bytes(data)
    (out / "results" / "disk" / "disk.json").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["results"][name] = manifest["results"]["results/disk/disk.json"] = digest
    (out / "manifest.json").write_text(json.dumps(manifest))
    with open(out / "manifest.journal", "a") as f:
        f.write(json.dumps({{"name": name, "hmac": digest}}) + "\\n")
    marker.write_text("forged")
    os._exit(0)
"""


def test_forged_result_and_manifest_are_quarantined_and_graded_again(tmp_path, kernel_path, capsys):
    """Issue 10: a process left behind by a submission rewrote the student's result and its
    manifest entry after the grader exited, and the re-run kept the forged grade. Now the entry's
    HMAC does not check: the re-run quarantines the forgery and grades the student again (0)."""
    masters = fixture.write_masters(tmp_path / "masters")
    subs, out, marker = tmp_path / "subs", tmp_path / "out", tmp_path / "forged"
    (subs / "disk").mkdir(parents=True)
    nbformat.write(fixture.submission({"90-key": FORGE.format(out=str(out), marker=str(marker))}),
                   subs / "disk" / f"{fixture.LESSON}.ipynb")
    argv = (str(subs), "--out", str(out), "--masters", str(masters), "--jobs", "1")
    name = f"results/disk/{fixture.LESSON}.json"
    for run in range(2):
        assert grade(*argv, "--no-jail") == 0
        stdout = capsys.readouterr().out
        if run == 1:
            assert "Graded 1 submission(s)" in stdout, stdout  # the forgery was not reused
            assert f"ignored a result file the grader did not write: {name}" in stdout
            assert "ignored a result file the grader did not write: results/disk/disk.json" in stdout
            forged = json.loads((out / "quarantine" / "disk" / f"{fixture.LESSON}.json").read_text())
            assert forged["total"] == 5
        assert [(r["student"], r["total"]) for r in
                json.loads((out / "grades.json").read_text())["students"]] == [("disk", 0)]
        assert json.loads((out / name).read_text())["total"] == 0
        for _ in range(300):  # the leftover process forges once the grader has finished
            if marker.exists():
                break
            time.sleep(0.05)
        assert marker.read_text() == "forged"
        marker.unlink()
    assert json.loads((out / name).read_text())["total"] == 5  # forged again, for the next run


def test_gradebook_holds_only_this_runs_submissions(graded, tmp_path, kernel_path):
    out = tmp_path / "out"
    masters = graded["masters"]
    for student in ("full", "partial"):
        assert grade(str(graded["subs"] / student), "--out", str(out), "--masters", str(masters),
                     "--jobs", "1") == 0
    assert set(_csv(out)) == {"partial"}
    # the earlier genuine result is kept for a later run
    assert (out / "results" / "full" / f"{fixture.LESSON}.json").exists()


# --- --out is checked before any student code runs ---------------------------------------------

@pytest.mark.parametrize("kind", ["file", "proc"])
def test_bad_out_is_refused_before_grading(tmp_path, kernel_path, capsys, kind):
    masters = fixture.write_masters(tmp_path / "masters")
    ran = tmp_path / "student-code-ran"
    sub = tmp_path / "s.ipynb"
    nbformat.write(fixture.submission({"90-key": f"open({str(ran)!r}, 'w').close()"}), sub)
    if kind == "file":
        out = tmp_path / "grades.txt"
        out.write_text("not a folder")
    else:
        out = Path("/proc/kms-course-no-such-dir")
    assert grade(str(sub), "--out", str(out), "--masters", str(masters), "--jobs", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kms-course grade: --out {out}") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not ran.exists()


# --- which lesson a submission is graded against ---------------------------------------------

def _write(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_wrong_lesson_submissions_do_not_change_the_class(tmp_path, kernel_path, capsys):
    masters = fixture.write_masters(tmp_path / "masters")
    subs, out = tmp_path / "subs", tmp_path / "out"
    other = fixture.master(("91-key",))
    _write(fixture.submission(dict(fixture.SOLUTIONS)), subs / "ann" / f"{fixture.LESSON}.ipynb")
    _write(fixture.submission({}), subs / "bob" / f"{fixture.LESSON}.ipynb")
    _write(other, subs / "cat" / f"{fixture.LESSON}.ipynb")  # named 90, holds 91
    _write(other, subs / "dan" / f"{fixture.OTHER_LESSON}.ipynb")  # lesson 91 in a lesson-90 class
    assert grade(str(subs), "--out", str(out), "--masters", str(masters), "--jobs", "2") == 0
    assert f"Grading against the class's lesson {fixture.LESSON} (3 of 4 submissions)" in capsys.readouterr().out
    rows = _csv(out)
    assert list(rows["ann"]) == ["student", "90-key", "90-blob", "total", "max_points", "status"]
    assert {s: (r["total"], r["max_points"], r["status"]) for s, r in rows.items()} == {
        "ann": ("5", "5", "ok"), "bob": ("0", "5", "ok"),
        "cat": ("0", "5", "wrong-lesson"), "dan": ("0", "5", "wrong-lesson"),
    }
    results = out / "results"
    cat = json.loads((results / "cat" / f"{fixture.LESSON}.json").read_text())
    assert cat["messages"] == [(
        f"the file is named for lesson {fixture.LESSON} but holds the exercises of lesson "
        f"{fixture.OTHER_LESSON}: submit your {fixture.LESSON} notebook under that name, or have "
        f"lesson {fixture.OTHER_LESSON} graded separately with --lesson {fixture.OTHER_LESSON}"
    )]
    dan = json.loads((results / "dan" / f"{fixture.OTHER_LESSON}.json").read_text())
    assert dan["messages"] == [(
        f"this notebook is lesson {fixture.OTHER_LESSON} (by its metadata), not the class's lesson "
        f"{fixture.LESSON}: grade it separately with --lesson {fixture.OTHER_LESSON}"
    )]


def test_students_with_several_lessons_get_every_lessons_columns(tmp_path, kernel_path):
    masters = fixture.write_masters(tmp_path / "masters")
    subs, out = tmp_path / "subs", tmp_path / "out"
    _write(fixture.submission(dict(fixture.SOLUTIONS)), subs / "ann" / f"{fixture.LESSON}.ipynb")
    _write(fixture.master(("91-key",)), subs / "ann" / f"{fixture.OTHER_LESSON}.ipynb")
    _write(fixture.submission({}), subs / "bob" / f"{fixture.LESSON}.ipynb")
    assert grade(str(subs), "--out", str(out), "--masters", str(masters), "--jobs", "2") == 0
    rows = _csv(out)
    assert list(rows["ann"]) == ["student", "90-key", "90-blob", "91-key", "total", "max_points", "status"]
    assert (rows["ann"]["total"], rows["ann"]["max_points"], rows["ann"]["status"]) == ("7", "7", "ok")
    assert (rows["bob"]["total"], rows["bob"]["status"]) == ("0", f"{fixture.OTHER_LESSON}: missing")


def test_lesson_plan_rule(tmp_path):
    from kms_course.errors import CourseError
    from kms_course.instructor.grading.class_lesson import plan
    from kms_course.instructor.grading.submissions import discover

    lessons = {fixture.LESSON: ["90-key", "90-blob"], fixture.OTHER_LESSON: ["91-key"]}
    _write(fixture.submission({}), tmp_path / "a" / "ann" / f"{fixture.LESSON}.ipynb")
    _write(fixture.master(("91-key",)), tmp_path / "a" / "bob" / "homework.ipynb")
    with pytest.raises(CourseError, match="split evenly between lessons 90_grading_fixture \\(1\\), "
                                          "91_other_fixture \\(1\\): pass --lesson"):
        plan(discover([str(tmp_path / "a")]), lessons)
    assert plan(discover([str(tmp_path / "a")]), lessons, fixture.OTHER_LESSON).lesson == fixture.OTHER_LESSON
    _write(fixture.submission({}), tmp_path / "a" / "cat" / f"{fixture.LESSON}.ipynb")
    assert plan(discover([str(tmp_path / "a")]), lessons).lesson == fixture.LESSON
    _write(fixture.submission({}), tmp_path / "a" / "bob" / f"{fixture.LESSON}.ipynb")
    assert plan(discover([str(tmp_path / "a")]), lessons).lesson == fixture.LESSON  # 1 of 3: a stray
    _write(fixture.master(("91-key",)), tmp_path / "a" / "cat" / f"{fixture.OTHER_LESSON}.ipynb")
    assert plan(discover([str(tmp_path / "a")]), lessons).lesson is None  # several lessons on purpose


def test_one_student_cannot_choose_the_classs_lessons(tmp_path):
    """A hostile student's trial: one student's extra notebook of another lesson, or a symbolic
    link to the masters (status symlink, never graded), turned the class into a several-lessons
    batch, so every honest classmate got that lesson's columns, points and "missing" status."""
    from kms_course.instructor.grading.class_lesson import plan
    from kms_course.instructor.grading.submissions import discover

    lessons = {fixture.LESSON: ["90-key", "90-blob"], fixture.OTHER_LESSON: ["91-key"]}
    masters = fixture.write_masters(tmp_path / "masters")
    for student in ("alice", "bob", "eve"):
        _write(fixture.submission({}), tmp_path / "a" / student / f"{fixture.LESSON}.ipynb")
    _write(fixture.master(("91-key",)), tmp_path / "a" / "eve" / f"{fixture.OTHER_LESSON}.ipynb")
    chosen = plan(discover([str(tmp_path / "a")]), lessons)
    assert (chosen.lesson, chosen.by) == (fixture.LESSON, "class")  # 1 of 3: a stray
    for student in ("alice", "bob"):
        _write(fixture.submission({}), tmp_path / "b" / student / f"{fixture.LESSON}.ipynb")
    (tmp_path / "b" / "eve").symlink_to(masters, target_is_directory=True)
    chosen = plan(discover([str(tmp_path / "b")]), lessons)
    assert (chosen.lesson, chosen.by, chosen.counts) == (fixture.LESSON, "class", {fixture.LESSON: 2})


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("verb", ["grade", "validate"])
@pytest.mark.parametrize("option,value", [
    ("--cell-timeout", "nan"), ("--cell-timeout", "inf"), ("--cell-timeout", "-1"),
    ("--cell-timeout", "0"), ("--timeout", "nan"), ("--timeout", "ten"),
    ("--jobs", "0"), ("--jobs", "-2"), ("--jobs", "1.5"),
])
def test_bad_numbers_are_refused(tmp_path, capsys, verb, option, value):
    argv = [verb, option, value]
    if verb == "grade":
        argv += [str(tmp_path), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"kms-course {verb}: argument {option}: {value!r}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_no_notebooks_is_an_error(tmp_path, capsys):
    masters = fixture.write_masters(tmp_path / "masters")
    (tmp_path / "empty").mkdir()
    assert grade(str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--masters", str(masters)) == 1
    assert f"no notebooks found in {tmp_path / 'empty'}" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["grade", "validate"])
def test_every_option_has_help_with_its_default(capsys, verb):
    with pytest.raises(SystemExit):
        cli.main([verb, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--jobs", "--cell-timeout", "--timeout"):
        assert option in text
    assert "(default: 30 seconds)" in text and "(default: 180 seconds)" in text
    assert "(default: one per core, here" in text
    if verb == "grade":
        assert "the class's lesson is the one most submissions belong to" in text


def test_class_rows_name_the_file_of_an_unknown_lesson():
    rows = gradebook.class_rows(
        [{"student": "heidi_notjson", "key": "heidi_notjson", "path": "/x/heidi_notjson.ipynb",
          "lesson": None, "status": "not-json", "exercises": {}}],
        {fixture.LESSON: [("90-key", 2), ("90-blob", 3)]},
    )
    assert rows[0]["status"] == f"{fixture.LESSON}: missing; not-json (file heidi_notjson.ipynb)"


def test_feedback_shows_sentences_not_status_codes():
    from kms_course.instructor.feedback import render

    page = render("eve", [{"lesson": fixture.LESSON, "status": "cell-timeout,solution-error",
                           "limits": {"cell": 30.0, "submission": 180.0}, "exercises": {}}])
    assert "A cell ran longer than the 30-second limit and was stopped." in page
    assert "One of your exercise cells raised an error" in page
    assert "cell-timeout" not in page and "solution-error" not in page


# --- kernels start without TCP ports (bug: parallel kernels raced for ports) ------------------

RUN_ONE = """
import os, sys
from nbformat.v4 import new_code_cell, new_notebook
from kms_course.instructor.grading.execute import execute
report = execute(new_notebook(cells=[new_code_cell("print(6 * 7)")]), {}, lambda ex, v: None,
                 env=dict(os.environ), cwd=sys.argv[1], fast_kernels=sys.argv[2] == "fast")
print(report.issues)
"""


@pytest.mark.parametrize("kind", ["fast", "plain"])
def test_grading_kernels_use_unix_sockets(tmp_path, kind):
    """Parallel kernels on TCP raced for ports ("Kernel died before replying to kernel_info",
    ZMQError: Address already in use). Grading kernels talk over Unix sockets instead, so they
    start even where no TCP port can be bound: here, a network namespace with loopback down."""
    import shutil
    import subprocess

    from tests.test_offline import _can_unshare

    command = [sys.executable, "-c", RUN_ONE, str(tmp_path), kind]
    if _can_unshare():
        command = ["unshare", "--net", *command]  # loopback is down: 127.0.0.1 cannot be bound
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr[-2000:]
    from kms_course.instructor.grading.zygote import IpcKernelManager

    km = IpcKernelManager(kernel_name="python3")
    assert km.transport == "ipc" and len(km.ip) < 100
    shutil.rmtree(km.ipc_dir)


def test_a_kernel_that_fails_to_start_is_replaced(tmp_path, monkeypatch):
    """Nothing of the student's ran, so the grader starts a second kernel instead of a zero."""
    from nbformat.v4 import new_code_cell, new_notebook

    from kms_course.instructor.grading import execute as execution
    from kms_course.instructor.grading import zygote

    spawn, calls = zygote.Zygote.spawn, []

    def fail_once(self, *args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the kernel zygote did not answer")
        return spawn(self, *args)

    monkeypatch.setattr(zygote.Zygote, "spawn", fail_once)
    nb = new_notebook(cells=[new_code_cell("print(6 * 7)")])
    report = execution.execute(nb, {}, lambda ex, v: None, env=dict(os.environ), cwd=str(tmp_path))
    assert report.issues == [] and len(calls) == 2

    calls.clear()
    monkeypatch.setattr(zygote.Zygote, "spawn", lambda self, *a: calls.append(1) or 1 / 0)
    report = execution.execute(nb, {}, lambda ex, v: None, env=dict(os.environ), cwd=str(tmp_path))
    assert report.issues == ["kernel-failed"] and len(calls) == 2


def test_a_student_folder_without_a_notebook_is_named(tmp_path, capsys, monkeypatch):
    """Found by a new user's trial: a student whose folder held only notes.txt vanished from the
    gradebook without a word; the grader now names them."""
    from kms_course.instructor.grading.submissions import folders_without_notebooks

    masters = fixture.write_masters(tmp_path / "masters")
    _write(fixture.submission(dict(fixture.SOLUTIONS)), tmp_path / "class" / "ann" / f"{fixture.LESSON}.ipynb")
    (tmp_path / "class" / "dan").mkdir()
    (tmp_path / "class" / "dan" / "notes.txt").write_text("forgot the notebook")
    (tmp_path / "class" / "README.txt").write_text("not a student")
    assert folders_without_notebooks([str(tmp_path / "class")]) == ["dan"]
    monkeypatch.setenv("PYTHONPATH", str(CASES_DIR))
    assert grade(str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--masters", str(masters),
                 "--lesson", fixture.LESSON, "--jobs", "1") == 0
    err = capsys.readouterr().err
    assert "'dan' submitted no notebook (.ipynb) and gets no grade" in err
    rows = json.loads((tmp_path / "out" / "grades.json").read_text())["students"]
    assert [r["student"] for r in rows] == ["ann"]


def test_default_workers_are_one_per_core_this_process_may_use(monkeypatch):
    # a worker and its kernel hold ~75 MiB: the default must not add a worker beyond the cores
    # (issue 18: at most 400 MiB for 200 submissions on 2 cores)
    from kms_course.instructor.grading import limits

    monkeypatch.setattr(limits.os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert limits.default_jobs() == 3
    monkeypatch.setattr(limits.os, "sched_getaffinity", lambda pid: set(), raising=False)
    assert limits.default_jobs() == 1
