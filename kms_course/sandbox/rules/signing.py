"""Sign, Verify, GenerateMac, VerifyMac and GetPublicKey: the key usage and algorithm each needs
and the answers as documented
(https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html).
"""

from __future__ import annotations

from kms_course.sandbox.rules.registry import after, before, KmsError
from kms_course.sandbox.rules.common import find_key, require_key
from kms_course.sandbox.rules.key_specs import _ALGORITHM_MEMBERS, _HMAC, algorithms
from kms_course.sandbox.rules.crypto import require_usage

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
