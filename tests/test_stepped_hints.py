"""Hints step up in the lab (issue 11, item 6): the first failures of an exercise show its nudge,
which names no call; the third failure of the same exercise in the kernel shows the full hint;
exercises count separately; the grader always gives the full hint."""

from __future__ import annotations

import re

import pytest

from kms_course.lessons import exercises, nudges
from kms_course.lessons.exercises import ExerciseNotPassed, check, load_all, run_check

HMAC, SIGNING = "03-hmac-key", "03-signing-key"


@pytest.fixture
def fresh_count(kms, monkeypatch):
    """An emptied sandbox and a kernel in which no check has failed yet."""
    monkeypatch.setattr(exercises, "FAILURES", {})
    return kms


def _shown(exercise_id: str) -> str:
    with pytest.raises(ExerciseNotPassed) as failed:
        check(exercise_id)
    return str(failed.value)


def test_first_failure_nudges_and_third_gives_the_call(fresh_count, monkeypatch):
    wrong = fresh_count.create_key()["KeyMetadata"]["KeyId"]  # a symmetric key, not an HMAC key
    monkeypatch.setitem(globals(), "hmac_key_id", wrong)
    full = load_all()[HMAC].hint
    first = _shown(HMAC)
    assert first.startswith(f"NOT YET {HMAC}: 0/2 points. ")
    assert "KeySpec" in first.splitlines()[0]  # the check's message still names what is wrong
    assert f"Hint: {nudges.NUDGES[HMAC]}" in first
    assert "create_key(" not in first and full not in first
    assert "2 more failed checks" in first
    second = _shown(HMAC)
    assert full not in second and "one more failed check" in second
    third = _shown(HMAC)
    assert third.endswith(f"Hint: {full}")
    assert "create_key(KeyUsage='GENERATE_VERIFY_MAC', KeySpec='HMAC_256')" in third
    assert _shown(HMAC).endswith(f"Hint: {full}")  # and it stays


def test_exercises_count_separately_and_a_pass_resets_nothing(fresh_count, monkeypatch):
    symmetric = fresh_count.create_key()["KeyMetadata"]["KeyId"]
    monkeypatch.setitem(globals(), "hmac_key_id", symmetric)
    monkeypatch.setitem(globals(), "signing_key_id", symmetric)
    _shown(HMAC), _shown(HMAC)
    assert nudges.NUDGES[SIGNING] in _shown(SIGNING)  # the other exercise's first failure
    hmac = fresh_count.create_key(KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    monkeypatch.setitem(globals(), "hmac_key_id", hmac["KeyMetadata"]["KeyId"])
    check(HMAC)  # passes
    monkeypatch.setitem(globals(), "hmac_key_id", symmetric)
    assert _shown(HMAC).endswith(f"Hint: {load_all()[HMAC].hint}")  # its third failure
    assert exercises.FAILURES == {HMAC: 3, SIGNING: 1}


def test_the_grader_gets_the_full_hint_at_once(fresh_count):
    wrong = fresh_count.create_key()["KeyMetadata"]["KeyId"]
    verdict = run_check(HMAC, fresh_count, {"hmac_key_id": wrong})
    assert not verdict.passed and verdict.hint == load_all()[HMAC].hint
    assert exercises.FAILURES == {}


def _course_exercises() -> set[str]:
    """The lessons' exercises: not those a test fixture registered in this process (the
    grading tests' lesson 90/91), which made this test fail when it ran after them."""
    return {i for i, e in load_all().items() if e.checker.__module__.startswith("kms_course.")}


def test_every_exercise_of_the_written_lessons_has_its_own_nudge():
    assert sorted(_course_exercises() - set(nudges.NUDGES)) == []
    assert sorted(set(nudges.NUDGES) - _course_exercises()) == []  # no nudge of a removed one


# a call with arguments, as the full hints give them: kms.x(...), create_key(KeyUsage=...)
_CALL = re.compile(r"\w+\([A-Z]\w*=|kms\.\w+\(|\.decode\(|b64encode\(|os\.urandom\(")


@pytest.mark.parametrize("exercise_id", sorted(nudges.NUDGES))
def test_a_nudge_gives_no_call_and_is_not_the_full_hint(exercise_id):
    nudge = nudges.NUDGES[exercise_id]
    assert not _CALL.search(nudge), nudge
    assert nudge != load_all()[exercise_id].hint


def test_stepped_hint_refuses_a_count_below_one():
    with pytest.raises(ValueError, match="failures must be 1 or more"):
        nudges.stepped_hint(HMAC, "full", 0)
    assert nudges.stepped_hint("99-new", "", 5) == nudges.GENERIC
