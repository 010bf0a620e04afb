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
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

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

#: Switch used by ``kms-course fidelity`` to compare plain moto with the sandbox in one process.
ENABLED = True
_INSTALLED = False

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


# --- helpers the rules share ------------------------------------------------------------------


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


# --- key state ------------------------------------------------------------------------------


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


# --- CreateKey and key metadata -------------------------------------------------------------

KEY_USAGES = (
    "ENCRYPT_DECRYPT",
    "SIGN_VERIFY",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
    "ENCAPSULATE_DECAPSULATE",
)
ORIGINS = ("AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE")
_RSA = ("RSA_2048", "RSA_3072", "RSA_4096")
_NIST = ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521")
_HMAC = ("HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512")
_ML_DSA = ("ML_DSA_44", "ML_DSA_65", "ML_DSA_87")
_ML_KEM = ("ML_KEM_512", "ML_KEM_768", "ML_KEM_1024")

#: KeyUsage -> the KeySpec values it accepts (CreateKey, KeyUsage and KeySpec).
#: https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html
COMPATIBLE_KEY_SPECS: dict[str, tuple[str, ...]] = {
    "ENCRYPT_DECRYPT": ("SYMMETRIC_DEFAULT", *_RSA, "SM2"),
    "SIGN_VERIFY": (*_RSA, *_NIST, "ECC_SECG_P256K1", "SM2", *_ML_DSA, "ECC_NIST_EDWARDS25519"),
    "GENERATE_VERIFY_MAC": _HMAC,
    "KEY_AGREEMENT": (*_NIST, "SM2"),
    "ENCAPSULATE_DECAPSULATE": _ML_KEM,
}


def _enum_error(value: Any, member: str, allowed: tuple[str, ...]) -> KmsError:
    return KmsError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]",
    )


@before("CreateKey")
def create_key_usage_and_spec(ctx, params: dict) -> None:
    """KeyUsage is one of the KMS key usages (default ENCRYPT_DECRYPT); the KeySpec (default
    SYMMETRIC_DEFAULT) must fit it: ENCRYPT_DECRYPT takes SYMMETRIC_DEFAULT or RSA (SM2 in
    China), SIGN_VERIFY takes RSA, NIST/SECG ECC (ML-DSA, Ed25519), GENERATE_VERIFY_MAC takes
    HMAC, KEY_AGREEMENT takes NIST ECC (SM2). A mismatch is a ValidationException.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html
    """
    usage = params.setdefault("KeyUsage", "ENCRYPT_DECRYPT")
    if usage not in KEY_USAGES:
        raise _enum_error(usage, "keyUsage", KEY_USAGES)
    spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    allowed = COMPATIBLE_KEY_SPECS[usage]
    if spec not in allowed:
        raise KmsError(
            "ValidationException",
            f"KeySpec {spec} is not valid for KeyUsage {usage}. Use one of: {', '.join(allowed)}.",
        )
    params.setdefault("MultiRegion", False)


@before("CreateKey")
def create_key_origin(ctx, params: dict) -> None:
    """Origin is AWS_KMS (default), EXTERNAL, AWS_CLOUDHSM or EXTERNAL_KEY_STORE. AWS_CLOUDHSM
    needs CustomKeyStoreId; EXTERNAL_KEY_STORE needs CustomKeyStoreId and XksKeyId; a key in a
    custom key store is symmetric. The offline sandbox has no custom key store, so a
    CustomKeyStoreId is answered with CustomKeyStoreNotFoundException.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html
    """
    origin = params.get("Origin", "AWS_KMS")
    if origin not in ORIGINS:
        raise _enum_error(origin, "origin", ORIGINS)
    store = params.get("CustomKeyStoreId")
    if origin == "AWS_CLOUDHSM" and not store:
        raise KmsError(
            "ValidationException",
            "Origin AWS_CLOUDHSM requires the CustomKeyStoreId of an AWS CloudHSM key store.",
        )
    if origin == "EXTERNAL_KEY_STORE" and not (store and params.get("XksKeyId")):
        raise KmsError(
            "ValidationException",
            "Origin EXTERNAL_KEY_STORE requires both CustomKeyStoreId and XksKeyId.",
        )
    if store and origin not in ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
        raise KmsError(
            "ValidationException",
            "CustomKeyStoreId requires Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE.",
        )
    if store:
        raise KmsError(
            "CustomKeyStoreNotFoundException",
            f"Custom key store {store} does not exist (the offline sandbox has none).",
        )


