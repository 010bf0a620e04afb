"""Checks of lesson 06, "Key rotation" (notebooks/06_key_rotation.ipynb).

Each check verifies the key through KMS calls (DescribeKey, GetKeyRotationStatus,
ListKeyRotations, Decrypt), never printed output.

Sources:
* EnableKeyRotation (RotationPeriodInDays 90-2560, default 365; symmetric encryption keys only):
  https://docs.aws.amazon.com/goto/WebAPI/kms/EnableKeyRotation
* GetKeyRotationStatus: https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyRotationStatus.html
* RotateKeyOnDemand: https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html
* ListKeyRotations (RotationType AUTOMATIC | ON_DEMAND):
  https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyRotations.html
* Rotating keys: https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
"""

from __future__ import annotations

from typing import Any

from kms_course.lessons.checks._common import (
    bytes_answer,
    calls,
    decrypt_or_fail,
    describe_answer_key,
    require_plaintext,
)
from kms_course.lessons.exercises import Answers, CheckFailed, exercise

LESSON = "06_key_rotation"
ROTATION_PERIOD_DAYS = 180
OLD_PLAINTEXT = b"before rotation"
#: Calls that make a ciphertext under the key (Encrypt, or a data key encrypted under it).
ENCRYPTING_CALLS = ("Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncrypt")


def _require_symmetric(meta: dict, name: str) -> None:
    if meta.get("KeySpec") != "SYMMETRIC_DEFAULT":
        raise CheckFailed(
            f"`{name}` is a {meta.get('KeySpec')} key: only symmetric encryption keys "
            "(KeySpec SYMMETRIC_DEFAULT, the create_key default) can rotate."
        )


@exercise(
    "06-enable-rotation",
    lesson=LESSON,
    points=2,
    hint="kms.enable_key_rotation(KeyId=..., RotationPeriodInDays=180).",
    answers=("rotating_key_id",),
)
def _(kms: Any, answers: Answers) -> None:
    meta = describe_answer_key(kms, answers, "rotating_key_id")
    _require_symmetric(meta, "rotating_key_id")
    status = kms.get_key_rotation_status(KeyId=meta["Arn"])
    if not status["KeyRotationEnabled"]:
        raise CheckFailed("Automatic rotation is not enabled: call kms.enable_key_rotation.")
    period = status.get("RotationPeriodInDays")
    if period != ROTATION_PERIOD_DAYS:
        raise CheckFailed(
            f"The rotation period is {period} days, not {ROTATION_PERIOD_DAYS}: pass "
            f"RotationPeriodInDays={ROTATION_PERIOD_DAYS} (without it the period is 365 days)."
        )


@exercise(
    "06-rotate-on-demand",
    lesson=LESSON,
    points=3,
    hint="Encrypt first, then kms.rotate_key_on_demand(KeyId=...); the old ciphertext still "
    "decrypts after the rotation.",
    answers=("ondemand_key_id", "ondemand_old_ciphertext"),
)
def _(kms: Any, answers: Answers) -> None:
    meta = describe_answer_key(kms, answers, "ondemand_key_id")
    _require_symmetric(meta, "ondemand_key_id")
    rotations = kms.list_key_rotations(KeyId=meta["Arn"])["Rotations"]
    if not any(r.get("RotationType") == "ON_DEMAND" for r in rotations):
        raise CheckFailed(
            "ListKeyRotations shows no ON_DEMAND rotation of this key: call "
            "kms.rotate_key_on_demand (enable_key_rotation only schedules future rotations)."
        )
    history = calls(meta["Arn"])
    if history is not None:
        rotated = [i for i, e in enumerate(history)
                   if e.get("eventName") == "RotateKeyOnDemand" and not e.get("errorCode")]
        encrypted = [i for i, e in enumerate(history)
                     if e.get("eventName") in ENCRYPTING_CALLS and not e.get("errorCode")]
        if rotated and not any(i < rotated[0] for i in encrypted):
            raise CheckFailed(
                "The key was rotated before anything was encrypted under it: the exercise shows "
                "that a ciphertext made *before* the rotation still decrypts, so encrypt "
                "b'before rotation' first, then call kms.rotate_key_on_demand."
            )
    blob = bytes_answer(answers, "ondemand_old_ciphertext", "response['CiphertextBlob']")
    plaintext = decrypt_or_fail(
        kms,
        "`ondemand_old_ciphertext` does not decrypt under this key",
        "encrypt with KeyId=ondemand_key_id.",
        CiphertextBlob=blob,
        KeyId=meta["Arn"],
    )["Plaintext"]
    require_plaintext(plaintext, OLD_PLAINTEXT, "The old ciphertext")


@exercise(
    "06-cannot-rotate",
    lesson=LESSON,
    points=2,
    hint="Create the key with KeyUsage='GENERATE_VERIFY_MAC', KeySpec='HMAC_256', then catch "
    "kms.exceptions.UnsupportedOperationException around kms.enable_key_rotation.",
    answers=("mac_key_id", "mac_rotation_error"),
)
def _(kms: Any, answers: Answers) -> None:
    meta = describe_answer_key(kms, answers, "mac_key_id")
    if not str(meta.get("KeySpec", "")).startswith("HMAC_"):
        raise CheckFailed(
            f"`mac_key_id` is a {meta.get('KeySpec')} key, not an HMAC key: create it with "
            "KeyUsage='GENERATE_VERIFY_MAC' and KeySpec='HMAC_256'."
        )
    code = answers.get("mac_rotation_error")
    history = calls(meta["Arn"], "EnableKeyRotation")
    if history is not None and not any(
        e.get("errorCode") == "UnsupportedOperationException" for e in history
    ):
        raise CheckFailed(
            "The sandbox has no record of kms.enable_key_rotation being refused for the key in "
            "`mac_key_id`: call it on that key inside try/except and store the error's code "
            "(typing the code in is not the exercise)."
        )
    if code != "UnsupportedOperationException":
        raise CheckFailed(
            f"`mac_rotation_error` is {code!r}: HMAC keys cannot rotate, and EnableKeyRotation "
            "fails with UnsupportedOperationException; store error.response['Error']['Code']."
        )
