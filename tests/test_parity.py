"""Parity: the lab's verdicts and the grader's points agree exactly (issue 11, item 4).

Each fixture is a student's notebook; the lab side runs it as-is, check cells included, in the
in-kernel sandbox, as JupyterLab would (tests/alternatives/runner.py); the grader side grades the
same files with ``kms-course grade`` (jailed). Both sides follow one rule for which cells make
up an answer (``kms_course.transforms.cells.answer_cells``) and score 0 for an exercise whose
answer cells raised. ``EXPECTED`` is what each fixture must get, so parity alone cannot hide a
side that is wrong in the same way as the other.

Lesson 03 (7 points: 03-hmac-key 2, 03-signing-key 2, 03-alias-state 3) is the lesson of the
report: a notebook showing 7/7 in the lab got 4-5/7 from the grader after a split, a copy, an
added helper cell, a reset or an error after the work.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alternatives import runner  # noqa: E402

LESSON = "03_creating_and_describing_keys"
HMAC, SIGNING, ALIAS = "03-hmac-key", "03-signing-key", "03-alias-state"
FULL = {HMAC: 2, SIGNING: 2, ALIAS: 3}
NONE = {HMAC: 0, SIGNING: 0, ALIAS: 0}


def _full():
    return runner.with_answers(LESSON)


def _blank():
    return runner.student_version(LESSON)


def _partial():
    return runner.with_answers(LESSON, {HMAC: runner.solution_source(HMAC)})


def _split():
    return runner.split(_full(), ALIAS, 2)  # create_key + create_alias | describe_key


def _copied():
    nb = _full()
    cell = runner.solution_cell(nb, SIGNING)
    copy = nbformat.from_dict(dict(cell))
    copy["id"] = "copied-signing"
    copy.source = "signing_key_id = signing_key_id  # my copy of the cell above, kept"
    nb.cells.insert(nb.cells.index(cell) + 1, copy)
    return nb


def _helper():
    nb = _full()
    runner.solution_cell(nb, HMAC).source = "hmac_key_id = make_hmac_key()"
    return runner.add_cell_before(nb, HMAC, (
        "def make_hmac_key():\n"
        "    response = kms.create_key(KeyUsage='GENERATE_VERIFY_MAC', KeySpec='HMAC_256')\n"
        "    return response['KeyMetadata']['KeyId']"))


def _reset():
    nb = _full()
    cell = runner.solution_cell(nb, ALIAS)
    cell.source = "import kms_course\nkms_course.reset()\n" + cell.source
    return nb


def _error_after_work():
    nb = _full()
    cell = runner.solution_cell(nb, SIGNING)
    cell.source += "\nprint(signing_key_arn)  # a name never defined"
    return nb


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


FIXTURES = {
    "full": (_full, FULL),
    "blank": (_blank, NONE),
    "partial": (_partial, {HMAC: 2, SIGNING: 0, ALIAS: 0}),
    "split": (_split, FULL),
    "copied": (_copied, FULL),
    "helper": (_helper, FULL),
    "reset": (_reset, FULL),  # each check ran before the reset of a later answer
    "errorafterwork": (_error_after_work, {HMAC: 2, SIGNING: 0, ALIAS: 3}),
    "wrongthenfixed": (_wrong_then_fixed_copy, {HMAC: 0, SIGNING: 2, ALIAS: 3}),
    "stubleft": (_stub_left, {HMAC: 2, SIGNING: 0, ALIAS: 3}),
}


@pytest.fixture(scope="module")
def grader_key(tmp_path_factory):
    from kms_course.grading.grader_key import KEY_FILE_ENV

    path = tmp_path_factory.mktemp("grader-state") / "grader.key"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_FILE_ENV, str(path))
        yield path


@pytest.fixture(scope="module")
def both_sides(tmp_path_factory, grader_key):
    root = tmp_path_factory.mktemp("parity")
    subs = root / "submissions"
    for name, (build, _expected) in FIXTURES.items():
        path = subs / name / f"{LESSON}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(build(), path)
    lab, messages = runner.lab_verdicts(subs, LESSON, root / "homes")
    masters = runner.masters_folder(LESSON, root / "masters")
    rows = runner.grader_points(subs, masters, LESSON, root / "out")
    return {"lab": lab, "rows": rows, "messages": messages}


@pytest.mark.parametrize("name", list(FIXTURES))
def test_lab_and_grader_agree_exactly(both_sides, name):
    expected = FIXTURES[name][1]
    assert both_sides["lab"][name] == expected, both_sides["messages"][name]
    assert both_sides["rows"][name]["exercises"] == expected, both_sides["rows"][name]["messages"]


def test_the_lab_says_first_that_an_exercise_cell_raised(both_sides):
    shown = both_sides["messages"]["errorafterwork"][SIGNING]
    assert "NOT YET 03-signing-key: 0/2 points. Your exercise cell raised NameError on line 7: " \
           "fix it and run it again." in shown
    graded = both_sides["rows"]["errorafterwork"]["messages"][SIGNING]
    assert graded.startswith("Your solution cell did not run to the end (NameError: ")


def test_the_lab_names_which_part_of_the_answer_raised(both_sides):
    shown = both_sides["messages"]["wrongthenfixed"][HMAC]
    assert "Your exercise cell 1 of 2 raised ValidationException" in shown or \
           "Your exercise cell 1 of 2 raised" in shown, shown
