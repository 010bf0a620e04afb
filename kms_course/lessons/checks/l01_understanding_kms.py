"""Checks of lesson 01, "Understanding AWS KMS".

Sources: AWS KMS keys (customer managed, AWS managed, AWS owned)
https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html; DescribeKey (KeyManager; a
predefined ``alias/aws/...`` alias creates its AWS managed key)
https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html; GetPublicKey
https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html; Encrypt (plaintext of
1 to 4096 bytes) https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html.
"""

from __future__ import annotations

from typing import Any

from kms_course.lessons.checks._common import bytes_answer, decrypt_or_fail, describe_answer_key
from kms_course.lessons.exercises import Answers, CheckFailed, exercise

LESSON = "01_understanding_kms"
S3_ALIAS = "alias/aws/s3"
#: Encrypt's documented maximum plaintext size, in bytes (API_Encrypt.html, Plaintext).
ENCRYPT_MAX_BYTES = 4096


@exercise(
    "01-aws-managed-key",
    lesson=LESSON,
    points=2,
    hint=f"kms.describe_key(KeyId='{S3_ALIAS}')['KeyMetadata'] has both the KeyId and the "
    "KeyManager.",
    answers=("s3_key_id", "s3_key_manager"),
)
def _aws_managed_key(kms: Any, answers: Answers) -> None:
    metadata = describe_answer_key(kms, answers, "s3_key_id")
    s3_key = kms.describe_key(KeyId=S3_ALIAS)["KeyMetadata"]
    if metadata["KeyId"] != s3_key["KeyId"]:
        raise CheckFailed(
            f"`s3_key_id` names a key, but not the one behind {S3_ALIAS}: take the KeyId from "
            f"describe_key(KeyId='{S3_ALIAS}')."
        )
    manager = answers.get("s3_key_manager")
    if manager != s3_key["KeyManager"]:
        raise CheckFailed(
            f"`s3_key_manager` is {manager!r}, but the key's KeyManager field is "
            f"{s3_key['KeyManager']!r}."
        )


@exercise(
    "01-public-key",
    lesson=LESSON,
    points=2,
    hint="create_key(KeyUsage='SIGN_VERIFY', KeySpec='ECC_NIST_P256'), then "
    "kms.get_public_key(KeyId=...)['PublicKey'].",
    answers=("pair_key_id", "public_key_der"),
)
def _public_key(kms: Any, answers: Answers) -> None:
    metadata = describe_answer_key(kms, answers, "pair_key_id")
    if metadata.get("KeySpec") in (None, "SYMMETRIC_DEFAULT") or str(
        metadata.get("KeySpec")
    ).startswith("HMAC_"):
        raise CheckFailed(
            f"The key in `pair_key_id` has KeySpec {metadata.get('KeySpec')!r}: a symmetric key "
            "has no public key. Create an asymmetric key (an RSA or ECC KeySpec)."
        )
    if metadata.get("KeyUsage") != "SIGN_VERIFY":
        raise CheckFailed(
            f"The key in `pair_key_id` has KeyUsage {metadata.get('KeyUsage')!r}; the exercise "
            "asks for a signing key (SIGN_VERIFY)."
        )
    given = bytes_answer(answers, "public_key_der", "get_public_key's PublicKey")
    if given != kms.get_public_key(KeyId=metadata["KeyId"])["PublicKey"]:
        raise CheckFailed(
            "`public_key_der` is not the public key of the key in `pair_key_id`: store "
            "kms.get_public_key(KeyId=pair_key_id)['PublicKey']."
        )


@exercise(
    "01-largest-plaintext",
    lesson=LESSON,
    points=2,
    hint=f"Encrypt takes at most {ENCRYPT_MAX_BYTES} bytes: kms.encrypt(KeyId=..., "
    f"Plaintext=b'A' * {ENCRYPT_MAX_BYTES})['CiphertextBlob'].",
    answers=("max_ciphertext",),
)
def _largest_plaintext(kms: Any, answers: Answers) -> None:
    blob = bytes_answer(answers, "max_ciphertext")
    plaintext = decrypt_or_fail(
        kms,
        "KMS cannot decrypt `max_ciphertext`",
        "store the CiphertextBlob from encrypt, unchanged.",
        CiphertextBlob=blob,
    )["Plaintext"]
    if len(plaintext) != ENCRYPT_MAX_BYTES:
        raise CheckFailed(
            f"`max_ciphertext` holds {len(plaintext)} bytes of plaintext; the exercise asks for "
            f"the largest plaintext Encrypt accepts, {ENCRYPT_MAX_BYTES} bytes."
        )
    if set(plaintext) != {ord("A")}:
        raise CheckFailed("The plaintext should be the letter A repeated (b'A' * 4096).")
