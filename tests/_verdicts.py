"""What the check tests share: run one exercise's check on given answers and assert its verdict."""

from __future__ import annotations

from kms_course.lessons.exercises import run_check


def new_key(kms, **kwargs) -> str:
    """A new KMS key's ID (CreateKey with ``kwargs``)."""
    return kms.create_key(**kwargs)["KeyMetadata"]["KeyId"]


def verdict(kms, exercise_id: str, **answers):
    """The check's Verdict on ``answers`` (variable name -> value)."""
    return run_check(exercise_id, kms, answers)


def assert_passes(kms, exercise_id: str, **answers) -> None:
    result = verdict(kms, exercise_id, **answers)
    assert result.passed, result.message
    assert result.points == result.max_points


def assert_fails(kms, exercise_id: str, expected: str, **answers) -> None:
    """The check fails with 0 points and a message containing ``expected``."""
    result = verdict(kms, exercise_id, **answers)
    assert not result.passed
    assert result.points == 0
    assert expected in result.message, result.message
