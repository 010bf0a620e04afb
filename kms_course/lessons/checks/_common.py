"""Helpers the lessons' checks share: reading the student's answers and asking KMS about them.

This module registers no exercises (:func:`kms_course.lessons.exercises.load_all` imports it with
the lesson modules, which is harmless). Every helper raises
:class:`~kms_course.lessons.exercises.CheckFailed` with a message naming the student's variable and
what to store instead.

Sources: DescribeKey https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html
(NotFoundException for an unknown key, InvalidArnException for a malformed key ARN), CreateKey
https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html (KeyUsage defaults to
ENCRYPT_DECRYPT), Decrypt https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html
(response ``Plaintext`` and ``KeyId``, the key ARN; error codes such as IncorrectKeyException and
InvalidCiphertextException).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from kms_course.lessons.exercises import Answers, CheckFailed

#: CreateKey's documented default KeyUsage: a key created without one is ENCRYPT_DECRYPT
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html, KeyUsage).
DEFAULT_KEY_USAGE = "ENCRYPT_DECRYPT"


def require_bytes(value: Any, name: str, source: str = "the response's CiphertextBlob") -> bytes:
    """``value``, which must be ``bytes`` (or ``bytearray``), as bytes.

    Args:
        value: what the student stored.
        name: how to name it in a message, without backticks, e.g. ``"max_ciphertext"`` or
            ``"encrypted_keys['contract.pdf']"``.
        source: where the right bytes come from, e.g. ``"the response's CiphertextBlob"``.

    Raises:
        CheckFailed: ``value`` is a str (with a hint to keep the raw bytes, or base64-decode
            them), or anything else that is not bytes.
    """
    if isinstance(value, str):
        raise CheckFailed(
            f"`{name}` is a str; KMS returns bytes. Store {source} itself "
            "(if you base64-encoded it, use base64.b64decode() to get the bytes back)."
        )
    if not isinstance(value, (bytes, bytearray)):
        raise CheckFailed(f"`{name}` should be the bytes of {source}, not {type(value).__name__}.")
    return bytes(value)


def int_answer(answers: Answers, name: str, expected: int, where: str) -> int:
    """The int answer ``name``, which must equal ``expected`` (``True`` is not an int here).

    Args:
        where: where the right value comes from, for the message (e.g. "the response's
            'PendingWindowInDays' value").

    Raises:
        CheckFailed: ``name`` is undefined, not an int, or differs from ``expected``.
    """
    value = answers.get(name)
    if isinstance(value, bool) or value != expected:
        raise CheckFailed(f"`{name}` is {value!r}: store {where}.")
    return value


def bytes_answer(
    answers: Answers, name: str, source: str = "the response's CiphertextBlob"
) -> bytes:
    """The student's variable ``name``, which must hold ``bytes`` (see :func:`require_bytes`).

    Raises:
        CheckFailed: the variable is missing, or not bytes.
    """
    return require_bytes(answers.get(name), name, source)


def key_id_answer(answers: Answers, name: str) -> str:
    """The student's variable ``name``, which must hold a key ID (or key ARN) as a ``str``.

    Returns:
        The string.

    Raises:
        CheckFailed: the variable is missing, or holds something other than a str (with what to
            store instead, e.g. when the whole create_key response was stored).
    """
    value = answers.get(name)
    if isinstance(value, dict) and "KeyMetadata" in value:
        raise CheckFailed(
            f"`{name}` holds the whole create_key response; store only its key ID: "
            f"{name} = response['KeyMetadata']['KeyId']."
        )
    if not isinstance(value, str) or not value:
        raise CheckFailed(
            f"`{name}` should be a key ID (a str such as '1234abcd-12ab-34cd-56ef-1234567890ab'), "
            f"but it is {type(value).__name__} {value!r}."
        )
    return value


def describe_answer_key(kms: Any, answers: Answers, name: str) -> dict[str, Any]:
    """DescribeKey for the key ID the student stored in variable ``name``.

    Args:
        kms: a boto3 KMS client on the sandbox.
        answers: the student's answers.
        name: the variable that should hold a key ID or key ARN.

    Returns:
        The key's ``KeyMetadata`` dict.

    Raises:
        CheckFailed: the variable is missing or not a str, or no such key exists in the sandbox.
    """
    key_id = key_id_answer(answers, name)
    try:
        return kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NotFoundException", "InvalidArnException"):
            raise CheckFailed(
                f"`{name}` is {key_id!r}, but no KMS key with that ID exists in the sandbox. "
                "Store the KeyId from the create_key response: response['KeyMetadata']['KeyId']."
            ) from None
        raise


def require_field(metadata: dict[str, Any], field: str, expected: Any, name: str) -> None:
    """Raise CheckFailed unless ``metadata[field] == expected`` (KeyUsage defaults as AWS does).

    Raises:
        CheckFailed: the field differs, naming the variable, the field, and both values.
    """
    actual = metadata.get(field)
    if field == "KeyUsage" and actual is None:
        actual = DEFAULT_KEY_USAGE
    if actual != expected:
        raise CheckFailed(
            f"The key in `{name}` has {field} {actual!r}; the exercise asks for {expected!r}. "
            + _how_to_get(field, actual, expected)
        )


def _how_to_get(field: str, actual: Any, expected: Any) -> str:
    """What to do so that ``field`` reads ``expected``: KeyState is not a create_key parameter."""
    if field != "KeyState":
        return f"Create a new key with {field}={expected!r}."
    if actual == "PendingDeletion":
        return "Call kms.cancel_key_deletion(KeyId=...), then kms.enable_key(KeyId=...)."
    if actual == "Disabled" and expected == "Enabled":
        return "Call kms.enable_key(KeyId=...)."
    return "Create a new key and leave it in the state the exercise asks for."


def decrypt_or_fail(
    kms: Any,
    problem: str,
    fix: str,
    explain: Mapping[str, str] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Call KMS Decrypt with ``params``; when KMS refuses, say why in the student's terms.

    Args:
        kms: a boto3 KMS client on the sandbox.
        problem: what failed, e.g. ``"KMS cannot decrypt `max_ciphertext`"``.
        fix: what to do, e.g. ``"store the CiphertextBlob from encrypt, unchanged."``.
        explain: error code -> whole message, for codes that deserve their own advice.
        params: Decrypt's parameters (``CiphertextBlob``, ``KeyId``, ``EncryptionContext``...).

    Returns:
        The Decrypt response (``Plaintext`` bytes, ``KeyId`` as the key ARN).

    Raises:
        CheckFailed: ``explain[code]`` when given, otherwise ``"<problem> (<code>): <fix>"``.
    """
    try:
        return kms.decrypt(**params)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        raise CheckFailed((explain or {}).get(code, f"{problem} ({code}): {fix}")) from None


def require_plaintext(plaintext: bytes, expected: bytes, what: str) -> None:
    """Raise CheckFailed unless a decrypted ``plaintext`` is ``expected``.

    Args:
        what: how to name the ciphertext, e.g. ``"`rescued_ciphertext`"``.

    Raises:
        CheckFailed: ``"<what> decrypts to <plaintext>, not <expected>."``
    """
    if plaintext != expected:
        raise CheckFailed(f"{what} decrypts to {plaintext!r}, not {expected!r}.")


def calls(key_arn: str, event_name: str | None = None) -> list[dict[str, Any]] | None:
    """The sandbox's record of the KMS calls made on a key (:func:`kms_course.sandbox.trail.trail`).

    Args:
        key_arn: the key's ARN (from DescribeKey).
        event_name: only this operation, e.g. ``"CancelKeyDeletion"``.

    Returns:
        CloudTrail events, oldest first (refused calls carry ``errorCode``); None where the
        backend keeps no trail (real AWS), so a check then judges the key's state alone.
    """
    from kms_course.sandbox import trail
    from kms_course.sandbox.start import SandboxError

    try:
        return trail.trail(key_id=key_arn, event_name=event_name)
    except SandboxError:
        return None


def succeeded(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of calls that KMS answered without an error."""
    return [e for e in events if not e.get("errorCode")]


def b64decode_text(text: str) -> bytes:
    """Bytes of base64 text in any form ``base64.b64decode`` reads from a correct encoding:
    the standard alphabet with padding, on one line (``b64encode``) or in MIME lines of 76
    characters (``encodebytes``). Only whitespace is ignored, never other characters.

    Raises:
        binascii.Error: the text is not base64 (also for the URL-safe alphabet ``-`` ``_``).
    """
    import base64

    return base64.b64decode("".join(text.split()), validate=True)
