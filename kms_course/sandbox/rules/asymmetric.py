"""Real-KMS rules for asymmetric signing keys on top of moto (loaded by
:func:`kms_course.sandbox.rules.install`).

moto 5.2.5 signs, but not as KMS does (``kms-course fidelity`` shows each point live):

* it ignores ``MessageType``: a ``DIGEST`` is hashed again and a digest of any length is signed;
* it signs RAW messages longer than 4096 bytes;
* its RSASSA-PSS signatures use the largest salt, not a salt as long as the digest, so a
  standard offline check of a PSS signature fails;
* it refuses the key specs ``ECC_NIST_EDWARDS25519`` and ``ML_DSA_44/65/87`` (its key spec list
  predates them) and makes an RSA key for ``SM2``.

Here Sign and Verify are answered with ``cryptography`` for every signing key, following the
Sign and Verify API reference (https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html,
https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html) and the key spec reference
(https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html):

* ``MessageType`` ``RAW`` (default): at most 4096 bytes, hashed by the signing algorithm;
  ``DIGEST``: not hashed again, and exactly as long as the algorithm's digest (32 bytes for
  ``..._SHA_256``, 48 for ``..._SHA_384``, 64 for ``..._SHA_512``); ``EXTERNAL_MU``: the 64-byte
  representative mu of ML-DSA (FIPS 204, section 6.2), for ML-DSA keys only. A message that
  breaks these rules is a ``ValidationException`` (AWS's error for a request that fails a
  constraint, https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html; the Sign
  reference states the rules but names no error code for them).
* RSASSA-PSS uses MGF1 with the algorithm's hash and a salt as long as the digest;
  RSASSA-PKCS1-v1_5 as PKCS #1; ECDSA signatures are DER-encoded (ANSI X9.62).
* ``ECC_NIST_EDWARDS25519`` keys sign with ``ED25519_SHA_512`` (pure Ed25519, MessageType RAW
  only). ``ED25519_PH_SHA_512`` (Ed25519ph, MessageType DIGEST only) exists on AWS but
  ``cryptography`` has no Ed25519ph, so the sandbox answers ``UnsupportedOperationException``.
* ``ML_DSA_44/65/87`` keys sign with ``ML_DSA_SHAKE_256`` (pure ML-DSA, FIPS 204, empty context),
  MessageType RAW or EXTERNAL_MU.
* Verify raises ``KMSInvalidSignatureException`` for a signature that does not verify.
* ``DryRun=True`` raises ``DryRunOperationException`` once every other check passed.

Key specs the sandbox cannot create, answered with ``UnsupportedOperationException`` saying why
(no such key can be created on AWS in the sandbox's Regions either, or the library to compute
with it is missing): ``SM2`` (China Regions only, and ``cryptography`` has no SM2/SM3) and the
``ML_KEM_*`` key specs (``Encapsulate``/``Decapsulate`` are not in moto and ``cryptography`` has
no ML-KEM-512). https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html

The private key of an Ed25519 or ML-DSA key is kept on moto's key object as its 32-byte seed
(:data:`SEED_ATTRIBUTE`), so the course's moto server saves it with the key.
"""

from __future__ import annotations

import os

from kms_course.sandbox import rules
from kms_course.sandbox.rules import KmsError, after, b64, before, blob, replace, require_key

#: Where the seed of an Ed25519 or ML-DSA key lives on moto's ``Key`` object.
SEED_ATTRIBUTE = "_kms_course_seed"
#: moto creates this spec (without making key material) in place of a spec it does not know.
_PLACEHOLDER_SPEC = "ECC_NIST_P256"
_ML_DSA = ("ML_DSA_44", "ML_DSA_65", "ML_DSA_87")
#: Key specs the sandbox adds to moto, with their signing algorithms (KeyMetadata).
#: https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html
ADDED_SIGNING_SPECS: dict[str, list[str]] = {
    "ECC_NIST_EDWARDS25519": ["ED25519_SHA_512", "ED25519_PH_SHA_512"],
    **{spec: ["ML_DSA_SHAKE_256"] for spec in _ML_DSA},
}
#: Most bytes a RAW message may have (Sign, Verify: Message).
MAX_RAW_MESSAGE = 4096
#: Length of an EXTERNAL_MU message (ML-DSA's mu), in bytes.
MU_LENGTH = 64
_DIGEST_BYTES = {"SHA_256": 32, "SHA_384": 48, "SHA_512": 64}
_KEY_SPECS_DOC = (
    "https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html"
)


def digest_length(algorithm: str) -> int | None:
    """Bytes of the digest a DIGEST message must have for ``algorithm`` (e.g. 32 for
    ``"ECDSA_SHA_256"``); None for algorithms that take no SHA-2 digest (ML-DSA, Ed25519)."""
    if algorithm.startswith("ED25519_PH"):
        return 64
    if algorithm.startswith("ED25519") or algorithm.startswith("ML_DSA"):
        return None
    return _DIGEST_BYTES.get(algorithm[-7:])


