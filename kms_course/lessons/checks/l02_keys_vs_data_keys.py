"""Checks of lesson 02, "KMS keys versus data keys".

Each check decrypts the student's encrypted data keys with KMS (Decrypt) and compares the result
with what GenerateDataKey promises: a plaintext key of the requested length, encrypted under the
named KMS key.

Sources: GenerateDataKey https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html
(KeySpec AES_256 = 32 bytes, AES_128 = 16 bytes; response CiphertextBlob, Plaintext, KeyId as key
ARN), Decrypt https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html (response KeyId
is the ARN of the key that decrypted).
"""

from __future__ import annotations

from typing import Any

from kms_course.lessons.checks._common import (
    bytes_answer,
    decrypt_or_fail,
    describe_answer_key,
    require_bytes,
)
from kms_course.envelope import DATA_KEY_BYTES
from kms_course.lessons.exercises import Answers, CheckFailed, exercise

LESSON = "02_kms_keys_vs_data_keys"


def decrypt_blob(kms: Any, blob: bytes, what: str) -> dict[str, Any]:
    """Decrypt ``blob`` with KMS and return the Decrypt response (``Plaintext``, ``KeyId`` ARN).

    Args:
        kms: a boto3 KMS client on the sandbox.
        blob: ciphertext bytes, e.g. an encrypted data key.
        what: how to name the value in a failure message, e.g. "`doc_encrypted_key`".

    Raises:
        CheckFailed: KMS cannot decrypt it (invalid or altered ciphertext, or a made-up value).
    """
    return decrypt_or_fail(
        kms,
        f"KMS cannot decrypt {what}",
        "store the CiphertextBlob from the KMS response, unchanged (the encrypted copy, not the "
        "Plaintext).",
        CiphertextBlob=blob,
    )


@exercise(
    "02-data-key",
    lesson=LESSON,
    points=2,
    hint="response = kms.generate_data_key(KeyId=doc_key_id, KeySpec='AES_256'); the two copies "
    "are response['Plaintext'] and response['CiphertextBlob'].",
    answers=("doc_key_id", "doc_plaintext_key", "doc_encrypted_key"),
)
def _data_key(kms: Any, answers: Answers) -> None:
    metadata = describe_answer_key(kms, answers, "doc_key_id")
    plaintext = bytes_answer(answers, "doc_plaintext_key", "the response's Plaintext")
    encrypted = bytes_answer(answers, "doc_encrypted_key")
    if len(plaintext) != DATA_KEY_BYTES["AES_256"]:
        raise CheckFailed(
            f"`doc_plaintext_key` is {len(plaintext)} bytes long; an AES_256 data key is 32 bytes. "
            "Did you swap Plaintext and CiphertextBlob?"
        )
    response = decrypt_blob(kms, encrypted, "`doc_encrypted_key`")
    if response["KeyId"] != metadata["Arn"]:
        raise CheckFailed(
            "`doc_encrypted_key` was encrypted under a different KMS key than `doc_key_id`: "
            "generate the data key with KeyId=doc_key_id."
        )
    if response["Plaintext"] != plaintext:
        raise CheckFailed(
            "`doc_encrypted_key` decrypts to a different key than `doc_plaintext_key`: store both "
            "copies from the same generate_data_key response."
        )


@exercise(
    "02-aes128-data-key",
    lesson=LESSON,
    points=2,
    hint="kms.generate_data_key(KeyId=..., KeySpec='AES_128')['CiphertextBlob'].",
    answers=("small_encrypted_key",),
)
def _aes128_data_key(kms: Any, answers: Answers) -> None:
    encrypted = bytes_answer(answers, "small_encrypted_key")
    plaintext = decrypt_blob(kms, encrypted, "`small_encrypted_key`")["Plaintext"]
    if len(plaintext) != DATA_KEY_BYTES["AES_128"]:
        raise CheckFailed(
            f"`small_encrypted_key` holds a {len(plaintext)}-byte data key; a 128-bit key is "
            "16 bytes (KeySpec='AES_128')."
        )


DOCUMENT_NAMES = ("contract.pdf", "payslip.pdf", "passport.png")


@exercise(
    "02-per-document-keys",
    lesson=LESSON,
    points=3,
    hint="Loop over the document names and call generate_data_key once per document, keeping each "
    "response's CiphertextBlob in encrypted_keys[name].",
    answers=("documents_key_id", "encrypted_keys"),
)
def _per_document_keys(kms: Any, answers: Answers) -> None:
    metadata = describe_answer_key(kms, answers, "documents_key_id")
    encrypted_keys = answers.get("encrypted_keys")
    if not isinstance(encrypted_keys, dict):
        raise CheckFailed(
            f"`encrypted_keys` should be a dict (document name -> encrypted data key), but it is "
            f"{type(encrypted_keys).__name__}."
        )
    if set(encrypted_keys) != set(DOCUMENT_NAMES):
        raise CheckFailed(
            f"`encrypted_keys` has the names {sorted(encrypted_keys)}; it needs exactly "
            f"{sorted(DOCUMENT_NAMES)}."
        )
    plaintexts = set()
    for name in DOCUMENT_NAMES:
        blob = require_bytes(encrypted_keys[name], f"encrypted_keys[{name!r}]")
        response = decrypt_blob(kms, blob, f"encrypted_keys[{name!r}]")
        if response["KeyId"] != metadata["Arn"]:
            raise CheckFailed(
                f"encrypted_keys[{name!r}] was encrypted under a different KMS key than "
                "`documents_key_id`."
            )
        if len(response["Plaintext"]) != DATA_KEY_BYTES["AES_256"]:
            raise CheckFailed(f"encrypted_keys[{name!r}] is not an AES_256 (32-byte) data key.")
        plaintexts.add(response["Plaintext"])
    if len(plaintexts) != len(DOCUMENT_NAMES):
        raise CheckFailed(
            "Some documents share a data key: call generate_data_key once for each document."
        )
