"""Real-KMS rules enforced on top of moto, wherever the course's sandbox runs.

moto's KMS accepts much that real AWS KMS refuses (see the fidelity table printed by
``kms-course fidelity``). This module patches moto's KMS request handler (``KmsResponse``) in the
process that serves the sandbox, either the notebook kernel (``moto`` backend) or the course's
moto server (``moto-server`` backend), so every client sees the same rules. The ``aws`` backend
never loads it.

Each rule is a small function registered for one KMS operation:

* ``@before("Op")``: ``rule(ctx, params)`` runs before moto and may raise :class:`KmsError`;
* ``@after("Op")``: ``rule(ctx, params, body) -> body`` rewrites moto's JSON response;
* ``@replace("Op")``: ``rule(ctx, params) -> body`` answers instead of moto (for operations moto
  lacks or gets wrong).

Each rule's docstring names the AWS documentation page it comes from. Errors are raised with the
exact AWS error code, so botocore turns them into the modeled exception
(``kms.exceptions.DisabledException`` and so on), exactly as on AWS.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from moto.core.exceptions import JsonRESTError

_BEFORE: dict[str, list[Callable]] = defaultdict(list)
_AFTER: dict[str, list[Callable]] = defaultdict(list)
_REPLACE: dict[str, Callable] = {}

#: Switch used by ``kms-course fidelity`` to compare plain moto with the sandbox in one process.
ENABLED = True
_INSTALLED = False


class KmsError(JsonRESTError):
    """An error answered with a real AWS KMS error code (``__type``) and message (HTTP 400)."""

    code = 400

    def __init__(self, error_type: str, message: str):
        super().__init__(error_type, message)


def before(operation: str):
    """Register ``rule(ctx, params)`` to run before moto handles ``operation``."""

    def register(fn: Callable) -> Callable:
        _BEFORE[operation].append(fn)
        return fn

    return register


def after(operation: str):
    """Register ``rule(ctx, params, body) -> body`` to rewrite moto's response to ``operation``."""

    def register(fn: Callable) -> Callable:
        _AFTER[operation].append(fn)
        return fn

    return register


def replace(operation: str):
    """Register ``rule(ctx, params) -> body`` to answer ``operation`` instead of moto."""

    def register(fn: Callable) -> Callable:
        _REPLACE[operation] = fn
        return fn

    return register


# --- helpers the rules share ------------------------------------------------------------------


def find_key(ctx, key_id: str):
    """The moto ``Key`` named by a key ID, key ARN, alias name or alias ARN, or None."""
    backend = ctx.kms_backend
    try:
        raw = backend.any_id_to_key_id(key_id)
    except Exception:
        return None
    return backend.keys.get(raw)


def require_key(ctx, key_id: str):
    """The moto ``Key`` for ``key_id``, or NotFoundException as real KMS answers."""
    key = find_key(ctx, key_id) if isinstance(key_id, str) else None
    if key is None:
        raise KmsError("NotFoundException", f"Key '{key_id}' does not exist")
    return key


def key_id_or_arn_only(ctx, key_id: str):
    """Operations that take only a key ID or key ARN (no alias): the moto ``Key`` or an error."""
    if not isinstance(key_id, str) or key_id.startswith("alias/") or ":alias/" in key_id:
        raise KmsError(
            "NotFoundException",
            f"Invalid keyId {key_id}: this operation takes a key ID or key ARN, not an alias.",
        )
    return require_key(ctx, key_id)


def _iso(dt: datetime) -> float:
    return dt.replace(tzinfo=timezone.utc).timestamp() if dt.tzinfo is None else dt.timestamp()


# --- rules needed by the source lesson ---------------------------------------------------------


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
    key.deletion_date = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=window)
    key.pending_window_in_days = window
    return {
        "KeyId": key.arn,
        "DeletionDate": _iso(key.deletion_date),
        "KeyState": "PendingDeletion",
        "PendingWindowInDays": window,
    }


# --- installation -------------------------------------------------------------------------------


def _snake(operation: str) -> str:
    from moto.core.utils import camelcase_to_underscores

    return camelcase_to_underscores(operation)


def _wrap(operation: str, original: Callable | None) -> Callable:
    def handler(self) -> str:
        if not ENABLED and original is not None:
            return original(self)
        params = json.loads(self.body or "{}")
        for rule in _BEFORE.get(operation, ()):
            rule(self, params)
        if operation in _REPLACE and ENABLED:
            body = _REPLACE[operation](self, params)
        elif original is None:
            raise KmsError(
                "UnsupportedOperationException",
                f"{operation} is not available in the offline sandbox.",
            )
        else:
            out = original(self)
            if not _AFTER.get(operation):
                return out
            body = json.loads(out) if isinstance(out, str) else out
        for rule in _AFTER.get(operation, ()):
            body = rule(self, params, body)
        return json.dumps(body)

    if original is not None:
        handler = functools.wraps(original)(handler)
    handler._kms_course_original = original  # type: ignore[attr-defined]
    return handler


def _lazy_private_keys() -> None:
    """moto builds an RSA-2048 key pair for every key, even symmetric ones (about 40 ms each).
    Build it only when an asymmetric operation first needs it."""
    import moto.kms.models as models

    real = models.generate_private_key

    class LazyPrivateKey:
        def __init__(self, key_spec: str):
            self._key_spec = key_spec
            self._key = None

        def __getattr__(self, name: str) -> Any:
            if self._key is None:
                self._key = real(self._key_spec)
            return getattr(self._key, name)

    models.generate_private_key = LazyPrivateKey


def install() -> None:
    """Patch moto's KMS in this process so every KMS request follows the rules (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.kms.responses import KmsResponse

    _lazy_private_keys()
    for operation in set(_BEFORE) | set(_AFTER) | set(_REPLACE):
        name = _snake(operation)
        original = getattr(KmsResponse, name, None)
        original = getattr(original, "_kms_course_original", original)
        setattr(KmsResponse, name, _wrap(operation, original))
    _INSTALLED = True
