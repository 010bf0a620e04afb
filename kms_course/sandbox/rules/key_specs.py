"""CreateKey and key metadata: KeyUsage and KeySpec that go together, origins, the algorithms
of each key spec, and DescribeKey's fields as documented
(https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html).
"""

from __future__ import annotations

from typing import Any

from kms_course.sandbox.rules.registry import after, before, KmsError
from kms_course.sandbox.rules.common import find_key

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
