"""Real-KMS rules enforced on top of moto, wherever the course's sandbox runs.

moto's KMS accepts much that real AWS KMS refuses (see the fidelity table printed by
``kms-course fidelity``). This module patches moto's KMS request handler (``KmsResponse``) in the
process that serves the sandbox, either the notebook kernel (``moto`` backend) or the course's
moto server (``moto-server`` backend), so every client sees the same rules. The ``aws`` backend
never loads it.

Each rule is a small function registered for one KMS operation:

* ``@before("Op")``: ``rule(ctx, params)`` runs before moto and may raise :class:`KmsError`
  (it may also fill in documented defaults in ``params``; moto then reads the updated request);
* ``@after("Op")``: ``rule(ctx, params, body) -> body`` rewrites moto's JSON response;
* ``@replace("Op")``: ``rule(ctx, params) -> body`` answers instead of moto (for operations moto
  lacks or gets wrong). :func:`moto_answer` gives a replace rule moto's own answer.

``ctx`` is moto's ``KmsResponse`` for the request (``ctx.kms_backend`` is the account's and
Region's ``KmsBackend``); ``params`` is the decoded JSON request (binary fields still base64 text).

Each rule's docstring names the AWS documentation page it comes from. Errors are raised with the
exact AWS error code, so botocore turns them into the modeled exception
(``kms.exceptions.DisabledException`` and so on), exactly as on AWS. Every KMS operation in
botocore's model that moto lacks answers either for real (``GenerateDataKeyPair``) or with
``UnsupportedOperationException`` "<Op> is not available in the offline sandbox", never with a
Python ``NotImplementedError`` or an HTTP 500.

The rules live in one module per topic; this package installs them (:func:`install`) and
re-exports their names (``rules.find_key``, ``rules.KmsError``, ...):

* :mod:`~kms_course.sandbox.rules.registry`: ``@before``/``@after``/``@replace``, :class:`KmsError`,
  the hooks (``CHECKS``, ``PRELUDES``, ``OBSERVERS``);
* :mod:`~kms_course.sandbox.rules.common`: helpers the rules share (``find_key``, ``blob``, ...);
* :mod:`~kms_course.sandbox.rules.key_states`, :mod:`~kms_course.sandbox.rules.key_specs`,
  :mod:`~kms_course.sandbox.rules.aliases`, :mod:`~kms_course.sandbox.rules.key_policies`,
  :mod:`~kms_course.sandbox.rules.crypto` (key usage, Encrypt, Decrypt, ReEncrypt),
  :mod:`~kms_course.sandbox.rules.data_key_pairs`, :mod:`~kms_course.sandbox.rules.signing`
  (Sign, Verify, MACs, public keys), :mod:`~kms_course.sandbox.rules.rotation`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from kms_course.sandbox import botocore_data
from kms_course.sandbox.rules.registry import (
    _AFTER, _BEFORE, _REPLACE, CHECKS, KmsError, OBSERVERS, PRELUDES,
)
from kms_course.sandbox.rules.common import _call_moto, _snake

# re-exported: the package's names, as before the split
from kms_course.sandbox.rules.registry import (
    after, api_doc, before, KEY_STATE_DOC, replace,
)  # noqa: F401
from kms_course.sandbox.rules.common import (
    b64, blob, find_key, key_id_or_arn_only, moto_answer, require_key,
)  # noqa: F401
from kms_course.sandbox.rules.key_states import (
    cancel_key_deletion, disable_key, enable_key, key_state_for_crypto, require_not_pending,
    require_usable, schedule_key_deletion,
)  # noqa: F401
from kms_course.sandbox.rules.key_specs import (
    _enum_error, algorithms, COMPATIBLE_KEY_SPECS, create_key_origin,
    create_key_origin_external, create_key_usage_and_spec, key_metadata, KEY_USAGES,
    metadata_as_documented, ORIGINS,
)  # noqa: F401
from kms_course.sandbox.rules.aliases import (
    alias_target_not_pending, predefined_aliases_without_key, reserved_alias_prefix,
)  # noqa: F401
from kms_course.sandbox.rules.key_policies import policy_name_defaults_to_default  # noqa: F401
from kms_course.sandbox.rules.crypto import (
    ciphertext_key, CIPHERTEXT_KEY_MISSING, decrypt, encrypt, encryption_key_usage,
    generate_random_needs_length, re_encrypt_algorithms, re_encrypt_rules,
    require_encryption_algorithm, require_symmetric_encryption_key, require_usage,
)  # noqa: F401
from kms_course.sandbox.rules.data_key_pairs import (
    DATA_KEY_PAIR_SPECS, generate_data_key_pair,
)  # noqa: F401
from kms_course.sandbox.rules.signing import (
    mac_algorithm_fits_key, mac_key_id_is_arn, public_key_fields,
    public_key_only_for_asymmetric, signing_key_usage, verify_raises_on_bad_signature,
)  # noqa: F401
from kms_course.sandbox.rules.rotation import (
    disable_key_rotation, enable_key_rotation, get_key_rotation_status, list_key_rotations_arn,
    list_key_rotations_key, ON_DEMAND_ROTATIONS_MAX, require_rotatable, rotate_key_on_demand,
    ROTATION_DAYS_DEFAULT, ROTATION_DAYS_MAX, ROTATION_DAYS_MIN,
)  # noqa: F401

#: Switch used by ``kms-course fidelity`` to compare plain moto with the sandbox in one process.
ENABLED = True
_INSTALLED = False


def require_members(operation: str, params: dict) -> None:
    """A request without a required member is a ValidationException, in AWS's wording. (botocore
    checks this on the client; this catches clients that skip validation, which moto would
    otherwise answer with a Python exception or an HTTP 500.)

    https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html
    """
    shape = botocore_data.kms_service_model().operation_model(operation).input_shape
    for member in getattr(shape, "required_members", ()):
        if params.get(member) is None:
            field = member[0].lower() + member[1:]
            raise KmsError(
                "ValidationException",
                f"1 validation error detected: Value null at '{field}' failed to satisfy "
                "constraint: Member must not be null",
            )


def _wrap(operation: str, original: Callable | None) -> Callable:
    def handler(self) -> str:
        if not ENABLED:
            if original is None:  # exactly what plain moto does
                raise NotImplementedError(f"The {_snake(operation)} action has not been implemented")
            return original(self)
        params: dict = {}
        try:
            for prelude in PRELUDES:
                prelude(self, operation)
            params = json.loads(self.body or "{}")
            out = answer(self, params)
        except Exception as error:
            for observer in OBSERVERS:
                observer(self, operation, params, None, error)
            raise
        for observer in OBSERVERS:
            observer(self, operation, params, out, None)
        return out

    def answer(self, params: dict) -> str:
        if original is None and operation not in _REPLACE:
            raise KmsError(
                "UnsupportedOperationException",
                f"{operation} is not available in the offline sandbox.",
            )
        require_members(operation, params)
        for check in CHECKS:
            check(self, operation, params)
        for rule in _BEFORE.get(operation, ()):
            rule(self, params)
        if _BEFORE.get(operation):
            self.body = json.dumps(params)  # moto reads the request with defaults filled in
        if operation in _REPLACE:
            body = _REPLACE[operation](self, params)
        else:
            out = _call_moto(operation, original, self)
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


def kms_operations() -> list[str]:
    """Every KMS operation name in botocore's service model (e.g. ``"GenerateDataKeyPair"``)."""
    import botocore.session

    return list(botocore.session.get_session().get_service_model("kms").operation_names)


