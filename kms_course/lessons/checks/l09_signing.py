"""Checks of lesson 09, "Asymmetric keys, signatures and MACs"
(notebooks/09_asymmetric_keys_signing_and_macs.ipynb).

Each check proves the work from the sandbox: it verifies the student's signatures itself with the
key's public key (``cryptography``), verifies MACs with VerifyMac, decrypts with KMS, and reads the
trail (:mod:`kms_course.sandbox.trail`) to see which operations were called, never printed output.

Sources:
* Key usage and key specs: https://docs.aws.amazon.com/kms/latest/developerguide/symmetric-asymmetric.html,
  https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html
* Sign (Message up to 4096 bytes; MessageType RAW / DIGEST) and Verify
  (KMSInvalidSignatureException):
  https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html,
  https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html
* GetPublicKey (DER SubjectPublicKeyInfo, RFC 5280):
  https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html
* GenerateMac / VerifyMac (KMSInvalidMacException): https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html,
  https://docs.aws.amazon.com/kms/latest/APIReference/API_VerifyMac.html
* RSA plaintext limits (RSA_2048: 214 / 190 bytes, RSA_3072: 342 / 318, RSA_4096: 470 / 446 for
  RSAES_OAEP_SHA_1 / RSAES_OAEP_SHA_256): https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html
* Data key pairs (PKCS #8 private key, SPKI public key; an optional EncryptionContext, which
  Decrypt then needs too):
  https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPairWithoutPlaintext.html,
  https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from kms_course.lessons.checks._common import (
    bytes_answer,
    calls,
    decrypt_or_fail,
    describe_answer_key,
    require_field,
    succeeded,
)
from kms_course.lessons.exercises import Answers, CheckFailed, exercise

LESSON = "09_asymmetric_keys_signing_and_macs"
RELEASE_NOTE = b"kms-course 9.0 is released"
#: The large report of Exercise 3: more than Sign's 4096-byte RAW limit.
BIG_REPORT = b"quarterly figures, all regions, all products\n" * 250
SESSION_COOKIE = b"session=42;user=alice"
FORGED_COOKIE = b"session=42;user=admin"
#: The 300-byte secret of Exercise 5 (bytes 0..255, then 0..43).
API_SECRET = bytes(range(256)) + bytes(range(44))
#: Largest plaintext for RSAES_OAEP_SHA_256, by RSA key spec (Encrypt API reference).
OAEP_SHA_256_LIMIT = {"RSA_2048": 190, "RSA_3072": 318, "RSA_4096": 446}


#: Added to the User-Agent of the checks' own GetPublicKey calls, so that a later run of a check
#: can tell them from the student's in the trail (which records each call's userAgent).
CHECK_AGENT = "kms-course-check/09"


def _mark(request: Any, **_: Any) -> None:
    request.headers["User-Agent"] = f"{request.headers.get('User-Agent') or ''} {CHECK_AGENT}"


def public_key_bytes(kms: Any, key_id: str) -> bytes:
    """GetPublicKey's DER SubjectPublicKeyInfo, asked with the checks' User-Agent mark."""
    kms.meta.events.register_last("before-sign.kms.GetPublicKey", _mark)
    try:
        return kms.get_public_key(KeyId=key_id)["PublicKey"]
    finally:
        kms.meta.events.unregister("before-sign.kms.GetPublicKey", _mark)


def _public_key(kms: Any, key_id: str):
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    return load_der_public_key(public_key_bytes(kms, key_id))


def students_calls(key_arn: str, name: str | None = None) -> list[dict] | None:
    """The trail's events on a key (:func:`calls`) without the checks' own marked calls."""
    history = calls(key_arn, name)
    if history is None:
        return None
    return [e for e in history if CHECK_AGENT not in (e.get("userAgent") or "")]


def _events(meta: dict, name: str) -> list[dict] | None:
    history = students_calls(meta["Arn"], name)
    return None if history is None else succeeded(history)


# --- Exercise 1 -------------------------------------------------------------------------------


@exercise(
    "09-sign-release",
    lesson=LESSON,
    points=3,
    hint="kms.create_key(KeyUsage='SIGN_VERIFY', KeySpec='ECC_NIST_P256'), then "
    "kms.sign(KeyId=..., Message=b'kms-course 9.0 is released', "
    "SigningAlgorithm='ECDSA_SHA_256') and keep its 'Signature'.",
    answers=("release_key_id", "release_signature"),
)
def _(kms: Any, answers: Answers) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    meta = describe_answer_key(kms, answers, "release_key_id")
    require_field(meta, "KeyUsage", "SIGN_VERIFY", "release_key_id")
    require_field(meta, "KeySpec", "ECC_NIST_P256", "release_key_id")
    signature = bytes_answer(answers, "release_signature", "response['Signature'] from kms.sign")
    signs = _events(meta, "Sign")
    if signs is not None and not signs:
        raise CheckFailed("The trail shows no Sign call with the key in `release_key_id`: sign "
                          "the release note with kms.sign, not with another key or library.")
    try:
        _public_key(kms, meta["Arn"]).verify(signature, RELEASE_NOTE, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CheckFailed(
            "`release_signature` is not a signature of b'kms-course 9.0 is released' by this "
            "key: sign exactly those bytes (MessageType RAW) with ECDSA_SHA_256."
        ) from None


# --- Exercise 2 -------------------------------------------------------------------------------


@exercise(
    "09-verify-offline",
    lesson=LESSON,
    points=3,
    hint="Call kms.get_public_key(KeyId=vendor_key_id) once, load its 'PublicKey' with "
    "load_der_public_key, then for each pair call public_key.verify(signature, message, "
    "ec.ECDSA(hashes.SHA256())) inside try/except InvalidSignature. Do not call kms.verify.",
    answers=("vendor_key_id", "vendor_messages", "vendor_signatures", "vendor_public_key",
             "genuine"),
)
def _(kms: Any, answers: Answers) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    meta = describe_answer_key(kms, answers, "vendor_key_id")
    require_field(meta, "KeyUsage", "SIGN_VERIFY", "vendor_key_id")
    history = students_calls(meta["Arn"])
    real = public_key_bytes(kms, meta["Arn"])
    downloaded = bytes_answer(answers, "vendor_public_key",
                              "response['PublicKey'] from kms.get_public_key")
    if downloaded != real:
        raise CheckFailed("`vendor_public_key` is not the public key of the vendor's key: store "
                          "kms.get_public_key(KeyId=vendor_key_id)['PublicKey'] (DER bytes).")
    messages, signatures = answers.get("vendor_messages"), answers.get("vendor_signatures")
    if not (isinstance(messages, list) and isinstance(signatures, list)
            and len(messages) == len(signatures)):
        raise CheckFailed("`vendor_messages` and `vendor_signatures` are not the lesson's lists: "
                          "run the cell that receives the vendor's messages again.")
    public = _public_key(kms, meta["Arn"])
    truth = []
    for message, signature in zip(messages, signatures):
        try:
            public.verify(bytes(signature), bytes(message), ec.ECDSA(hashes.SHA256()))
            truth.append(True)
        except (InvalidSignature, TypeError, ValueError):
            truth.append(False)
    genuine = answers.get("genuine")
    if not isinstance(genuine, list) or any(not isinstance(v, bool) for v in genuine):
        raise CheckFailed("`genuine` should be a list of True/False, one per message, in order.")
    if history is not None:
        verified = [e for e in history if e.get("eventName") == "Verify"]
        if verified:
            raise CheckFailed(
                f"The trail shows {len(verified)} Verify call(s) on the vendor's key: the "
                "exercise is to verify offline, with the public key and cryptography only. Run "
                "the supplier's cell again (it makes a new key), then your answer without "
                "kms.verify."
            )
        if not [e for e in succeeded(history) if e.get("eventName") == "GetPublicKey"]:
            raise CheckFailed("The trail shows no GetPublicKey call on the vendor's key: download "
                              "its public key with kms.get_public_key.")
    if len(genuine) != len(truth):
        raise CheckFailed(f"`genuine` has {len(genuine)} values, but there are {len(truth)} "
                          "messages: one True/False per message, in their order.")
    if genuine != truth:
        wrong = ", ".join(str(i + 1) for i, (a, b) in enumerate(zip(genuine, truth)) if a != b)
        raise CheckFailed(f"`genuine` is wrong for message number {wrong} (counting from 1): "
                          "verify each signature against its own message.")


# --- Exercise 3 -------------------------------------------------------------------------------


@exercise(
    "09-sign-digest",
    lesson=LESSON,
    points=2,
    hint="digest = hashlib.sha256(big_report).digest(); kms.sign(KeyId=report_key_id, "
    "Message=digest, MessageType='DIGEST', SigningAlgorithm='RSASSA_PSS_SHA_256').",
    answers=("report_key_id", "report_signature"),
)
def _(kms: Any, answers: Answers) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    meta = describe_answer_key(kms, answers, "report_key_id")
    require_field(meta, "KeyUsage", "SIGN_VERIFY", "report_key_id")
    if not meta.get("KeySpec", "").startswith("RSA_"):
        raise CheckFailed(f"The key in `report_key_id` has KeySpec {meta.get('KeySpec')!r}: "
                          "RSASSA_PSS_SHA_256 needs an RSA key (e.g. KeySpec='RSA_2048').")
    signature = bytes_answer(answers, "report_signature", "response['Signature'] from kms.sign")
    signs = _events(meta, "Sign")
    if signs is not None:
        digests = [e for e in signs
                   if (e.get("requestParameters") or {}).get("messageType") == "DIGEST"]
        if not digests:
            raise CheckFailed("The trail shows no Sign call with MessageType 'DIGEST' on this "
                              "key: the report is too long for a RAW message, so sign its SHA-256 "
                              "digest and say so with MessageType='DIGEST'.")
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    try:
        _public_key(kms, meta["Arn"]).verify(signature, BIG_REPORT, pss, hashes.SHA256())
    except InvalidSignature:
        hint = ""
        if len(signature) and signs:
            hint = (" If you signed the digest without MessageType='DIGEST', KMS hashed it again, "
                    "so the signature covers the digest of the digest.")
        raise CheckFailed("`report_signature` is not an RSASSA_PSS_SHA_256 signature of "
                          f"`big_report` by this key.{hint}") from None


# --- Exercise 4 -------------------------------------------------------------------------------


@exercise(
    "09-mac-session",
    lesson=LESSON,
    points=2,
    hint="kms.create_key(KeyUsage='GENERATE_VERIFY_MAC', KeySpec='HMAC_256'); kms.generate_mac("
    "KeyId=..., Message=session_cookie, MacAlgorithm='HMAC_SHA_256')['Mac']; then call "
    "kms.verify_mac with the forged cookie inside try/except "
    "kms.exceptions.KMSInvalidMacException.",
    answers=("mac_key_id", "session_mac", "forged_error_code"),
)
def _(kms: Any, answers: Answers) -> None:
    meta = describe_answer_key(kms, answers, "mac_key_id")
    require_field(meta, "KeyUsage", "GENERATE_VERIFY_MAC", "mac_key_id")
    require_field(meta, "KeySpec", "HMAC_256", "mac_key_id")
    mac = bytes_answer(answers, "session_mac", "response['Mac'] from kms.generate_mac")
    history = calls(meta["Arn"], "VerifyMac")  # before this check calls KMS itself
    # HMAC is deterministic (RFC 2104), so the check computes the right MAC with GenerateMac
    # instead of calling VerifyMac, whose refusals would land in the trail it reads.
    expected = kms.generate_mac(KeyId=meta["Arn"], Message=SESSION_COOKIE,
                                MacAlgorithm="HMAC_SHA_256")["Mac"]
    if mac != expected:
        raise CheckFailed("`session_mac` is not the MAC of b'session=42;user=alice' under this "
                          "key with HMAC_SHA_256: store generate_mac's 'Mac'.")
    if history is not None and not any(
        e.get("errorCode") == "KMSInvalidMacException" for e in history
    ):
        raise CheckFailed(
            "The sandbox has no record of a VerifyMac call refused with KMSInvalidMacException "
            "for this key: verify session_mac against the forged cookie inside try/except and "
            "store error.response['Error']['Code'] (typing the code in is not the exercise)."
        )
    code = answers.get("forged_error_code")
    if code != "KMSInvalidMacException":
        raise CheckFailed(f"`forged_error_code` is {code!r}: VerifyMac does not answer MacValid "
                          "False, it raises; store error.response['Error']['Code'].")


# --- Exercise 5 -------------------------------------------------------------------------------


@exercise(
    "09-rsa-limit",
    lesson=LESSON,
    points=3,
    hint="RSAES_OAEP_SHA_256 fits 190 bytes with RSA_2048, 318 with RSA_3072 and 446 with "
    "RSA_4096: pick the smallest that holds 300 bytes, with KeyUsage='ENCRYPT_DECRYPT'.",
    answers=("rsa_key_id", "rsa_ciphertext"),
)
def _(kms: Any, answers: Answers) -> None:
    meta = describe_answer_key(kms, answers, "rsa_key_id")
    require_field(meta, "KeyUsage", "ENCRYPT_DECRYPT", "rsa_key_id")
    spec = meta.get("KeySpec")
    if spec not in OAEP_SHA_256_LIMIT:
        raise CheckFailed(f"The key in `rsa_key_id` has KeySpec {spec!r}: the exercise encrypts "
                          "directly with an RSA KMS key (RSA_2048, RSA_3072 or RSA_4096).")
    if spec == "RSA_4096":
        raise CheckFailed("RSA_4096 holds the secret, but it is not the smallest key spec that "
                          "does: compare the limits of RSA_2048 and RSA_3072 with 300 bytes.")
    blob = bytes_answer(answers, "rsa_ciphertext", "response['CiphertextBlob'] from kms.encrypt")
    plaintext = decrypt_or_fail(
        kms,
        "KMS cannot decrypt `rsa_ciphertext` with RSAES_OAEP_SHA_256",
        "encrypt api_secret with EncryptionAlgorithm='RSAES_OAEP_SHA_256' and store the "
        "CiphertextBlob unchanged.",
        CiphertextBlob=blob, KeyId=meta["Arn"], EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )["Plaintext"]
    if plaintext != API_SECRET:
        raise CheckFailed("`rsa_ciphertext` decrypts, but not to `api_secret`: encrypt exactly "
                          "the 300 bytes of api_secret.")


# --- Exercise 6 -------------------------------------------------------------------------------


@exercise(
    "09-data-key-pair",
    lesson=LESSON,
    points=2,
    hint="kms.generate_data_key_pair_without_plaintext(KeyId=pair_kms_key_id, "
    "KeyPairSpec='ECC_NIST_P256'): keep 'PublicKey' and 'PrivateKeyCiphertextBlob'.",
    answers=("pair_kms_key_id", "pair_public_key", "pair_private_ciphertext"),
)
def _(kms: Any, answers: Answers) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    meta = describe_answer_key(kms, answers, "pair_kms_key_id")
    require_field(meta, "KeySpec", "SYMMETRIC_DEFAULT", "pair_kms_key_id")
    public_der = bytes_answer(answers, "pair_public_key", "response['PublicKey']")
    blob = bytes_answer(answers, "pair_private_ciphertext",
                        "response['PrivateKeyCiphertextBlob']")
    history = calls(meta["Arn"])
    contexts: list[dict] = []  # the EncryptionContexts the student's pairs were made with
    if history is not None:
        done = succeeded(history)
        names = [e.get("eventName") for e in done]
        if "GenerateDataKeyPairWithoutPlaintext" not in names:
            extra = (" GenerateDataKeyPair also returned the private key in plaintext, which "
                     "this service must never hold." if "GenerateDataKeyPair" in names else "")
            raise CheckFailed("The trail shows no GenerateDataKeyPairWithoutPlaintext call with "
                              f"`pair_kms_key_id`.{extra}")
        # Decrypt needs the EncryptionContext the pair was generated with (API_Decrypt); the
        # exercise asks for none, but one is allowed and the trail records it. Newest first.
        for event in reversed(done):
            given = (event.get("requestParameters") or {}).get("encryptionContext") or {}
            if event.get("eventName") == "GenerateDataKeyPairWithoutPlaintext" \
                    and given and given not in contexts:
                contexts.append(given)
    code = ""
    for context in contexts + [{}]:
        try:
            given = {"EncryptionContext": context} if context else {}
            private_der = kms.decrypt(CiphertextBlob=blob, KeyId=meta["Arn"], **given)["Plaintext"]
            break
        except ClientError as error:
            code = error.response["Error"]["Code"]
    else:
        raise CheckFailed(f"KMS cannot decrypt `pair_private_ciphertext` ({code}): store the "
                          "response's PrivateKeyCiphertextBlob unchanged.")
    private = serialization.load_der_private_key(private_der, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
        raise CheckFailed("The data key pair is not an ECC_NIST_P256 pair: ask for "
                          "KeyPairSpec='ECC_NIST_P256'.")
    mine = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if mine != public_der:
        raise CheckFailed("`pair_public_key` does not belong to the private key in "
                          "`pair_private_ciphertext`: keep both from the same response.")