@after("CreateKey")
def create_key_origin_external(ctx, params: dict, body: dict) -> dict:
    """A key created with Origin EXTERNAL has no key material yet: KeyState PendingImport,
    Enabled false, unusable until key material is imported.

    https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-create-cmk.html
    https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html
    """
    if params.get("Origin") == "EXTERNAL":
        key = find_key(ctx, body["KeyMetadata"]["KeyId"])
        key.key_state = "PendingImport"
        key.enabled = False
    return body


def algorithms(key) -> dict[str, list[str]]:
    """The algorithm lists of a key's metadata, by member name, as DescribeKey reports them:
    EncryptionAlgorithms for encryption keys, SigningAlgorithms for signing keys, MacAlgorithms
    for HMAC keys, KeyAgreementAlgorithms for key agreement keys, and nothing else.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html
    """
    usage, spec = key.key_usage or "ENCRYPT_DECRYPT", key.key_spec
    if usage == "ENCRYPT_DECRYPT":
        if spec == "SYMMETRIC_DEFAULT":
            return {"EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}
        if spec == "SM2":
            return {"EncryptionAlgorithms": ["SM2PKE"]}
        return {"EncryptionAlgorithms": ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]}
    if usage == "SIGN_VERIFY":
        return {"SigningAlgorithms": list(key.signing_algorithms or [])}
    if usage == "GENERATE_VERIFY_MAC":
        return {"MacAlgorithms": [f"HMAC_SHA_{spec.split('_')[1]}"]}
    if usage == "KEY_AGREEMENT":
        return {"KeyAgreementAlgorithms": ["ECDH"]}
    return {}


_ALGORITHM_MEMBERS = (
    "EncryptionAlgorithms",
    "SigningAlgorithms",
    "MacAlgorithms",
    "KeyAgreementAlgorithms",
)


def key_metadata(key) -> dict:
    """A key's KeyMetadata as real KMS reports it: moto's fields, plus KeyUsage and MultiRegion
    always, only the algorithm lists that fit the key, PendingDeletionWindowInDays while pending
    deletion, and KeyManager AWS for AWS managed keys (those behind an ``alias/aws/`` alias).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html
    https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html
    """
    meta = key.to_dict()["KeyMetadata"]
    for member in _ALGORITHM_MEMBERS:
        meta.pop(member, None)
    meta.update(algorithms(key))
    meta["KeyUsage"] = key.key_usage or "ENCRYPT_DECRYPT"
    meta["MultiRegion"] = bool(key.multi_region)
    meta["Enabled"] = bool(key.enabled)
    meta["KeyState"] = key.key_state
    if key.key_state == "PendingDeletion" and getattr(key, "pending_window_in_days", None):
        meta["PendingDeletionWindowInDays"] = key.pending_window_in_days
    if any(name.startswith("alias/aws/") for name in key.aliases):
        meta["KeyManager"] = "AWS"
    return meta


@after("CreateKey", "DescribeKey")
def metadata_as_documented(ctx, params: dict, body: dict) -> dict:
    """CreateKey and DescribeKey return the same, complete KeyMetadata (see :func:`key_metadata`).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html
    """
    key = find_key(ctx, body["KeyMetadata"]["KeyId"])
    if key is not None:
        body["KeyMetadata"] = key_metadata(key)
    return body


# --- aliases --------------------------------------------------------------------------------


@before("CreateAlias")
def reserved_alias_prefix(ctx, params: dict) -> None:
    """An alias name cannot begin with ``alias/aws/``: the prefix is reserved for AWS managed
    keys. AWS documents the rule but not the error code; the CreateAlias API reference's error for
    an alias name that is not valid is InvalidAliasNameException, so that is what is raised.

    https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html
    https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html
    """
    name = params.get("AliasName") or ""
    if name.startswith("alias/aws/"):
        raise KmsError(
            "InvalidAliasNameException",
            f"Alias {name} is not valid: the alias/aws/ prefix is reserved for AWS managed keys.",
        )


