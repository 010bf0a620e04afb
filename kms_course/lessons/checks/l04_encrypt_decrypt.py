"""Checks of lesson 04, "Encrypting and decrypting".

Every check decrypts the student's ciphertext with KMS and compares the plaintext with the
exercise's, so only ciphertext really produced by Encrypt can pass.

Sources: Encrypt https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html (plaintext
1-4096 bytes), Decrypt https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html
(IncorrectKeyException when KeyId is not the key that encrypted; InvalidCiphertextException when
the ciphertext or the encryption context does not match), encryption context
https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html, base64 (RFC 4648,
https://www.rfc-editor.org/rfc/rfc4648).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from kms_course.lessons.checks._common import (
    b64decode_text,
    bytes_answer,
    calls,
    decrypt_or_fail,
    describe_answer_key,
    require_plaintext,
    succeeded,
)
from kms_course.lessons.exercises import Answers, CheckFailed, exercise

LESSON = "04_encrypting_and_decrypting"

REPORT_TEXT = "Quarterly report: confidential"
CARD_TEXT = b"card ending 4242"
SALARY_TEXT = b"salary: 5000"
SALARY_CONTEXT = {"employee_id": "E-1001", "purpose": "payroll"}
#: 'é' is 2 bytes in UTF-8, so 2048 of them fill Encrypt's 4096-byte maximum exactly.
ACCENT_PLAINTEXT = ("é" * 2048).encode("utf-8")


#: Added to the User-Agent of the check's own calls, which the sandbox's trail records
#: (``userAgent``), so that a check never takes its own Decrypt for the student's.
CHECK_AGENT = "kms-course-check"


@contextmanager
def _as_check(kms: Any) -> Iterator[Any]:
    """``kms`` whose calls, inside the ``with``, carry :data:`CHECK_AGENT` in their User-Agent.

    Uses botocore's ``before-sign`` event
    (https://botocore.amazonaws.com/v1/documentation/api/latest/topics/events.html).
    """
    def mark(request: Any, **_: Any) -> None:
        agent = request.headers.get("User-Agent", "")
        agent = agent.decode("ascii", "replace") if isinstance(agent, bytes) else agent
        request.headers["User-Agent"] = f"{agent} {CHECK_AGENT}".strip()

    kms.meta.events.register("before-sign.kms", mark, unique_id=CHECK_AGENT)
    try:
        yield kms
    finally:
        kms.meta.events.unregister("before-sign.kms", unique_id=CHECK_AGENT)


def decrypt_answer(kms: Any, blob: bytes, what: str, **params: Any) -> bytes:
    """Decrypt ``blob`` with KMS (extra Decrypt ``params`` such as KeyId, EncryptionContext).

    Returns:
        The plaintext bytes.

    Raises:
        CheckFailed: KMS refuses, with the error code and what it means for the student.
    """
    context = (
        " and use exactly the encryption context given" if "EncryptionContext" in params else ""
    )
    wrong_key = (
        f"{what} was not encrypted under the key you named (IncorrectKeyException): "
        "encrypt with that key."
    )
    return decrypt_or_fail(
        kms,
        f"KMS cannot decrypt {what}",
        f"store the CiphertextBlob from encrypt unchanged{context}.",
        explain={"IncorrectKeyException": wrong_key},
        CiphertextBlob=blob,
        **params,
    )["Plaintext"]


@exercise(
    "04-round-trip",
    lesson=LESSON,
    points=2,
    hint="Decrypt returns bytes: turn them into text with .decode('utf-8').",
    answers=("report_key_id", "report_ciphertext", "report_plaintext"),
)
def _round_trip(kms: Any, answers: Answers) -> None:
    metadata = describe_answer_key(kms, answers, "report_key_id")
    blob = bytes_answer(answers, "report_ciphertext")
    with _as_check(kms):
        plaintext = decrypt_answer(kms, blob, "`report_ciphertext`", KeyId=metadata["Arn"])
    if plaintext != REPORT_TEXT.encode("utf-8"):
        raise CheckFailed(
            f"`report_ciphertext` decrypts to {plaintext[:40]!r}, not {REPORT_TEXT!r}."
        )
    text = answers.get("report_plaintext")
    if isinstance(text, bytes):
        raise CheckFailed(
            "`report_plaintext` is bytes; the exercise asks for text (str): use .decode('utf-8')."
        )
    if text != REPORT_TEXT:
        raise CheckFailed(f"`report_plaintext` is {text!r}; expected {REPORT_TEXT!r}.")
    history = calls(metadata["Arn"], "Decrypt")
    if history is not None and not any(
        CHECK_AGENT not in str(e.get("userAgent") or "") for e in succeeded(history)
    ):
        raise CheckFailed(
            "The sandbox has no record of a Decrypt with the key in `report_key_id`: decrypt "
            "report_ciphertext with kms.decrypt and turn its Plaintext into text (typing the "
            "text in is not the exercise)."
        )


@exercise(
    "04-base64-storage",
    lesson=LESSON,
    points=2,
    hint="base64.b64encode(ciphertext_bytes).decode('ascii') gives text; encode only once.",
    answers=("stored_ciphertext",),
)
def _base64_storage(kms: Any, answers: Answers) -> None:
    stored = answers.get("stored_ciphertext")
    if isinstance(stored, (bytes, bytearray)):
        raise CheckFailed(
            "`stored_ciphertext` is bytes; the exercise asks for base64 *text* (a str): "
            "base64.b64encode(blob).decode('ascii')."
        )
    if not isinstance(stored, str):
        raise CheckFailed(f"`stored_ciphertext` should be a str, not {type(stored).__name__}.")
    try:
        blob = b64decode_text(stored)  # b64encode's one line or encodebytes' MIME lines
    except (binascii.Error, ValueError):
        raise CheckFailed(
            "`stored_ciphertext` is not base64 text that base64.b64decode reads (standard "
            "alphabet, with its = padding): use base64.b64encode(blob).decode('ascii')."
        ) from None
    try:
        plaintext = kms.decrypt(CiphertextBlob=blob)["Plaintext"]
    except ClientError:
        if _is_base64_text(blob):
            raise CheckFailed(
                "`stored_ciphertext` is base64 of base64: the ciphertext was encoded twice. "
                "Encode the raw CiphertextBlob bytes once."
            ) from None
        raise CheckFailed(
            "KMS cannot decrypt base64.b64decode(stored_ciphertext): encode the CiphertextBlob "
            "from encrypt, unchanged."
        ) from None
    require_plaintext(plaintext, CARD_TEXT, "The stored ciphertext")


def _is_base64_text(data: bytes) -> bool:
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


@exercise(
    "04-encryption-context",
    lesson=LESSON,
    points=3,
    hint="Pass EncryptionContext={'employee_id': 'E-1001', 'purpose': 'payroll'} to encrypt "
    "(and the same dict to decrypt).",
    answers=("salary_key_id", "salary_ciphertext"),
)
def _encryption_context(kms: Any, answers: Answers) -> None:
    metadata = describe_answer_key(kms, answers, "salary_key_id")
    blob = bytes_answer(answers, "salary_ciphertext")
    try:
        kms.decrypt(CiphertextBlob=blob, KeyId=metadata["Arn"])
    except ClientError as error:
        if error.response["Error"]["Code"] == "IncorrectKeyException":
            raise CheckFailed(
                "`salary_ciphertext` was not encrypted under the key in `salary_key_id`."
            ) from None
    else:
        raise CheckFailed(
            "`salary_ciphertext` decrypts without any encryption context, so none was bound to "
            "it: pass EncryptionContext=... to encrypt."
        )
    plaintext = decrypt_answer(
        kms,
        blob,
        f"`salary_ciphertext` with EncryptionContext={SALARY_CONTEXT}",
        KeyId=metadata["Arn"],
        EncryptionContext=SALARY_CONTEXT,
    )
    require_plaintext(plaintext, SALARY_TEXT, "`salary_ciphertext`")


@exercise(
    "04-byte-limit",
    lesson=LESSON,
    points=2,
    hint="Count bytes, not characters: len('é'.encode('utf-8')) is 2, so 4096 bytes hold 2048 "
    "of them.",
    answers=("accent_ciphertext",),
)
def _byte_limit(kms: Any, answers: Answers) -> None:
    blob = bytes_answer(answers, "accent_ciphertext")
    plaintext = decrypt_answer(kms, blob, "`accent_ciphertext`")
    if plaintext != ACCENT_PLAINTEXT:
        try:
            characters = len(plaintext.decode("utf-8"))
        except UnicodeDecodeError:
            characters = None
        shown = f"{characters} characters" if characters is not None else "not whole characters"
        raise CheckFailed(
            f"`accent_ciphertext` holds {len(plaintext)} bytes ({shown}); the longest run of 'é' "
            "that fits is 4096 bytes."
        )
