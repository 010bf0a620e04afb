"""Parity: the lab's verdicts and the grader's points agree exactly (issue 11, items 2, 4, 7).

Each fixture is a student's notebook; the lab side runs it as-is, check cells included, in the
in-kernel sandbox, as JupyterLab would (cell ids sent, the file named: tests/alternatives/runner.py);
the grader side grades the same files with ``kms-course grade`` (jailed). Both sides follow one
rule for which cells make up an answer (``kms_course.lessons.cells.answer_cells``) and score
0 for an exercise whose answer cells raised. The expected points are written down, so parity
alone cannot hide a side that is wrong in the same way as the other.

Batched, so that the whole costs one grader run and one lab kernel per lesson:

* for each lesson 01-10, four notebooks (:mod:`alternatives.variants`): ``full``, ``blank``,
  ``alt`` (every exercise answered by a correct solution written differently from the master,
  :mod:`alternatives.solutions`; among them answers in two cells, i.e. split, and helpers in
  added cells; plus a copied cell) and ``mixB`` (error after work, partial,
  ``kms_course.reset()`` in an answer);
* lesson 03 (7 points: 03-hmac-key 2, 03-signing-key 2, 03-alias-state 3), the lesson of the
  report (a notebook showing 7/7 in the lab got 4-5/7 from the grader after a split, a copy, an
  added helper cell, a reset or an error after the work), also two notebooks of its own
  (``L03_FIXTURES``): a wrong attempt kept in a copy above the fixed one, and an answer written
  below the stub left raising.

All of them are graded in ONE ``kms-course grade`` run (one folder per fixture, holding its
lesson notebooks); in the lab, one kernel per lesson runs that lesson's notebooks one after
another, emptied between them as by a restart (:func:`alternatives.variants.lab_run_many`). The
lab's run of ``full`` is a student's: before each correct answer, two wrong attempts in the same
cell, each checked (item 2: a correct solution re-run after a wrong attempt passes, or the check
says exactly how to get unstuck).
"""

from __future__ import annotations

import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alternatives import runner, variants  # noqa: E402
from alternatives.solutions import ALTERNATIVES  # noqa: E402

LESSONS = [
    "01_understanding_kms", "02_kms_keys_vs_data_keys", "03_creating_and_describing_keys",
    "04_encrypting_and_decrypting", "05_data_keys_and_envelope_encryption", "06_key_rotation",
    "07_key_deletion", "08_key_policies_and_grants", "09_asymmetric_keys_signing_and_macs",
    "10_capstone_document_store",
]
if os.environ.get("KMS_COURSE_PARITY_LESSONS"):  # a few lessons only, while debugging
    LESSONS = [x for x in LESSONS if x[:2] in os.environ["KMS_COURSE_PARITY_LESSONS"].split(",")]

FIXTURES = {
    "full": runner.with_answers,
    "blank": runner.student_version,
    "alt": variants.alternatives_notebook,
    "mixB": variants.mix_b,
}

L03 = "03_creating_and_describing_keys"
HMAC, SIGNING, ALIAS = "03-hmac-key", "03-signing-key", "03-alias-state"


def _full():
    return runner.with_answers(L03)


def _wrong_then_fixed_copy():
    """A wrong first attempt raised; the student fixed it in a copy below and kept the old cell:
    both carry the id, the first still raises, so the answer did not run to the end."""
    nb = _full()
    cell = runner.solution_cell(nb, HMAC)
    first = nbformat.from_dict(dict(cell))
    first["id"] = "first-attempt"
    first.source = "hmac_key_id = kms.create_key(KeySpec='HMAC_256')['KeyMetadata']['KeyId']"
    nb.cells.insert(nb.cells.index(cell), first)
    return nb


def _stub_left():
    """The answer written in an added cell below the stub, which still raises: not run to the end
    (the grader used to pass it, the lab did not)."""
    nb = _full()
    runner.solution_cell(nb, SIGNING).source = "# YOUR CODE HERE\nraise NotImplementedError()"
    index = runner.check_cell_index(nb, SIGNING)
    cell = nbformat.v4.new_code_cell(runner.solution_source(SIGNING))
    cell["id"] = "below-the-stub"
    nb.cells.insert(index, cell)
    return nb


#: Lesson 03's own cases, beyond the batch's (whose alt and mixB notebooks hold a split, a
#: copy, a helper cell, a partial answer, a reset and an error after the work in every lesson).
L03_FIXTURES = {
    "wrongthenfixed": (_wrong_then_fixed_copy, {HMAC: 0, SIGNING: 2, ALIAS: 3}),
    "stubleft": (_stub_left, {HMAC: 2, SIGNING: 0, ALIAS: 3}),
}


