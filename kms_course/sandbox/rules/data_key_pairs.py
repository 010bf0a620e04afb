"""GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext, which moto lacks
(https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html).
"""

from __future__ import annotations

from kms_course.sandbox.rules.registry import replace
from kms_course.sandbox.rules.common import b64, require_key
from kms_course.sandbox.rules.key_specs import _enum_error, _NIST
from kms_course.sandbox.rules.crypto import require_symmetric_encryption_key

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