def _hash(algorithm: str):
    from cryptography.hazmat.primitives import hashes

    return {32: hashes.SHA256, 48: hashes.SHA384, 64: hashes.SHA512}[digest_length(algorithm)]()


_PATCHED = False


def install() -> None:
    """Called by :func:`kms_course.sandbox.rules.install` (importing this module registers its
    rules): moto's ``Key.signing_algorithms`` learns the signing algorithms of the added key
    specs."""
    global _PATCHED
    if _PATCHED:
        return
    from moto.kms.models import Key

    moto_algorithms = Key.signing_algorithms.fget

    def signing_algorithms(key) -> list[str]:
        added = ADDED_SIGNING_SPECS.get(key.key_spec)
        return list(added) if added else moto_algorithms(key)

    Key.signing_algorithms = property(signing_algorithms)
    _PATCHED = True


# --- CreateKey ------------------------------------------------------------------------------------


@before("CreateKey")
def key_specs_the_sandbox_adds_or_refuses(ctx, params: dict) -> None:
    """SM2 and ML-KEM keys cannot be made here (UnsupportedOperationException saying why);
    Ed25519 and ML-DSA keys are created by moto under a placeholder spec and completed after.

    https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html
    """
    spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    ctx._kms_course_added_spec = None
    if spec == "SM2":
        raise KmsError(
            "UnsupportedOperationException",
            "KeySpec SM2 exists only in the AWS China Regions, and the offline sandbox cannot "
            f"create SM2 keys (the cryptography library has no SM2). See {_KEY_SPECS_DOC}",
        )
    if spec.startswith("ML_KEM_"):
        raise KmsError(
            "UnsupportedOperationException",
            f"KeySpec {spec} (KeyUsage ENCAPSULATE_DECAPSULATE) is not available in the offline "
            "sandbox: it has no Encapsulate or Decapsulate operation. See " + _KEY_SPECS_DOC,
        )
    if spec in ADDED_SIGNING_SPECS:
        ctx._kms_course_added_spec = spec
        params.pop("CustomerMasterKeySpec", None)
        params["KeySpec"] = _PLACEHOLDER_SPEC


@after("CreateKey")
def complete_added_key_spec(ctx, params: dict, body: dict) -> dict:
    """Give an Ed25519 or ML-DSA key its spec, signing algorithms and a fresh 32-byte seed."""
    spec = getattr(ctx, "_kms_course_added_spec", None)
    if spec is None:
        return body
    params["KeySpec"] = spec  # the trail records the request as it was made
    key = require_key(ctx, body["KeyMetadata"]["KeyId"])
    key.key_spec = spec  # its signing algorithms follow (see install)
    setattr(key, SEED_ATTRIBUTE, os.urandom(32))
    body["KeyMetadata"] = rules.key_metadata(key)
    return body


# --- the keys themselves ----------------------------------------------------------------------


def private_key(key):
    """The ``cryptography`` private key of a moto signing key (RSA, ECC, Ed25519 or ML-DSA)."""
    seed = getattr(key, SEED_ATTRIBUTE, None)
    if seed is None:
        return key.private_key.private_key  # moto's RSA or ECDSA key object
    if key.key_spec == "ECC_NIST_EDWARDS25519":
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    from cryptography.hazmat.primitives.asymmetric import mldsa

    size = key.key_spec.rsplit("_", 1)[1]
    return getattr(mldsa, f"MLDSA{size}PrivateKey").from_seed_bytes(seed)


def public_key_der(key) -> bytes:
    """The key's public key as DER SubjectPublicKeyInfo (RFC 5280), as GetPublicKey returns it."""
    from cryptography.hazmat.primitives import serialization

    return private_key(key).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@replace("GetPublicKey")
def get_public_key(ctx, params: dict) -> dict:
    """GetPublicKey of an Ed25519 or ML-DSA key: its DER SubjectPublicKeyInfo (moto answers for
    the others; :func:`kms_course.sandbox.rules.public_key_fields` completes the response).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html
    """
    key = require_key(ctx, params.get("KeyId"))
    if getattr(key, SEED_ATTRIBUTE, None) is None:
        return rules.moto_answer(ctx, "GetPublicKey")
    return {"KeyId": key.arn, "PublicKey": b64(public_key_der(key)),
            "CustomerMasterKeySpec": key.key_spec}


# --- Sign and Verify ----------------------------------------------------------------------------


def _validation(message: str) -> KmsError:
    return KmsError("ValidationException", message)