#: A re-run that meets what a wrong attempt made: the cell the check tells the student to run.
UNSTUCK = {
    "03-alias-state": "kms.delete_alias(AliasName='alias/lesson03-orders')",
    "10-store-setup": "kms.delete_alias(AliasName='alias/capstone-docs')",
}


#: Full points written out as the lesson's headings give them, where the registry alone would
#: let a wrong ``points=`` pass on both sides. Lesson 09 (15 points): its mixB scores 0 for
#: 09-sign-release (raised after the work) and 09-verify-offline (the stub), full points for the
#: rest (the reset is in 09-data-key-pair, the last exercise).
WRITTEN_POINTS = {
    "09_asymmetric_keys_signing_and_macs": {
        "09-sign-release": 3, "09-verify-offline": 3, "09-sign-digest": 2, "09-mac-session": 2,
        "09-rsa-limit": 3, "09-data-key-pair": 2,
    },
}


def points_of(lesson: str) -> dict[str, int]:
    if lesson in WRITTEN_POINTS:
        written = dict(WRITTEN_POINTS[lesson])
        assert list(written) == runner.exercises_of(lesson), "the lesson's exercises changed"
        return written
    from kms_course.lessons.exercises import load_all

    registry = load_all()
    return {ex: registry[ex].points for ex in runner.exercises_of(lesson)}


def expected(fixture: str, lesson: str) -> dict[str, int]:
    full = points_of(lesson)
    if fixture == "blank":
        return dict.fromkeys(full, 0)
    if fixture != "mixB":
        return full
    exs = list(full)
    out = {**full, exs[0]: 0, exs[1]: 0}  # raised after the work; left as the stub
    if lesson.startswith("08"):
        # kms_course.reset() empties the whole sandbox, the lesson's IAM roles too, and
        # 08-retire-grant retires the grant of 08-give-grant: nothing is left to retire
        out[exs[-1]] = 0
    if lesson.startswith("10"):
        # 10-who-read reads who decrypted the ledger in the trail; kms_course.reset() empties
        # the trail with the rest of the sandbox (the practice key, its reads): no reader left
        out[exs[-1]] = 0
    return out


@pytest.fixture(scope="module")
def grader_key(tmp_path_factory):
    from kms_course.instructor.grading.grader_key import KEY_FILE_ENV

    path = tmp_path_factory.mktemp("grader-state") / "grader.key"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_FILE_ENV, str(path))
        yield path


@pytest.fixture(scope="module")
def both_sides(tmp_path_factory, grader_key):
    import contextlib
    import io
    import json

    from kms_course import cli

    root = tmp_path_factory.mktemp("parity-lessons")
    subs, masters = root / "submissions", root / "masters"
    masters.mkdir()
    jobs = []
    for lesson in LESSONS:
        shutil.copy(runner.master_path(lesson), masters / runner.master_path(lesson).name)
        for name, build in FIXTURES.items():
            nb = build(lesson)
            path = subs / name / f"{lesson}.ipynb"
            variants.write(nb, path)
            cells = variants.with_attempts(nb, lesson, UNSTUCK) if name == "full" else None
            jobs.append((name, lesson, path, cells))
    if L03 in LESSONS:
        for name, (build, _want) in L03_FIXTURES.items():
            path = subs / f"l03-{name}" / f"{L03}.ipynb"
            variants.write(build(), path)
            jobs.append((f"l03-{name}", L03, path, None))

    def lab(lesson):  # one kernel per lesson runs its fixtures one after another
        mine = [(name, path, cells) for name, les, path, cells in jobs if les == lesson]
        home = root / "homes" / lesson[:2]
        home.mkdir(parents=True)
        ran = variants.lab_run_many([(path, cells) for _n, path, cells in mine], home)
        return [((name, lesson), (runner.verdicts_of(nb), variants.verdict_runs(nb)))
                for (name, _p, _c), nb in zip(mine, ran)]

    with ThreadPoolExecutor(2) as pool:
        slow_first = sorted(LESSONS, key=lambda x: x[:2] not in ("10", "08"))  # the long ones
        lab_results = dict(item for items in pool.map(lab, slow_first) for item in items)
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["grade", str(subs), "--out", str(root / "out"), "--masters", str(masters),
                         "--jobs", "3", "--no-progress"])
    assert code == 0, f"kms-course grade exited with {code}"
    rows = json.loads((root / "out" / "grades.json").read_text())["students"]
    graded = {r["student"]: r for r in rows}  # one row per fixture, every lesson's exercises
    return {"lab": lab_results, "graded": graded}


