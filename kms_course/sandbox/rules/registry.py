"""How a rule is registered: ``@before``, ``@after`` and ``@replace`` for one KMS operation,
:class:`KmsError` (an AWS error code and message, HTTP 400), and the hooks that run for every
operation (``CHECKS``: authorization, ``PRELUDES``: the clock, ``OBSERVERS``: the trail).
See :mod:`kms_course.sandbox.rules` for how the rules are installed on moto.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from moto.core.exceptions import JsonRESTError

_BEFORE: dict[str, list[Callable]] = defaultdict(list)
_AFTER: dict[str, list[Callable]] = defaultdict(list)
_REPLACE: dict[str, Callable] = {}
#: ``check(ctx, operation, params)`` run before every operation's rules: the authorization of
#: the caller (key policy, IAM policies, grants), added by :mod:`kms_course.sandbox.access`.
CHECKS: list[Callable] = []
#: ``prelude(ctx, operation)`` run first for every operation: the sandbox clock applies the
#: deletions and automatic rotations that fell due (:mod:`kms_course.sandbox.clock`).
PRELUDES: list[Callable] = []
#: ``observer(ctx, operation, params, answer, error)`` run after every operation, allowed or
#: refused (``answer``: the JSON text or None; ``error``: the exception or None): the audit
#: trail (:mod:`kms_course.sandbox.trail`).
OBSERVERS: list[Callable] = []

KEY_STATE_DOC = "https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html"


def api_doc(operation: str) -> str:
    """The AWS KMS API Reference page of ``operation`` (e.g. ``"Encrypt"``), as a URL string."""
    return f"https://docs.aws.amazon.com/kms/latest/APIReference/API_{operation}.html"


class KmsError(JsonRESTError):
    """An error answered with a real AWS KMS error code (``__type``) and message (HTTP 400)."""

    code = 400

    def __init__(self, error_type: str, message: str):
        super().__init__(error_type, message)


def _registrar(operations: tuple[str, ...], add: Callable[[str, Callable], None]):
    """A decorator that calls ``add(operation, fn)`` for each of ``operations`` and returns fn."""

    def register(fn: Callable) -> Callable:
        for operation in operations:
            add(operation, fn)
        return fn

    return register


def before(*operations: str):
    """Register ``rule(ctx, params)`` to run before moto handles each of ``operations``."""
    return _registrar(operations, lambda operation, fn: _BEFORE[operation].append(fn))


def after(*operations: str):
    """Register ``rule(ctx, params, body) -> body`` to rewrite moto's response to ``operations``."""
    return _registrar(operations, lambda operation, fn: _AFTER[operation].append(fn))


def replace(*operations: str):
    """Register ``rule(ctx, params) -> body`` to answer ``operations`` instead of moto."""
    return _registrar(operations, _REPLACE.__setitem__)
