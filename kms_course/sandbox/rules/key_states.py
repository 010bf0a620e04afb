"""Key states (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html):
which operations a disabled or pending-deletion key refuses, and ScheduleKeyDeletion,
CancelKeyDeletion, EnableKey and DisableKey as real KMS answers them.
"""

from __future__ import annotations

from datetime import timedelta

from kms_course.sandbox.rules.registry import before, KmsError, replace
from kms_course.sandbox.rules.common import _iso, _now, find_key, key_id_or_arn_only

def require_usable(key) -> None:
    """Key-state check for cryptographic operations (Encrypt, Decrypt, ReEncrypt,
    GenerateDataKey*, Sign, Verify, GenerateMac, VerifyMac, GetPublicKey, ...).

    Disabled → DisabledException "<key ARN> is disabled."; PendingDeletion or PendingImport →
    KMSInvalidStateException "<key ARN> is pending deletion." / "... is pending import.".

    https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
    """
    state = key.key_state
    if state == "Disabled":
        raise KmsError("DisabledException", f"{key.arn} is disabled.")
    if state == "PendingDeletion":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is pending deletion.")
    if state == "PendingImport":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is pending import.")


def require_not_pending(key) -> None:
    """Management operations refused while the key is PendingDeletion or PendingImport.

    https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
    """
    if key.key_state == "PendingDeletion":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is pending deletion.")
    if key.key_state == "PendingImport":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is pending import.")


@before(
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "GetPublicKey",
)
def key_state_for_crypto(ctx, params: dict) -> None:
    """A Disabled key refuses cryptographic operations with DisabledException; a key pending
    deletion or pending import refuses them with KMSInvalidStateException.

    https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
    """
    key = find_key(ctx, params.get("KeyId"))
    if key is not None:
        require_usable(key)


@replace("ScheduleKeyDeletion")
def schedule_key_deletion(ctx, params: dict) -> dict:
    """PendingWindowInDays must be 7-30 (default 30); the response carries KeyId (ARN),
    DeletionDate, KeyState and PendingWindowInDays; a key ARN is a valid KeyId.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html
    """
    key = key_id_or_arn_only(ctx, params.get("KeyId"))
    window = params.get("PendingWindowInDays", 30)
    if not isinstance(window, int) or not 7 <= window <= 30:
        raise KmsError(
            "ValidationException",
            f"PendingWindowInDays must be between 7 and 30 days (got {window}).",
        )
    if key.key_state == "PendingDeletion":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is pending deletion.")
    key.enabled = False
    key.key_state = "PendingDeletion"
    key.deletion_date = _now() + timedelta(days=window)
    key.pending_window_in_days = window
    return {
        "KeyId": key.arn,
        "DeletionDate": _iso(key.deletion_date),
        "KeyState": "PendingDeletion",
        "PendingWindowInDays": window,
    }


@replace("CancelKeyDeletion")
def cancel_key_deletion(ctx, params: dict) -> dict:
    """Only a key pending deletion can be cancelled (KMSInvalidStateException otherwise); the key
    is then Disabled, and the response KeyId is the key ARN. A key ARN is a valid KeyId.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html
    https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
    """
    key = key_id_or_arn_only(ctx, params.get("KeyId"))
    if key.key_state != "PendingDeletion":
        raise KmsError(
            "KMSInvalidStateException",
            f"{key.arn} is not pending deletion (its key state is {key.key_state}).",
        )
    key.key_state = "Disabled"
    key.enabled = False
    key.deletion_date = None
    key.pending_window_in_days = None
    return {"KeyId": key.arn}


@replace("EnableKey")
def enable_key(ctx, params: dict) -> dict:
    """EnableKey takes a key ID or key ARN; a key pending deletion or pending import is refused
    with KMSInvalidStateException (cancel the deletion first).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKey.html
    https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
    """
    key = key_id_or_arn_only(ctx, params.get("KeyId"))
    require_not_pending(key)
    key.enabled = True
    key.key_state = "Enabled"
    return {}


@replace("DisableKey")
def disable_key(ctx, params: dict) -> dict:
    """DisableKey takes a key ID or key ARN; a key pending deletion or pending import is refused
    with KMSInvalidStateException.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKey.html
    https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
    """
    key = key_id_or_arn_only(ctx, params.get("KeyId"))
    require_not_pending(key)
    key.enabled = False
    key.key_state = "Disabled"
    return {}