def _needs_l03():
    if L03 not in LESSONS:
        pytest.skip("lesson 03 is not in this run")


@pytest.mark.parametrize("name", list(L03_FIXTURES))
def test_lesson_03_cases_agree_exactly(both_sides, name):
    _needs_l03()
    want = L03_FIXTURES[name][1]
    lab_points, runs = both_sides["lab"][(f"l03-{name}", L03)]
    assert lab_points == want, {ex: texts[-1] for ex, texts in runs.items()}
    row = both_sides["graded"][f"l03-{name}"]
    assert {ex: row["exercises"][ex] for ex in want} == want, row["messages"]


def test_the_lab_says_first_that_an_exercise_cell_raised(both_sides):
    _needs_l03()
    shown = both_sides["lab"][("mixB", L03)][1][HMAC][-1]  # its answer raised after the work
    assert "NOT YET 03-hmac-key: 0/2 points. Your exercise cell raised NameError on line 3: " \
           "fix it and run it again." in shown
    graded = both_sides["graded"]["mixB"]["messages"][HMAC]
    assert graded.startswith("Your solution cell did not run to the end (NameError: ")


def test_the_lab_names_which_part_of_the_answer_raised(both_sides):
    _needs_l03()
    shown = both_sides["lab"][("l03-wrongthenfixed", L03)][1][HMAC][-1]
    assert "Your exercise cell 1 of 2 raised" in shown, shown


CASES = [(name, lesson) for lesson in LESSONS for name in FIXTURES]


@pytest.mark.parametrize("name, lesson", CASES,
                         ids=[f"{lesson[:2]}-{name}" for name, lesson in CASES])
def test_lab_and_grader_agree_with_the_expected_points(both_sides, name, lesson):
    want = expected(name, lesson)
    lab_points, runs = both_sides["lab"][(name, lesson)]
    assert lab_points == want, {ex: texts[-1] for ex, texts in runs.items()}
    row = both_sides["graded"][name]
    graded = {ex: row["exercises"][ex] for ex in want}
    assert graded == want, (row.get("status"), row.get("messages"))


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_correct_answer_rerun_after_wrong_attempts_passes(both_sides, lesson):
    """Item 2: in one kernel, an attempt that raised halfway and one that ran but was wrong,
    each checked, then the correct answer in the same cell: its check passes."""
    _points, runs = both_sides["lab"][("full", lesson)]
    for ex, texts in runs.items():
        attempts = len(variants.wrong_attempts(ex, lesson)) + (ex in UNSTUCK)
        assert len(texts) == attempts + 1, texts
        assert texts[0].startswith(f"NOT YET {ex}") and "raised RuntimeError" in texts[0], texts[0]
        for text in texts[1:-1]:  # judged wrong (with a hint), or stuck, saying how to go on
            assert text.startswith(f"NOT YET {ex}"), text
            assert "Hint: " in text or (ex in UNSTUCK and UNSTUCK[ex] in text), text
        assert texts[-1].startswith(f"PASSED {ex}"), texts


@pytest.mark.parametrize("ex", list(UNSTUCK))
def test_the_check_names_the_alias_a_wrong_attempt_left(both_sides, ex):
    """A re-run that meets the alias its first attempt made: the check names the alias to
    delete; after that, the same answer passes (UNSTUCK)."""
    lesson = next((x for x in LESSONS if x.startswith(ex[:2])), None)
    if lesson is None:
        pytest.skip(f"lesson {ex[:2]} is not in this run")
    _points, runs = both_sides["lab"][("full", lesson)]
    stuck = runs[ex][-2]
    assert "raised AlreadyExistsException" in stuck, stuck
    assert UNSTUCK[ex] in stuck, stuck


def test_every_exercise_of_the_lessons_has_an_alternative_unlike_the_master():
    for lesson in LESSONS:
        for ex in runner.exercises_of(lesson):
            assert ex in ALTERNATIVES, f"{ex} has no alternative solution"
            text = "\n".join(source for _kind, source in ALTERNATIVES[ex])
            assert text.split() != variants.master_answer(ex, lesson).split(), ex
        kinds = [[k for k, _ in ALTERNATIVES[ex]] for ex in runner.exercises_of(lesson)]
        assert any(k.count("solution") > 1 for k in kinds), f"{lesson}: no answer in two cells"
        assert any("added" in k for k in kinds), f"{lesson}: no helper in an added cell"