def check_message(algorithm: str, message_type: str, message: bytes) -> None:
    """The Message / MessageType rules of Sign and Verify.

    Raises:
        KmsError: ValidationException for a message that does not fit its type and algorithm;
            UnsupportedOperationException for ED25519_PH_SHA_512 (no Ed25519ph in the sandbox).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html (MessageType)
    """
    if algorithm == "ED25519_PH_SHA_512":
        raise KmsError(
            "UnsupportedOperationException",
            "ED25519_PH_SHA_512 (Ed25519ph) is not available in the offline sandbox: the "
            "cryptography library has no Ed25519ph. Use ED25519_SHA_512 with MessageType RAW.",
        )
    if message_type == "RAW":
        if len(message) > MAX_RAW_MESSAGE:
            raise _validation(
                f"Message is {len(message)} bytes; a RAW message can have at most "
                f"{MAX_RAW_MESSAGE} bytes. Sign a digest of it with MessageType DIGEST."
            )
        return
    if message_type == "EXTERNAL_MU":
        if not algorithm.startswith("ML_DSA"):
            raise _validation(f"MessageType EXTERNAL_MU is only for ML-DSA keys, not {algorithm}.")
        if len(message) != MU_LENGTH:
            raise _validation(
                f"An EXTERNAL_MU message must be {MU_LENGTH} bytes, not {len(message)}."
            )
        return
    if message_type != "DIGEST":
        raise _validation(
            f"1 validation error detected: Value '{message_type}' at 'messageType' failed to "
            "satisfy constraint: Member must satisfy enum value set: [RAW, DIGEST, EXTERNAL_MU]"
        )
    expected = digest_length(algorithm)
    if expected is None:
        needed = "RAW or EXTERNAL_MU" if algorithm.startswith("ML_DSA") else "RAW"
        raise _validation(f"{algorithm} does not take MessageType DIGEST; use {needed}.")
    if len(message) != expected:
        raise _validation(
            f"Digest is {len(message)} bytes; with {algorithm} and MessageType DIGEST the "
            f"message must be the {expected}-byte digest."
        )


def _rsa_padding(algorithm: str):
    from cryptography.hazmat.primitives.asymmetric import padding

    if algorithm.startswith("RSASSA_PSS"):
        hash_ = _hash(algorithm)
        return padding.PSS(mgf=padding.MGF1(hash_), salt_length=hash_.digest_size)
    return padding.PKCS1v15()


def _hash_or_prehashed(algorithm: str, message_type: str):
    from cryptography.hazmat.primitives.asymmetric import utils

    return utils.Prehashed(_hash(algorithm)) if message_type == "DIGEST" else _hash(algorithm)


def sign_bytes(key, algorithm: str, message_type: str, message: bytes) -> bytes:
    """The signature KMS makes with ``key`` (checked beforehand by :func:`check_message`)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    private = private_key(key)
    if algorithm.startswith("RSASSA"):
        return private.sign(
            message, _rsa_padding(algorithm), _hash_or_prehashed(algorithm, message_type)
        )
    if algorithm.startswith("ECDSA"):
        return private.sign(message, ec.ECDSA(_hash_or_prehashed(algorithm, message_type)))
    if algorithm.startswith("ML_DSA") and message_type == "EXTERNAL_MU":
        return private.sign_mu(message)
    return private.sign(message)  # Ed25519 (pure) and ML-DSA (pure, empty context)


def signature_valid(
    key, algorithm: str, message_type: str, message: bytes, signature: bytes
) -> bool:
    """Whether ``signature`` is ``key``'s signature over the message."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    public = private_key(key).public_key()
    try:
        if algorithm.startswith("RSASSA"):
            public.verify(signature, message, _rsa_padding(algorithm),
                          _hash_or_prehashed(algorithm, message_type))
        elif algorithm.startswith("ECDSA"):
            public.verify(signature, message, ec.ECDSA(_hash_or_prehashed(algorithm, message_type)))
        elif algorithm.startswith("ML_DSA") and message_type == "EXTERNAL_MU":
            public.verify_mu(signature, message)
        else:
            public.verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _signing_request(ctx, params: dict):
    key = require_key(ctx, params.get("KeyId"))
    algorithm = params.get("SigningAlgorithm")
    message_type = params.get("MessageType") or "RAW"
    message = blob(params, "Message")
    check_message(algorithm, message_type, message)
    if params.get("DryRun"):  # every check passed: say so, sign nothing
        raise KmsError("DryRunOperationException",
                       "The request would have succeeded, but the DryRun option is set.")
    return key, algorithm, message_type, message


@replace("Sign")
def sign(ctx, params: dict) -> dict:
    """Sign with the key's private key, as KMS does (see the module docstring).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html
    """
    key, algorithm, message_type, message = _signing_request(ctx, params)
    signature = sign_bytes(key, algorithm, message_type, message)
    return {"KeyId": key.arn, "Signature": b64(signature), "SigningAlgorithm": algorithm}


@replace("Verify")
def verify(ctx, params: dict) -> dict:
    """Verify a signature in KMS: SignatureValid true, or KMSInvalidSignatureException.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html
    """
    key, algorithm, message_type, message = _signing_request(ctx, params)
    if not signature_valid(key, algorithm, message_type, message, blob(params, "Signature")):
        raise KmsError("KMSInvalidSignatureException", "")
    return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": algorithm}
