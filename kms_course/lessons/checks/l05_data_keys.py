"""Checks of lesson 05, "Data keys and envelope encryption"
(notebooks/05_data_keys_and_envelope_encryption.ipynb).

A sealed document, as the lesson builds it, is a dict of bytes::

    {"encrypted_data_key": <GenerateDataKey CiphertextBlob>,
     "nonce": <12 random bytes>,
     "ciphertext": <AESGCM(data key).encrypt(nonce, document, aad)>}

where ``aad = json.dumps(encryption_context, sort_keys=True).encode("utf-8")`` and the same
encryption context was passed to GenerateDataKey. The checks open it the way a reader would:
KMS Decrypt of the encrypted data key with the encryption context, then AES-GCM decryption.

Sources:
* GenerateDataKey (KeySpec AES_256 -> 32-byte Plaintext; KeySpec or NumberOfBytes):
  https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html
* Decrypt with EncryptionContext: https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html
* AES-GCM in cryptography (12-byte nonce, never reused with the same key; InvalidTag):
  https://cryptography.io/en/latest/hazmat/primitives/aead/#cryptography.hazmat.primitives.ciphers.aead.AESGCM
* NIST SP 800-38D, section 8 (uniqueness of GCM IVs): https://doi.org/10.6028/NIST.SP.800-38D
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_course.lessons.checks._common import (
    calls,
    describe_answer_key,
    int_answer,
    require_bytes,
    require_plaintext,
)
from kms_course.envelope import DATA_KEY_BYTES, NONCE_BYTES
from kms_course.lessons.practice import context_aad  # noqa: F401  (used by the checks, public)
from kms_course.lessons.exercises import Answers, CheckFailed, exercise

LESSON = "05_data_keys_and_envelope_encryption"
AES_256_KEY_BYTES = DATA_KEY_BYTES["AES_256"]
SEALED_FIELDS = ("encrypted_data_key", "nonce", "ciphertext")

DATA_KEY_CONTEXT = {"purpose": "lesson-05"}
SEAL_CONTEXT = {"document_id": "minutes-7"}
SEAL_DOCUMENT = b"Board minutes: merger approved"
DEFERRED_CONTEXT = {"job": "nightly-export"}
DEFERRED_DOCUMENT = b"nightly export"


def decrypt_data_key(
    kms: Any,
    encrypted_data_key: Any,
    key_arn: str,
    encryption_context: Mapping[str, str],
    name: str,
) -> bytes:
    """Decrypt a student's encrypted data key with KMS, explaining each way it can fail.

    Returns:
        The plaintext data key (bytes).

    Raises:
        CheckFailed: not bytes; made under another key; made without (or with another)
            encryption context; or not a KMS ciphertext at all.
    """
    encrypted_data_key = require_bytes(encrypted_data_key, name, "the data key's CiphertextBlob")
    try:
        return kms.decrypt(
            CiphertextBlob=encrypted_data_key,
            KeyId=key_arn,
            EncryptionContext=dict(encryption_context),
        )["Plaintext"]
    except kms.exceptions.ClientError as first:
        code = first.response["Error"]["Code"]
    try:
        kms.decrypt(CiphertextBlob=encrypted_data_key, KeyId=key_arn)
    except kms.exceptions.ClientError:
        pass
    else:
        raise CheckFailed(
            f"`{name}` was generated without the encryption context {dict(encryption_context)}: "
            "pass EncryptionContext=... to generate_data_key."
        )
    raise CheckFailed(
        f"`{name}` does not decrypt under the given key with the encryption context "
        f"{dict(encryption_context)} ({code}): was it generated with that key and that exact "
        "context?"
    )


def open_sealed(
    kms: Any,
    sealed: Any,
    key_arn: str,
    encryption_context: Mapping[str, str],
    name: str,
) -> tuple[bytes, bytes]:
    """Open a sealed document (see the module docstring) as a reader would.

    Returns:
        ``(document, data_key)``: the decrypted document and the plaintext data key (bytes).

    Raises:
        CheckFailed: a missing or non-bytes field, a data key that is not 32 bytes, a nonce that is
            not 12 bytes, a ciphertext that fails authentication, or associated data that is not
            the encryption context.
    """
    if not isinstance(sealed, dict):
        raise CheckFailed(
            f"`{name}` should be a dict with the keys {', '.join(SEALED_FIELDS)}, not "
            f"{type(sealed).__name__}."
        )
    for field in SEALED_FIELDS:
        if not isinstance(sealed.get(field), bytes):
            kind = type(sealed.get(field)).__name__
            raise CheckFailed(f"`{name}['{field}']` should be bytes, not {kind}.")
    data_key = decrypt_data_key(
        kms,
        sealed["encrypted_data_key"],
        key_arn,
        encryption_context,
        f"{name}['encrypted_data_key']",
    )
    if len(data_key) != AES_256_KEY_BYTES:
        raise CheckFailed(
            f"The data key is {len(data_key)} bytes; AES-256 needs {AES_256_KEY_BYTES}: use "
            "KeySpec='AES_256'."
        )
    nonce = sealed["nonce"]
    if len(nonce) != NONCE_BYTES:
        raise CheckFailed(
            f"`{name}['nonce']` is {len(nonce)} bytes; use os.urandom({NONCE_BYTES})."
        )
    cipher = AESGCM(data_key)
    try:
        document = cipher.decrypt(nonce, sealed["ciphertext"], context_aad(encryption_context))
        return document, data_key
    except InvalidTag:
        pass
    try:
        cipher.decrypt(nonce, sealed["ciphertext"], None)
    except InvalidTag:
        raise CheckFailed(
            f"`{name}['ciphertext']` does not decrypt with its data key and nonce: encrypt the "
            "document with AESGCM(plaintext data key).encrypt(nonce, document, aad)."
        ) from None
    raise CheckFailed(
        f"`{name}['ciphertext']` was encrypted without the encryption context as associated data: "
        "pass aad = json.dumps(encryption_context, sort_keys=True).encode('utf-8') as the third "
        "argument of AESGCM.encrypt."
    )


@exercise(
    "05-generate-data-key",
    lesson=LESSON,
    points=2,
    hint="kms.generate_data_key(KeyId=..., KeySpec='AES_256', EncryptionContext={'purpose': "
    "'lesson-05'}); keep the CiphertextBlob and len() of the Plaintext.",
    answers=("dk_key_id", "dk_encrypted_data_key", "dk_plaintext_length"),
)
def _(kms: Any, answers: Answers) -> None:
    meta = describe_answer_key(kms, answers, "dk_key_id")
    data_key = decrypt_data_key(
        kms,
        answers.get("dk_encrypted_data_key"),
        meta["Arn"],
        DATA_KEY_CONTEXT,
        "dk_encrypted_data_key",
    )
    if len(data_key) != AES_256_KEY_BYTES:
        raise CheckFailed(
            f"The data key is {len(data_key)} bytes, not {AES_256_KEY_BYTES}: use "
            "KeySpec='AES_256' (AES_128 gives 16 bytes)."
        )
    int_answer(
        answers, "dk_plaintext_length", AES_256_KEY_BYTES,
        "len(response['Plaintext']), the length of the plaintext data key in bytes",
    )


@exercise(
    "05-seal-document",
    lesson=LESSON,
    points=4,
    hint="Inside your function: a new generate_data_key call with the encryption context, "
    "nonce = os.urandom(12) on every call, AESGCM(key).encrypt(nonce, document, aad), then del "
    "the plaintext data key.",
    answers=("seal_key_id", "sealed_first", "sealed_second"),
)
def _(kms: Any, answers: Answers) -> None:
    meta = describe_answer_key(kms, answers, "seal_key_id")
    first, second = answers.get("sealed_first"), answers.get("sealed_second")
    data_keys = []
    for name, sealed in (("sealed_first", first), ("sealed_second", second)):
        document, data_key = open_sealed(kms, sealed, meta["Arn"], SEAL_CONTEXT, name)
        require_plaintext(document, SEAL_DOCUMENT, f"`{name}`")
        data_keys.append(data_key)
    if first["nonce"] == second["nonce"]:
        raise CheckFailed(
            "Both calls used the same nonce. A nonce must never repeat with the same key (it "
            "leaks the XOR of the plaintexts and allows forgeries): generate nonce = "
            "os.urandom(12) inside the function, on every call."
        )
    if data_keys[0] == data_keys[1]:  # the keys themselves: re-encrypting one key is no fresh key
        raise CheckFailed(
            "Both documents were sealed with the same data key (their encrypted data keys decrypt "
            "to the same key): call generate_data_key inside the function so every document gets "
            "its own data key."
        )


@exercise(
    "05-deferred-data-key",
    lesson=LESSON,
    points=3,
    hint="kms.generate_data_key_without_plaintext(..., EncryptionContext={'job': "
    "'nightly-export'}); later kms.decrypt(CiphertextBlob=..., EncryptionContext=...) gives the "
    "key for AESGCM.",
    answers=("deferred_key_id", "deferred_encrypted_data_key", "deferred_sealed"),
)
def _(kms: Any, answers: Answers) -> None:
    meta = describe_answer_key(kms, answers, "deferred_key_id")
    made = calls(meta["Arn"], "GenerateDataKeyWithoutPlaintext")
    if made is not None and not any(not e.get("errorCode") for e in made):
        raise CheckFailed(
            "The sandbox has no record of kms.generate_data_key_without_plaintext with the key "
            "in `deferred_key_id`: the exercise is a data key whose plaintext copy KMS does not "
            "return now (generate_data_key returns it at once)."
        )
    encrypted_data_key = answers.get("deferred_encrypted_data_key")
    decrypt_data_key(
        kms, encrypted_data_key, meta["Arn"], DEFERRED_CONTEXT, "deferred_encrypted_data_key"
    )
    sealed = answers.get("deferred_sealed")
    document, _key = open_sealed(kms, sealed, meta["Arn"], DEFERRED_CONTEXT, "deferred_sealed")
    if sealed["encrypted_data_key"] != encrypted_data_key:
        raise CheckFailed(
            "`deferred_sealed['encrypted_data_key']` is not `deferred_encrypted_data_key`: "
            "encrypt with the data key you generated earlier, and store that encrypted data key."
        )
    require_plaintext(document, DEFERRED_DOCUMENT, "`deferred_sealed`")
