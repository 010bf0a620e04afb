"""The checks of lessons 01-04: each passes on a correct answer and fails, saying why, on wrong ones.

Each test builds the sandbox state a student's solution would build (with the real KMS calls),
then runs the registered check with :func:`kms_course.exercises.run_check`, as the grader does.
The expected properties come from the AWS KMS API reference (CreateKey, DescribeKey, Encrypt,
Decrypt, GenerateDataKey pages, linked in each check module).
"""

from __future__ import annotations

import base64

import pytest

from kms_course import reset, start_sandbox
from kms_course.exercises import load_all, run_check

MADE_UP_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def kms():
    client = start_sandbox(quiet=True)
    reset()
    yield client
    reset()


def verdict(kms, exercise_id: str, **answers):
    return run_check(exercise_id, kms, answers)


def assert_fails(result, *fragments: str) -> None:
    assert not result.passed, result.text()
    assert result.points == 0
    for fragment in fragments:
        assert fragment in result.message, result.text()


def new_key(kms, **kwargs) -> str:
    return kms.create_key(**kwargs)["KeyMetadata"]["KeyId"]


# --- registry -----------------------------------------------------------------------------------

LESSON_EXERCISES = {
    "03_creating_and_describing_keys": {"03-hmac-key", "03-signing-key", "03-alias-state"},
}


@pytest.mark.parametrize("lesson, expected", sorted(LESSON_EXERCISES.items()))
def test_lesson_exercises_are_registered(lesson, expected):
    registry = load_all()
    assert {e.id for e in registry.values() if e.lesson == lesson} == expected


# --- lesson 03 ------------------------------------------------------------------------------------


def test_hmac_key_passes_on_hmac_256_key(kms):
    key = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    result = verdict(kms, "03-hmac-key", hmac_key_id=key)
    assert result.passed, result.text()
    assert result.points == 2


def test_hmac_key_fails_on_wrong_key_spec(kms):
    key = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_512")
    assert_fails(verdict(kms, "03-hmac-key", hmac_key_id=key), "KeySpec 'HMAC_512'", "'HMAC_256'")


def test_hmac_key_fails_on_symmetric_encryption_key(kms):
    key = new_key(kms, KeyUsage="ENCRYPT_DECRYPT")
    assert_fails(verdict(kms, "03-hmac-key", hmac_key_id=key), "KeySpec 'SYMMETRIC_DEFAULT'")


def test_hmac_key_fails_on_made_up_key_id(kms):
    assert_fails(
        verdict(kms, "03-hmac-key", hmac_key_id=MADE_UP_KEY_ID),
        "no KMS key with that ID exists",
    )


def test_hmac_key_fails_on_missing_variable(kms):
    assert_fails(verdict(kms, "03-hmac-key"), "`hmac_key_id` is not defined yet")


def test_hmac_key_fails_on_whole_response_stored(kms):
    response = kms.create_key(KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    assert_fails(
        verdict(kms, "03-hmac-key", hmac_key_id={"KeyMetadata": response["KeyMetadata"]}),
        "whole create_key response",
    )


def test_signing_key_passes(kms):
    key = new_key(
        kms, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048", Description="Invoice signing key"
    )
    assert verdict(kms, "03-signing-key", signing_key_id=key).passed


def test_signing_key_fails_on_encryption_rsa_key(kms):
    key = new_key(
        kms, KeyUsage="ENCRYPT_DECRYPT", KeySpec="RSA_2048", Description="Invoice signing key"
    )
    assert_fails(
        verdict(kms, "03-signing-key", signing_key_id=key), "KeyUsage 'ENCRYPT_DECRYPT'"
    )


def test_signing_key_fails_on_wrong_spec(kms):
    key = new_key(
        kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256", Description="Invoice signing key"
    )
    assert_fails(verdict(kms, "03-signing-key", signing_key_id=key), "KeySpec 'ECC_NIST_P256'")


def test_signing_key_fails_on_wrong_description(kms):
    key = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048", Description="invoice key")
    assert_fails(verdict(kms, "03-signing-key", signing_key_id=key), "Description 'invoice key'")


def _orders_key(kms, alias: bool = True) -> str:
    key = new_key(kms, KeyUsage="ENCRYPT_DECRYPT")
    if alias:
        kms.create_alias(AliasName="alias/lesson03-orders", TargetKeyId=key)
    return key


def test_alias_state_passes(kms):
    key = _orders_key(kms)
    assert verdict(kms, "03-alias-state", orders_key_id=key, orders_key_state="Enabled").passed


def test_alias_state_passes_with_default_key_usage(kms):
    # CreateKey's default KeyUsage is ENCRYPT_DECRYPT (API_CreateKey.html).
    key = new_key(kms)
    kms.create_alias(AliasName="alias/lesson03-orders", TargetKeyId=key)
    assert verdict(kms, "03-alias-state", orders_key_id=key, orders_key_state="Enabled").passed


def test_alias_state_fails_without_alias(kms):
    key = _orders_key(kms, alias=False)
    assert_fails(
        verdict(kms, "03-alias-state", orders_key_id=key, orders_key_state="Enabled"),
        "no alias 'alias/lesson03-orders'",
    )


def test_alias_state_fails_when_alias_names_another_key(kms):
    _orders_key(kms)
    other = new_key(kms)
    assert_fails(
        verdict(kms, "03-alias-state", orders_key_id=other, orders_key_state="Enabled"),
        "no alias",
    )


def test_alias_state_fails_on_wrong_state(kms):
    key = _orders_key(kms)
    assert_fails(
        verdict(kms, "03-alias-state", orders_key_id=key, orders_key_state="ENABLED"),
        "`orders_key_state` is 'ENABLED'",
        "'Enabled'",
    )


def test_alias_state_fails_on_hmac_key(kms):
    key = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    kms.create_alias(AliasName="alias/lesson03-orders", TargetKeyId=key)
    assert_fails(
        verdict(kms, "03-alias-state", orders_key_id=key, orders_key_state="Enabled"),
        "KeySpec 'HMAC_256'",
    )