@after("ListAliases")
def predefined_aliases_without_key(ctx, params: dict, body: dict) -> dict:
    """A predefined ``alias/aws/...`` alias whose AWS managed key does not exist yet is listed
    without TargetKeyId; once the key exists, TargetKeyId is that key's ID (moto lists made-up
    key IDs that DescribeKey never returns).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_ListAliases.html
    """
    for alias in body.get("Aliases", []):
        if alias["AliasName"].startswith("alias/aws/"):
            owner = next(
                (k for k in ctx.kms_backend.keys.values() if alias["AliasName"] in k.aliases),
                None,
            )
            if owner is None:
                alias.pop("TargetKeyId", None)
            else:
                alias["TargetKeyId"] = owner.id
    return body


@before("CreateAlias", "UpdateAlias")
def alias_target_not_pending(ctx, params: dict) -> None:
    """An alias cannot be pointed at a key that is pending deletion (KMSInvalidStateException).

    https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
    """
    key = find_key(ctx, params.get("TargetKeyId"))
    if key is not None and key.key_state == "PendingDeletion":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is pending deletion.")


# --- key policies ---------------------------------------------------------------------------


@before("GetKeyPolicy", "PutKeyPolicy")
def policy_name_defaults_to_default(ctx, params: dict) -> None:
    """PolicyName is optional and defaults to ``default``, the only key policy name.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html
    https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
    """
    params.setdefault("PolicyName", "default")


# --- key usage, encrypt and decrypt ----------------------------------------------------------

_OAEP_HASH = {"RSAES_OAEP_SHA_1": "SHA1", "RSAES_OAEP_SHA_256": "SHA256"}


def require_usage(key, operation: str, *usages: str) -> None:
    """InvalidKeyUsageException unless the key's KeyUsage is one of ``usages``.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html (Errors)
    """
    usage = key.key_usage or "ENCRYPT_DECRYPT"
    if usage not in usages:
        raise KmsError(
            "InvalidKeyUsageException",
            f"{key.arn} key usage is {usage} which is not valid for {operation}.",
        )


def require_symmetric_encryption_key(key, operation: str) -> None:
    """Data keys, data key pairs and ReEncrypt destinations need a symmetric encryption key:
    InvalidKeyUsageException for any other key.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html
    """
    require_usage(key, operation, "ENCRYPT_DECRYPT")
    if key.key_spec != "SYMMETRIC_DEFAULT":
        raise KmsError(
            "InvalidKeyUsageException",
            f"{key.arn} has KeySpec {key.key_spec}: {operation} needs a symmetric encryption "
            "KMS key (KeySpec SYMMETRIC_DEFAULT).",
        )


def require_encryption_algorithm(key, algorithm: str | None) -> str:
    """The encryption algorithm must fit the key: SYMMETRIC_DEFAULT (the default) for symmetric
    keys, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256 for RSA keys; InvalidKeyUsageException otherwise.
    Returns the algorithm in effect.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html
    """
    algorithm = algorithm or "SYMMETRIC_DEFAULT"
    allowed = algorithms(key).get("EncryptionAlgorithms", [])
    if algorithm not in allowed:
        raise KmsError(
            "InvalidKeyUsageException",
            f"EncryptionAlgorithm {algorithm} is not valid for {key.arn} "
            f"(KeySpec {key.key_spec}); use one of: {', '.join(allowed)}.",
        )
    return algorithm


@before("Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext")
def encryption_key_usage(ctx, params: dict) -> None:
    """Encrypt and GenerateDataKey* need a key with KeyUsage ENCRYPT_DECRYPT; data keys need a
    symmetric one: InvalidKeyUsageException otherwise.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html
    https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html
    """
    key = find_key(ctx, params.get("KeyId"))
    if key is None:
        return
    operation = ctx._get_action()
    if operation == "Encrypt":
        require_usage(key, operation, "ENCRYPT_DECRYPT")
        require_encryption_algorithm(key, params.get("EncryptionAlgorithm"))
    else:
        require_symmetric_encryption_key(key, operation)


def _rsa(key):
    """The ``cryptography`` RSA private key behind a moto RSA key."""
    return key.private_key.private_key


def _oaep(algorithm: str):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    digest = getattr(hashes, _OAEP_HASH[algorithm])()
    return padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None)


