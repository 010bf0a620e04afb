"""Key usage, Encrypt, Decrypt, ReEncrypt and GenerateRandom: which keys and algorithms each
accepts, symmetric and RSA ciphertexts, the key a ciphertext names
(https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html,
https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html).
"""

from __future__ import annotations

import re

from kms_course.sandbox.rules.registry import after, before, KmsError, replace
from kms_course.sandbox.rules.common import b64, blob, find_key, moto_answer
from kms_course.sandbox.rules.key_states import require_usable
from kms_course.sandbox.rules.key_specs import algorithms

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
