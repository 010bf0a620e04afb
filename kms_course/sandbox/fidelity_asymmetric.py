"""``kms-course fidelity`` probes for signing, MACs and RSA encryption (lesson 09).

Each entry of :data:`PROBES` is ``(area, name, expected, doc, probe)``: the documented outcome on
real KMS and the AWS page saying so; :mod:`kms_course.sandbox.fidelity` turns them into its
behaviours and measures plain moto and the sandbox with them. A probe is a function of a boto3 KMS
client that returns a short outcome (a value, ``None`` for "ok", or it raises and the error code is
the outcome). This module imports nothing from :mod:`kms_course.sandbox.fidelity`, which imports it.
"""

from __future__ import annotations

import hashlib

_API = "https://docs.aws.amazon.com/kms/latest/APIReference/API_"
_SPECS = "https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html"
AREA = "signing and MACs"


def _signing_key(kms, spec: str) -> str:
    return kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=spec)["KeyMetadata"]["KeyId"]


def digest_verifies_as_raw_message(kms):
    key = _signing_key(kms, "ECC_NIST_P256")
    signature = kms.sign(KeyId=key, Message=hashlib.sha256(b"m").digest(), MessageType="DIGEST",
                         SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    return kms.verify(KeyId=key, Message=b"m", Signature=signature,
                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]


def digest_of_10_bytes(kms):
    """"refused" or "signed": the Sign reference gives the rule, not the error code."""
    from botocore.exceptions import ClientError

    try:
        kms.sign(KeyId=_signing_key(kms, "ECC_NIST_P256"), Message=bytes(10),
                 MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    except ClientError:
        return "refused"
    return "signed"


def raw_message_of_4097_bytes(kms):
    kms.sign(KeyId=_signing_key(kms, "ECC_NIST_P256"), Message=bytes(4097),
             SigningAlgorithm="ECDSA_SHA_256")


def pss_salt_is_digest_length(kms):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    key = _signing_key(kms, "RSA_2048")
    signature = kms.sign(KeyId=key, Message=b"m",
                         SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    public = load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    try:
        public.verify(signature, b"m", pss, hashes.SHA256())
    except InvalidSignature:
        return "InvalidSignature"
    return "valid"


def _sign_and_verify_offline(kms, spec: str, algorithm: str):
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    key = _signing_key(kms, spec)
    signature = kms.sign(KeyId=key, Message=b"m", SigningAlgorithm=algorithm)["Signature"]
    load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"]).verify(signature, b"m")


def ed25519_signs(kms):
    _sign_and_verify_offline(kms, "ECC_NIST_EDWARDS25519", "ED25519_SHA_512")


def ml_dsa_signs(kms):
    _sign_and_verify_offline(kms, "ML_DSA_65", "ML_DSA_SHAKE_256")


def verify_mac_with_a_wrong_mac(kms):
    key = kms.create_key(KeyUsage="GENERATE_VERIFY_MAC",
                         KeySpec="HMAC_256")["KeyMetadata"]["KeyId"]
    kms.verify_mac(KeyId=key, Message=b"m", Mac=bytes(32), MacAlgorithm="HMAC_SHA_256")


def rsa_2048_oaep_sha_256_191_bytes(kms):
    """"refused" or "encrypted": the Encrypt reference gives the limit (190 bytes), not the code."""
    from botocore.exceptions import ClientError

    key = kms.create_key(KeyUsage="ENCRYPT_DECRYPT", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    try:
        kms.encrypt(KeyId=key, Plaintext=bytes(191), EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    except ClientError:
        return "refused"
    return "encrypted"


PROBES = (
    (AREA, "Verify the message of a signed DIGEST", "True", _API + "Verify.html",
     digest_verifies_as_raw_message),
    (AREA, "Sign a 10-byte DIGEST with ECDSA_SHA_256", "refused", _API + "Sign.html",
     digest_of_10_bytes),
    (AREA, "Sign a 4097-byte RAW message", "ValidationException", _API + "Sign.html",
     raw_message_of_4097_bytes),
    (AREA, "RSASSA_PSS_SHA_256 verifies offline with a 32-byte salt", "valid", _SPECS,
     pss_salt_is_digest_length),
    (AREA, "ECC_NIST_EDWARDS25519 key signs (verified offline)", "ok", _SPECS, ed25519_signs),
    (AREA, "ML_DSA_65 key signs (verified offline)", "ok", _SPECS, ml_dsa_signs),
    (AREA, "VerifyMac with a wrong MAC", "KMSInvalidMacException", _API + "VerifyMac.html",
     verify_mac_with_a_wrong_mac),
    (AREA, "RSA_2048 RSAES_OAEP_SHA_256 with 191 bytes of plaintext", "refused",
     _API + "Encrypt.html", rsa_2048_oaep_sha_256_191_bytes),
)