def missing_operations() -> list[str]:
    """The KMS operations botocore knows and moto's ``KmsResponse`` does not implement."""
    from moto.kms.responses import KmsResponse

    missing = []
    for op in kms_operations():
        handler = getattr(KmsResponse, _snake(op), None)
        if handler is None or getattr(handler, "_kms_course_original", handler) is None:
            missing.append(op)
    return missing


def install() -> None:
    """Patch moto's KMS in this process so every KMS request follows the rules (idempotent).

    Every botocore KMS operation moto lacks gets a handler too: a rule's answer, or
    UnsupportedOperationException "<Op> is not available in the offline sandbox".
    """
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.kms.responses import KmsResponse

    from kms_course.sandbox import access, clock, context_binding, course_api, trail
    from kms_course.sandbox.rules import asymmetric as asymmetric_rules

    access.install()  # key policies, grants and the authorization check of every request
    clock.install()  # the sandbox clock: due deletions and rotations before every request
    trail.install()  # the audit trail: every request recorded after it is answered
    context_binding.install()  # encryption context bound as AWS binds it
    course_api.install()  # the clock and the trail reachable on the course's moto server
    asymmetric_rules.install()  # Sign and Verify as KMS does them; Ed25519 and ML-DSA keys
    _lazy_private_keys()
    for operation in set(_BEFORE) | set(_AFTER) | set(_REPLACE) | set(kms_operations()):
        name = _snake(operation)
        original = getattr(KmsResponse, name, None)
        original = getattr(original, "_kms_course_original", original)
        setattr(KmsResponse, name, _wrap(operation, original))
    _INSTALLED = True
