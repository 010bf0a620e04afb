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
* After the waiting period KMS deletes the key (DeleteKey in CloudTrail):
  https://docs.aws.amazon.com/kms/latest/developerguide/ct-delete-key.html

Dates are compared with sandbox time (:mod:`kms_course.sandbox.clock`), which the lesson moves
forward; on the ``aws`` backend that is real time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from kms_course.lessons.checks._common import (
    bytes_answer,
    calls,
    decrypt_or_fail,
    describe_answer_key,
    int_answer,
    require_plaintext,
    succeeded,
)
from kms_course.lessons.exercises import Answers, CheckFailed, exercise

LESSON = "07_key_deletion"
#: The shortest and longest waiting periods ScheduleKeyDeletion accepts, in days.
MIN_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 30
RESCUED_PLAINTEXT = b"saved in time"


def _require_state(meta: dict, expected: str, fix: str) -> None:
    """Raise CheckFailed ("The key's state is X, not <expected>: <fix>") unless in that state."""
    if meta["KeyState"] != expected:
        raise CheckFailed(f"The key's state is {meta['KeyState']}, not {expected}: {fix}")


def _now() -> datetime:
    """Sandbox time (the lesson may have advanced the clock); real time on the aws backend."""
    from kms_course.sandbox import clock, start as sandbox

    if sandbox.active_backend() in sandbox.SANDBOX_BACKENDS:
        return clock.now()
    return datetime.now(timezone.utc)


def _days_until(when: datetime) -> float:
    now = _now()
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
    meta = describe_answer_key(kms, answers, "paused_key_id")
    _require_state(meta, "Disabled", "call kms.disable_key(KeyId=paused_key_id).")
    code = answers.get("paused_error_code")
    history = calls(meta["Arn"])
    if history is not None and not any(e.get("errorCode") == "DisabledException" for e in history):
        raise CheckFailed(
            "The sandbox has no record of a call refused with DisabledException for the key in "
            "`paused_key_id`: after disabling it, call kms.encrypt with it inside try/except and "
            "store error.response['Error']['Code'] (typing the code in is not the exercise)."
        )
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
    meta = describe_answer_key(kms, answers, "doomed_key_id")
    _require_state(meta, "PendingDeletion", "schedule its deletion with kms.schedule_key_deletion.")
    if "DeletionDate" not in meta:
        raise CheckFailed("The key has no DeletionDate: schedule its deletion again.")
    days = _days_until(meta["DeletionDate"])
    if not MIN_WINDOW_DAYS - 1 < days <= MIN_WINDOW_DAYS + 1:
        raise CheckFailed(
            f"The key will be deleted in about {days:.0f} days: use the shortest waiting period "
            f"KMS allows, {MIN_WINDOW_DAYS} days (the default is {MAX_WINDOW_DAYS})."
        )
    int_answer(
        answers, "doomed_window_days", MIN_WINDOW_DAYS,
        "the response's 'PendingWindowInDays' value (an int)",
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
    meta = describe_answer_key(kms, answers, "rescued_key_id")
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
    history = calls(meta["Arn"])
    if history is not None:
        done = [e.get("eventName") for e in succeeded(history)]
        if "ScheduleKeyDeletion" not in done:
            raise CheckFailed(
                "The deletion of the key in `rescued_key_id` was never scheduled, so there was "
                "nothing to rescue: call kms.schedule_key_deletion(KeyId=..., "
                "PendingWindowInDays=7) first, then cancel it."
            )
        scheduled = done.index("ScheduleKeyDeletion")
        if "CancelKeyDeletion" not in done[scheduled:]:
            raise CheckFailed(
                "The deletion of the key in `rescued_key_id` was scheduled but never cancelled: "
                "call kms.cancel_key_deletion(KeyId=...), then kms.enable_key."
            )
    blob = bytes_answer(
        answers, "rescued_ciphertext", "response['CiphertextBlob'] from kms.encrypt"
    )
    plaintext = decrypt_or_fail(
        kms,
        "`rescued_ciphertext` does not decrypt under the rescued key",
        "encrypt with KeyId=rescued_key_id.",
        CiphertextBlob=blob,
        KeyId=meta["Arn"],
    )["Plaintext"]
    require_plaintext(plaintext, RESCUED_PLAINTEXT, "`rescued_ciphertext`")


LOST_PLAINTEXT = b"lost forever"


@exercise(
    "07-deletion-completes",
    lesson=LESSON,
    points=3,
    hint="Schedule the deletion with PendingWindowInDays=7, then move the sandbox clock past the "
    "DeletionDate with advance(days=8) (from kms_course.sandbox.clock import advance); decrypt with "
    "KeyId=lost_key_id inside try/except and keep error.response['Error']['Code'].",
    answers=("lost_key_id", "lost_ciphertext", "lost_error_code"),
)
def _(kms: Any, answers: Answers) -> None:
    from botocore.exceptions import ClientError

    from kms_course.sandbox import start as sandbox, trail
    from kms_course.lessons.checks._common import key_id_answer

    key_id = key_id_answer(answers, "lost_key_id")
    blob = bytes_answer(answers, "lost_ciphertext", "response['CiphertextBlob'] from kms.encrypt")
    if sandbox.active_backend() not in sandbox.SANDBOX_BACKENDS:
        raise CheckFailed("This exercise moves the offline sandbox's clock; on AWS the key is "
                          "deleted only when its waiting period really ends.")
    try:
        state = kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "NotFoundException":
            raise
        state = None
    if state is not None:
        raise CheckFailed(f"The key still exists (key state {state}): schedule its deletion and "
                          "advance the clock past its DeletionDate.")
    if not trail.trail(key_id=key_id, event_name="DeleteKey"):
        raise CheckFailed("The trail shows no deletion of `lost_key_id` by KMS: create the key "
                          "yourself, schedule its deletion, then advance the clock.")
    if not trail.trail(key_id=key_id, event_name="Encrypt"):
        raise CheckFailed("`lost_ciphertext` was not made under `lost_key_id`: encrypt "
                          "b'lost forever' with it before deleting it.")
    # the student's own Decrypt, refused (a typed-in code is not the exercise); read before the
    # check's own Decrypt below, which names no KeyId so that it never counts as the student's
    if not trail.trail(key_id=key_id, event_name="Decrypt", error_code="NotFoundException"):
        raise CheckFailed("The trail shows no Decrypt naming `lost_key_id` refused with "
                          "NotFoundException: after the deletion, decrypt lost_ciphertext with "
                          "KeyId=lost_key_id inside try/except and store the error's code "
                          "(typing the code in is not the exercise).")
    try:
        kms.decrypt(CiphertextBlob=blob)
    except ClientError:
        pass
    else:
        raise CheckFailed("`lost_ciphertext` still decrypts: keep the ciphertext made under "
                          "the deleted key.")
    code = answers.get("lost_error_code")
    if code != "NotFoundException":
        raise CheckFailed(
            f"`lost_error_code` is {code!r}: Decrypt naming a deleted key fails with "
            "NotFoundException; store error.response['Error']['Code'] from that failure."
        )
