"""Checks of the grading tests' tiny lesson ``90_grading_fixture`` (two exercises).

Imported by the fixture master's setup cell (the kernel finds it through ``PYTHONPATH``) and by
the tests before grading, so the grader's workers know the exercises too. Like the course's
checks, they verify the sandbox's state through KMS calls: DescribeKey
(https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html) and Decrypt
(https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html).
"""

from __future__ import annotations

from kms_course.lessons.exercises import EXERCISES, CheckFailed, exercise

LESSON = "90_grading_fixture"
DESCRIPTION = "grading fixture"
PLAINTEXT = b"hello grader"


def _key(kms, answers):
    key_id = answers.get("fixture_key_id")
    if not isinstance(key_id, str):
        raise CheckFailed(f"`fixture_key_id` should be a key ID (str), not {type(key_id).__name__}.")
    try:
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        raise CheckFailed(f"No KMS key {key_id!r} exists in the sandbox.") from None
    if meta.get("Description") != DESCRIPTION:
        raise CheckFailed(f"The key's description is {meta.get('Description')!r}, not {DESCRIPTION!r}.")


def _blob(kms, answers):
    blob = answers.get("fixture_blob")
    if not isinstance(blob, bytes):
        raise CheckFailed(f"`fixture_blob` should be the CiphertextBlob (bytes), not {type(blob).__name__}.")
    try:
        plaintext = kms.decrypt(CiphertextBlob=blob)["Plaintext"]
    except kms.exceptions.InvalidCiphertextException:
        raise CheckFailed("KMS cannot decrypt `fixture_blob`: it is not a ciphertext of this sandbox.") from None
    if plaintext != PLAINTEXT:
        raise CheckFailed(f"`fixture_blob` decrypts to {len(plaintext)} bytes that are not {PLAINTEXT!r}.")


if "90-key" not in EXERCISES:
    exercise(
        "90-key", lesson=LESSON, points=2, answers=("fixture_key_id",),
        hint="Call kms.create_key(Description='grading fixture') and keep ['KeyMetadata']['KeyId'].",
    )(_key)
    exercise(
        "90-blob", lesson=LESSON, points=3, answers=("fixture_blob",),
        hint="Encrypt b'hello grader' with kms.encrypt under a new key; keep ['CiphertextBlob'].",
    )(_blob)
    exercise(
        "91-key", lesson="91_other_fixture", points=2, answers=("fixture_key_id",),
        hint="Same as 90-key, in the other fixture lesson.",
    )(_key)