@replace("Encrypt")
def encrypt(ctx, params: dict) -> dict:
    """Encrypt returns CiphertextBlob, KeyId (ARN) and EncryptionAlgorithm. With an RSA key the
    ciphertext is real RSAES-OAEP under the key's public key (so data encrypted locally with
    GetPublicKey's key decrypts too); RSA-OAEP fits at most k - 2*hLen - 2 bytes of plaintext.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html
    """
    key = find_key(ctx, params.get("KeyId"))
    if key is None or key.key_spec == "SYMMETRIC_DEFAULT":
        body = moto_answer(ctx, "Encrypt")
        body["EncryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
        return body
    algorithm = params["EncryptionAlgorithm"]
    try:
        ciphertext = _rsa(key).public_key().encrypt(blob(params, "Plaintext"), _oaep(algorithm))
    except ValueError as error:
        raise KmsError(
            "ValidationException",
            f"Plaintext is too long for {key.key_spec} with {algorithm}: {error}",
        ) from None
    return {"CiphertextBlob": b64(ciphertext), "KeyId": key.arn, "EncryptionAlgorithm": algorithm}


_KEY_ID_IN_BLOB = re.compile(r"^(mrk-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def ciphertext_key(ctx, data: bytes):
    """The moto ``Key`` that made a symmetric ciphertext blob, read with moto's own deserialiser.

    Raises:
        KmsError: InvalidCiphertextException when the bytes are not a KMS ciphertext at all
            (too short, or e.g. base64 text of a blob instead of the blob). Returns None when the
            blob names a key that this account and Region do not have.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html
    """
    from moto.kms.utils import HEADER_LEN, _deserialize_ciphertext_blob

    try:
        key_id = _deserialize_ciphertext_blob(data).key_id if len(data) > HEADER_LEN else ""
    except (UnicodeDecodeError, ValueError):
        key_id = ""
    if not _KEY_ID_IN_BLOB.match(key_id):
        raise KmsError("InvalidCiphertextException", "")
    return ctx.kms_backend.keys.get(key_id)


CIPHERTEXT_KEY_MISSING = (
    "The ciphertext refers to a customer master key that does not exist, does not exist in this "
    "region, or you are not allowed to access."
)


def _incorrect_key(named, used) -> KmsError:
    return KmsError(
        "IncorrectKeyException",
        f"The key ID in the request ({named.arn}) does not identify the KMS key that encrypted "
        f"the ciphertext ({used.arn}).",
    )


@replace("Decrypt")
def decrypt(ctx, params: dict) -> dict:
    """Decrypt finds the key from the ciphertext; a KeyId naming another existing key gives
    IncorrectKeyException; the key must be usable (key state) and an encryption key. With an RSA
    key (KeyId and EncryptionAlgorithm required) the ciphertext is decrypted with RSAES-OAEP.
    The response has KeyId (ARN), Plaintext and EncryptionAlgorithm.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html
    https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
    """
    named = find_key(ctx, params.get("KeyId")) if params.get("KeyId") else None
    if named is not None and named.key_spec != "SYMMETRIC_DEFAULT":
        return _decrypt_rsa(named, params)
    used = ciphertext_key(ctx, blob(params, "CiphertextBlob"))
    if used is not None:
        if named is not None and named.id != used.id:
            raise _incorrect_key(named, used)
        require_usable(used)
        require_encryption_algorithm(used, params.get("EncryptionAlgorithm"))
    elif not params.get("KeyId"):
        # The key that made the ciphertext is not in this account and Region (e.g. deleted when
        # its waiting period ended): moto's AccessDeniedException, whose message moto's response
        # drops, with the message kept.
        raise KmsError("AccessDeniedException", CIPHERTEXT_KEY_MISSING)
    body = moto_answer(ctx, "Decrypt")
    body["EncryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
    return body


def _decrypt_rsa(key, params: dict) -> dict:
    require_usable(key)
    require_usage(key, "Decrypt", "ENCRYPT_DECRYPT")
    algorithm = params.get("EncryptionAlgorithm")
    require_encryption_algorithm(key, algorithm)
    try:
        plaintext = _rsa(key).decrypt(blob(params, "CiphertextBlob"), _oaep(algorithm))
    except ValueError:
        raise KmsError("InvalidCiphertextException", "") from None
    return {"KeyId": key.arn, "Plaintext": b64(plaintext), "EncryptionAlgorithm": algorithm}


@before("ReEncrypt")
def re_encrypt_rules(ctx, params: dict) -> None:
    """ReEncrypt: SourceKeyId naming another key gives IncorrectKeyException; both keys must be
    usable (key state); the destination must be a symmetric encryption key here (re-encrypting
    under an asymmetric key is not available in the offline sandbox).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html
    """
    used = ciphertext_key(ctx, blob(params, "CiphertextBlob"))
    source = find_key(ctx, params.get("SourceKeyId")) if params.get("SourceKeyId") else None
    if used is not None:
        if source is not None and source.id != used.id:
            raise _incorrect_key(source, used)
        require_usable(used)
    destination = find_key(ctx, params.get("DestinationKeyId"))
    if destination is not None:
        require_usable(destination)
        require_usage(destination, "ReEncrypt", "ENCRYPT_DECRYPT")
        if destination.key_spec != "SYMMETRIC_DEFAULT":
            raise KmsError(
                "UnsupportedOperationException",
                "ReEncrypt to an asymmetric KMS key is not available in the offline sandbox.",
            )


@after("ReEncrypt")
def re_encrypt_algorithms(ctx, params: dict, body: dict) -> dict:
    """The ReEncrypt response names SourceEncryptionAlgorithm and DestinationEncryptionAlgorithm.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html
    """
    body["SourceEncryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
    body["DestinationEncryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
    return body


@before("GenerateRandom")
def generate_random_needs_length(ctx, params: dict) -> None:
    """GenerateRandom returns 1-1024 random bytes; without NumberOfBytes there is nothing to
    generate, so the sandbox answers ValidationException (moto crashes with a TypeError).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateRandom.html
    """
    if params.get("NumberOfBytes") is None:
        raise KmsError("ValidationException", "NumberOfBytes is required (1 to 1024 bytes).")


# --- data key pairs -------------------------------------------------------------------------

DATA_KEY_PAIR_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096", *_NIST, "ECC_SECG_P256K1",
                       "ECC_NIST_EDWARDS25519")


def _new_private_key(spec: str):
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if spec == "ECC_NIST_EDWARDS25519":
        return ed25519.Ed25519PrivateKey.generate()
    if spec.startswith("RSA_"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(spec[4:]))
    curve = {
        "ECC_NIST_P256": ec.SECP256R1,
        "ECC_NIST_P384": ec.SECP384R1,
        "ECC_NIST_P521": ec.SECP521R1,
        "ECC_SECG_P256K1": ec.SECP256K1,
    }[spec]
    return ec.generate_private_key(curve())


@replace("GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext")
def generate_data_key_pair(ctx, params: dict) -> dict:
    """A new asymmetric data key pair: PublicKey (DER SubjectPublicKeyInfo), the private key
    (DER PKCS #8) encrypted under a symmetric encryption KMS key (PrivateKeyCiphertextBlob, which
    Decrypt accepts) and, for GenerateDataKeyPair only, in plaintext (PrivateKeyPlaintext).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html
    https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPairWithoutPlaintext.html
    """
    from cryptography.hazmat.primitives import serialization
    from moto.kms.utils import encrypt as moto_encrypt

    key = require_key(ctx, params.get("KeyId"))
    operation = ctx._get_action()
    require_symmetric_encryption_key(key, operation)
    spec = params.get("KeyPairSpec")
    if spec not in DATA_KEY_PAIR_SPECS:
        raise _enum_error(spec, "keyPairSpec", DATA_KEY_PAIR_SPECS)
    private = _new_private_key(spec)
    private_der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ciphertext = moto_encrypt(
        ctx.kms_backend.keys, key.id, private_der, params.get("EncryptionContext") or {}
    )
    body = {
        "PrivateKeyCiphertextBlob": b64(ciphertext),
        "PublicKey": b64(public_der),
        "KeyId": key.arn,
        "KeyPairSpec": spec,
    }
    if operation == "GenerateDataKeyPair":
        body["PrivateKeyPlaintext"] = b64(private_der)
    return body


# --- sign, verify, MAC, public key ------------------------------------------------------------


def _require_usage_and_algorithm(ctx, params: dict, usage: str, parameter: str) -> None:
    """InvalidKeyUsageException unless the request's key has KeyUsage ``usage`` and
    ``params[parameter]`` (``"SigningAlgorithm"`` or ``"MacAlgorithm"``) is one of the key's
    algorithms of that kind (``SigningAlgorithms`` / ``MacAlgorithms`` in its KeyMetadata).

    An unknown key is left to moto (NotFoundException).
    """
    key = find_key(ctx, params.get("KeyId"))
    if key is None:
        return
    require_usage(key, ctx._get_action(), usage)
    allowed = algorithms(key)[parameter + "s"]
    if params.get(parameter) not in allowed:
        choice = allowed[0] if len(allowed) == 1 else "one of: " + ", ".join(allowed)
        raise KmsError(
            "InvalidKeyUsageException",
            f"{parameter} {params.get(parameter)} is not valid for {key.arn} "
            f"(KeySpec {key.key_spec}); use {choice}.",
        )


@before("Sign", "Verify")
def signing_key_usage(ctx, params: dict) -> None:
    """Sign and Verify need a SIGN_VERIFY key and a signing algorithm the key supports:
    InvalidKeyUsageException otherwise.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html
    """
    _require_usage_and_algorithm(ctx, params, "SIGN_VERIFY", "SigningAlgorithm")


@after("Verify")
def verify_raises_on_bad_signature(ctx, params: dict, body: dict) -> dict:
    """A signature that does not verify raises KMSInvalidSignatureException (Verify never
    answers SignatureValid false).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html
    """
    if not body.get("SignatureValid"):
        raise KmsError("KMSInvalidSignatureException", "")
    return body


@before("GenerateMac", "VerifyMac")
def mac_algorithm_fits_key(ctx, params: dict) -> None:
    """GenerateMac and VerifyMac need an HMAC key and the MAC algorithm of its key spec
    (HMAC_256 → HMAC_SHA_256): InvalidKeyUsageException otherwise.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html
    """
    _require_usage_and_algorithm(ctx, params, "GENERATE_VERIFY_MAC", "MacAlgorithm")


@after("GenerateMac", "VerifyMac")
def mac_key_id_is_arn(ctx, params: dict, body: dict) -> dict:
    """GenerateMac and VerifyMac answer with the key ARN as KeyId.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html
    """
    body["KeyId"] = require_key(ctx, params.get("KeyId")).arn
    return body


@before("GetPublicKey")
def public_key_only_for_asymmetric(ctx, params: dict) -> None:
    """Only asymmetric keys have a public key: GetPublicKey on a symmetric encryption key or an
    HMAC key gives UnsupportedOperationException.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html
    """
    key = find_key(ctx, params.get("KeyId"))
    if key is not None and (key.key_spec == "SYMMETRIC_DEFAULT" or key.key_spec in _HMAC):
        raise KmsError(
            "UnsupportedOperationException",
            f"{key.arn} is a {key.key_spec} key; only asymmetric KMS keys have a public key.",
        )


@after("GetPublicKey")
def public_key_fields(ctx, params: dict, body: dict) -> dict:
    """GetPublicKey answers KeyId (ARN), PublicKey, KeySpec, CustomerMasterKeySpec, KeyUsage and
    the algorithm list that fits the key.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html
    """
    key = require_key(ctx, params.get("KeyId"))
    for member in _ALGORITHM_MEMBERS:
        body.pop(member, None)
    body.update(algorithms(key))
    body.update(KeyId=key.arn, KeySpec=key.key_spec, KeyUsage=key.key_usage)
    return body


# --- rotation -------------------------------------------------------------------------------

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


# --- installation -------------------------------------------------------------------------------


def _snake(operation: str) -> str:
    from moto.core.utils import camelcase_to_underscores

    return camelcase_to_underscores(operation)


@functools.lru_cache(maxsize=1)
def _service_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("kms")


def require_members(operation: str, params: dict) -> None:
    """A request without a required member is a ValidationException, in AWS's wording. (botocore
    checks this on the client; this catches clients that skip validation, which moto would
    otherwise answer with a Python exception or an HTTP 500.)

    https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html
    """
    shape = _service_model().operation_model(operation).input_shape
    for member in getattr(shape, "required_members", ()):
        if params.get(member) is None:
            field = member[0].lower() + member[1:]
            raise KmsError(
                "ValidationException",
                f"1 validation error detected: Value null at '{field}' failed to satisfy "
                "constraint: Member must not be null",
            )


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
