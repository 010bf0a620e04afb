"""Checks of lesson 07, "Scheduling key deletion" (notebooks/07_key_deletion.ipynb).

Each check reads the student's answers and verifies the key's state through KMS calls
(DescribeKey, Decrypt), never printed output.

Sources:
* DisableKey / EnableKey and the Disabled state:
  https://docs.aws.amazon.com/kms/latest/developerguide/enabling-keys
* ScheduleKeyDeletion (PendingWindowInDays 7-30, default 30; DeletionDate):
  https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html
* CancelKeyDeletion (the key becomes Disabled):
  https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html
* Key states: https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from kms_course.exercises import Answers, CheckFailed, exercise

LESSON = "07_key_deletion"
#: The shortest and longest waiting periods ScheduleKeyDeletion accepts, in days.
MIN_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 30
RESCUED_PLAINTEXT = b"saved in time"


def key_metadata(kms: Any, key_id: Any, name: str) -> dict:
    """DescribeKey's ``KeyMetadata`` for the student's answer ``name`` (a key ID or key ARN).

    Raises:
        CheckFailed: the answer is not a non-empty str, or no such key exists in the sandbox.
    """
    if not isinstance(key_id, str) or not key_id:
        raise CheckFailed(
            f"`{name}` should be a key ID (a str such as "
            f"response['KeyMetadata']['KeyId']), not {type(key_id).__name__}."
        )
    try:
        return kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        raise CheckFailed(
            f"`{name}` = {key_id!r} is not a key in the sandbox: create the key with "
            "kms.create_key() and store response['KeyMetadata']['KeyId']."
        ) from None


def _days_until(when: datetime) -> float:
    now = datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - now) / timedelta(days=1)


@exercise(
    "07-disable-key",
    lesson=LESSON,
    points=2,
    hint="kms.disable_key(KeyId=...), then catch kms.exceptions.DisabledException around "
    "kms.encrypt and keep error.response['Error']['Code'].",
    answers=("paused_key_id", "paused_error_code"),
)
def _(kms: Any, answers: Answers) -> None:
    meta = key_metadata(kms, answers.get("paused_key_id"), "paused_key_id")
    if meta["KeyState"] != "Disabled":
        raise CheckFailed(
            f"The key's state is {meta['KeyState']}, not Disabled: call "
            "kms.disable_key(KeyId=paused_key_id)."
        )
    code = answers.get("paused_error_code")
    if code != "DisabledException":
        raise CheckFailed(
            f"`paused_error_code` is {code!r}: encrypting with a disabled key fails with "
            "DisabledException; store error.response['Error']['Code'] from that failure."
        )


@exercise(
    "07-schedule-deletion",
    lesson=LESSON,
    points=2,
    hint="kms.schedule_key_deletion(KeyId=..., PendingWindowInDays=7): 7 days is the shortest "
    "waiting period; the response's 'PendingWindowInDays' holds it.",
    answers=("doomed_key_id", "doomed_window_days"),
)
def _(kms: Any, answers: Answers) -> None:
    meta = key_metadata(kms, answers.get("doomed_key_id"), "doomed_key_id")
    if meta["KeyState"] != "PendingDeletion":
        raise CheckFailed(
            f"The key's state is {meta['KeyState']}, not PendingDeletion: schedule its "
            "deletion with kms.schedule_key_deletion."
        )
    if "DeletionDate" not in meta:
        raise CheckFailed("The key has no DeletionDate: schedule its deletion again.")
    days = _days_until(meta["DeletionDate"])
    if not MIN_WINDOW_DAYS - 1 < days <= MIN_WINDOW_DAYS + 1:
        raise CheckFailed(
            f"The key will be deleted in about {days:.0f} days: use the shortest waiting period "
            f"KMS allows, {MIN_WINDOW_DAYS} days (the default is {MAX_WINDOW_DAYS})."
        )
    window = answers.get("doomed_window_days")
    if isinstance(window, bool) or window != MIN_WINDOW_DAYS:
        raise CheckFailed(
            f"`doomed_window_days` is {window!r}: store the response's "
            "'PendingWindowInDays' value (an int)."
        )


@exercise(
    "07-cancel-deletion",
    lesson=LESSON,
    points=3,
    hint="After kms.cancel_key_deletion the key is Disabled: call kms.enable_key before "
    "encrypting b'saved in time'.",
    answers=("rescued_key_id", "rescued_ciphertext"),
)
def _(kms: Any, answers: Answers) -> None:
    meta = key_metadata(kms, answers.get("rescued_key_id"), "rescued_key_id")
    state = meta["KeyState"]
    if state == "PendingDeletion":
        raise CheckFailed("The key is still pending deletion: call kms.cancel_key_deletion.")
    if state == "Disabled":
        raise CheckFailed(
            "The key is Disabled: cancelling a deletion leaves the key disabled, so call "
            "kms.enable_key as well."
        )
    if state != "Enabled":
        raise CheckFailed(f"The key's state is {state}, not Enabled.")
    blob = answers.get("rescued_ciphertext")
    if not isinstance(blob, bytes):
        raise CheckFailed(
            "`rescued_ciphertext` should be the bytes of response['CiphertextBlob'] from "
            f"kms.encrypt, not {type(blob).__name__}."
        )
    try:
        plaintext = kms.decrypt(CiphertextBlob=blob, KeyId=meta["Arn"])["Plaintext"]
    except kms.exceptions.ClientError as error:
        raise CheckFailed(
            f"`rescued_ciphertext` does not decrypt under the rescued key "
            f"({error.response['Error']['Code']}): encrypt with KeyId=rescued_key_id."
        ) from None
    if plaintext != RESCUED_PLAINTEXT:
        raise CheckFailed(
            f"`rescued_ciphertext` decrypts to {plaintext!r}, not {RESCUED_PLAINTEXT!r}."
        )
