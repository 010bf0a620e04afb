"""Helpers the rules share: the KMS key a request names (``find_key``, ``require_key``,
``key_id_or_arn_only``), moto's own answer (``moto_answer``), base64 members (``blob``, ``b64``)
and sandbox time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from kms_course.sandbox.rules.registry import KmsError

def find_key(ctx, key_id: str):
    """The moto ``Key`` named by a key ID, key ARN, alias name or alias ARN, or None."""
    if not isinstance(key_id, str) or not key_id:
        return None
    backend = ctx.kms_backend
    try:
        raw = backend.any_id_to_key_id(key_id)
    except Exception:
        return None
    return backend.keys.get(raw)


def require_key(ctx, key_id: str):
    """The moto ``Key`` for ``key_id``, or NotFoundException as real KMS answers."""
    key = find_key(ctx, key_id)
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


def moto_answer(ctx, operation: str) -> dict:
    """moto's own JSON answer to the current request, as a dict (for ``@replace`` rules)."""
    handler = getattr(type(ctx), _snake(operation))
    original = getattr(handler, "_kms_course_original", handler)
    out = _call_moto(operation, original, ctx)
    return json.loads(out) if isinstance(out, str) else out


def blob(params: dict, name: str) -> bytes:
    """The binary request member ``name`` (base64 in the JSON request), decoded; b"" if absent."""
    value = params.get(name)
    return base64.b64decode(value) if value else b""


def b64(data: bytes) -> str:
    """``data`` as base64 text, the way a JSON response carries a blob."""
    return base64.b64encode(data).decode("ascii")


def _iso(dt: datetime) -> float:
    return dt.replace(tzinfo=timezone.utc).timestamp() if dt.tzinfo is None else dt.timestamp()


def _now() -> datetime:
    """Sandbox time (naive UTC): the sandbox clock, :mod:`kms_course.sandbox.clock`."""
    from kms_course.sandbox import clock

    return clock.local_now()


def _snake(operation: str) -> str:
    from moto.core.utils import camelcase_to_underscores

    return camelcase_to_underscores(operation)


def _call_moto(operation: str, original: Callable, ctx) -> Any:
    """moto's answer; a Python exception inside moto becomes KMSInternalException (HTTP 400, so
    botocore does not retry it) naming the sandbox, instead of a traceback or an HTTP 500."""
    from moto.core.exceptions import ServiceException
    from werkzeug.exceptions import HTTPException

    try:
        return original(ctx)
    except (HTTPException, ServiceException, NotImplementedError):
        raise
    except Exception as error:
        raise KmsError(
            "KMSInternalException",
            f"The offline sandbox (moto) failed on {operation}: {type(error).__name__}: {error}",
        ) from error
