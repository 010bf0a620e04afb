"""Key rotation: automatic rotation on and off with its period, on-demand rotations and their
list (https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kms_course.sandbox.rules.registry import after, before, KmsError, replace
from kms_course.sandbox.rules.common import _iso, _now, key_id_or_arn_only, require_key
from kms_course.sandbox.rules.key_states import require_usable

ROTATION_DAYS_DEFAULT = 365
ROTATION_DAYS_MIN, ROTATION_DAYS_MAX = 90, 2560
ON_DEMAND_ROTATIONS_MAX = 25


def require_rotatable(key, operation: str) -> None:
    """Only symmetric encryption keys with key material from KMS (Origin AWS_KMS) rotate:
    asymmetric keys, HMAC keys, keys with imported key material and keys in a custom key store
    give UnsupportedOperationException.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html
    https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html
    """
    if key.key_spec != "SYMMETRIC_DEFAULT" or key.origin != "AWS_KMS":
        raise KmsError(
            "UnsupportedOperationException",
            f"{operation} is not supported for {key.arn} (KeySpec {key.key_spec}, Origin "
            f"{key.origin}): only symmetric encryption keys with Origin AWS_KMS rotate.",
        )


def _rotation_key(ctx, params: dict, operation: str):
    key = key_id_or_arn_only(ctx, params.get("KeyId"))
    require_rotatable(key, operation)
    require_usable(key)
    return key


@replace("EnableKeyRotation")
def enable_key_rotation(ctx, params: dict) -> dict:
    """Automatic rotation of a symmetric encryption key: RotationPeriodInDays 90-2560 (default
    365); the next rotation is that many days from now. The key must be Enabled.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html
    """
    key = _rotation_key(ctx, params, "EnableKeyRotation")
    period = params.get("RotationPeriodInDays", ROTATION_DAYS_DEFAULT)
    if not isinstance(period, int) or not ROTATION_DAYS_MIN <= period <= ROTATION_DAYS_MAX:
        raise KmsError(
            "ValidationException",
            f"RotationPeriodInDays must be between {ROTATION_DAYS_MIN} and {ROTATION_DAYS_MAX} "
            f"days (got {period}).",
        )
    key.key_rotation_status = True
    key.rotation_period_in_days = period
    key.next_rotation_date = _now() + timedelta(days=period)
    return {}


@replace("DisableKeyRotation")
def disable_key_rotation(ctx, params: dict) -> dict:
    """Turns automatic rotation off (same key requirements as EnableKeyRotation).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKeyRotation.html
    """
    key = _rotation_key(ctx, params, "DisableKeyRotation")
    key.key_rotation_status = False
    key.next_rotation_date = None
    return {}


@replace("GetKeyRotationStatus")
def get_key_rotation_status(ctx, params: dict) -> dict:
    """KeyRotationEnabled and KeyId (ARN); when enabled, also RotationPeriodInDays and
    NextRotationDate. (OnDemandRotationStartDate appears only while an on-demand rotation is in
    progress; the sandbox completes it at once, so it never appears.)

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyRotationStatus.html
    """
    key = key_id_or_arn_only(ctx, params.get("KeyId"))
    body: dict[str, Any] = {"KeyRotationEnabled": bool(key.key_rotation_status), "KeyId": key.arn}
    if key.key_rotation_status:
        period = getattr(key, "rotation_period_in_days", None) or ROTATION_DAYS_DEFAULT
        next_date = getattr(key, "next_rotation_date", None) or _now() + timedelta(days=period)
        body.update(RotationPeriodInDays=period, NextRotationDate=_iso(next_date))
    return body


@replace("RotateKeyOnDemand")
def rotate_key_on_demand(ctx, params: dict) -> dict:
    """On-demand rotation of a symmetric encryption key: at most 25 per key
    (LimitExceededException); each appears in ListKeyRotations as RotationType ON_DEMAND. Old
    ciphertext still decrypts after rotation (KMS keeps every key material version).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html
    """
    key = _rotation_key(ctx, params, "RotateKeyOnDemand")
    done = [r for r in key.rotations if r.get("RotationType") == "ON_DEMAND"]
    if len(done) >= ON_DEMAND_ROTATIONS_MAX:
        raise KmsError(
            "LimitExceededException",
            f"{key.arn} has reached the limit of {ON_DEMAND_ROTATIONS_MAX} on-demand rotations.",
        )
    key.rotations.append(
        {"KeyId": key.arn, "RotationDate": _iso(_now()), "RotationType": "ON_DEMAND"}
    )
    return {"KeyId": key.arn}


@before("ListKeyRotations")
def list_key_rotations_key(ctx, params: dict) -> None:
    """ListKeyRotations takes a key ID or key ARN of a key that can rotate
    (UnsupportedOperationException for asymmetric and HMAC keys).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyRotations.html
    """
    key = key_id_or_arn_only(ctx, params.get("KeyId"))
    if key.key_spec != "SYMMETRIC_DEFAULT":
        require_rotatable(key, "ListKeyRotations")


@after("ListKeyRotations")
def list_key_rotations_arn(ctx, params: dict, body: dict) -> dict:
    """Each rotation lists its KeyId as the key ARN.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyRotations.html
    """
    arn = require_key(ctx, params.get("KeyId")).arn
    for rotation in body.get("Rotations", []):
        rotation["KeyId"] = arn
    return body
