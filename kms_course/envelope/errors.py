"""The errors of envelope encryption (all :class:`EnvelopeError`, a
:class:`kms_course.errors.CourseError`), and KMS's ClientErrors translated into them.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from kms_course.errors import CourseError

_KMS_DOCS = "https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html"


class EnvelopeError(CourseError):
    """Base of every error raised by :mod:`kms_course.envelope`."""


class NotBytes(EnvelopeError, TypeError):
    """A ``str`` (or other non-bytes object) was given where bytes are needed."""


class InvalidEncryptionContext(EnvelopeError, TypeError):
    """The encryption context is not a mapping of ``str`` to ``str``."""


class WrongEncryptionContext(EnvelopeError):
    """The encryption context given to decrypt differs from the one used to encrypt."""


class WrongKey(EnvelopeError):
    """The KMS key does not exist, is not the one that encrypted the data, or may not be used."""


class KeyNotUsable(WrongKey):
    """The KMS key exists but its key state forbids the operation (Disabled, PendingDeletion)."""


class InvalidEnvelope(EnvelopeError, ValueError):
    """The bytes are not a course envelope (or are truncated)."""


class TamperedCiphertext(InvalidEnvelope):
    """Authentication failed: the ciphertext or its header was changed or truncated."""


class CorruptedHeader(TamperedCiphertext):
    """The header of a course envelope or of an AWS Encryption SDK message is damaged.

    Raised when the header cannot be parsed (lengths, version, algorithm ID, text fields), fails
    its authentication or key-commitment check, or names an encryption context other than the
    one the data key was bound to. No plaintext is returned or written.
    """


class NonCommittingMessage(InvalidEnvelope):
    """A genuine AWS Encryption SDK message written with an algorithm suite without key
    commitment: its header authenticated under its data key, but kms-course requires commitment
    (``CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT``)."""


class EncryptionSdkMessage(InvalidEnvelope):
    """An AWS Encryption SDK message was given to :func:`decrypt`; use :func:`decrypt_file`."""


class TooLargeForMemory(EnvelopeError, ValueError):
    """The plaintext is larger than :data:`MAX_IN_MEMORY_BYTES`; use :func:`encrypt_file`."""


class DataKeyLengthError(EnvelopeError, ValueError):
    """A data key that is not 16 or 32 bytes of raw key material."""


def _kms_error(error: ClientError, operation: str, key: str) -> Exception:
    """Translate a KMS ClientError into the envelope's own error (or return it unchanged)."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "") or "(no message)"
    if code in ("DisabledException", "KMSInvalidStateException"):
        return KeyNotUsable(
            f"{operation}: the KMS key {key} cannot be used in its current key state ({code}: "
            f"{message}). Enable it with enable_key(), or cancel_key_deletion() then "
            "enable_key(). https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html"
        )
    # On Decrypt the key and the encrypted data key come from the stored header, which nothing
    # can authenticate before KMS returns the data key: a changed header looks like another key.
    corrupted = (
        " If the data should open with a key you can use, the key name or encrypted data key "
        "stored in its header was changed: the header is corrupted."
        if operation == "Decrypt" else ""
    )
    if code == "NotFoundException":
        return WrongKey(
            f"{operation}: no KMS key {key} in this account and Region ({message}).{corrupted}"
        )
    if code == "InvalidKeyUsageException" and operation == "GenerateDataKey":
        return WrongKey(
            f"{operation}: the KMS key {key} cannot encrypt ({message}). Envelope encryption "
            "needs a symmetric encryption key: KeySpec SYMMETRIC_DEFAULT, KeyUsage "
            "ENCRYPT_DECRYPT. https://docs.aws.amazon.com/kms/latest/APIReference/"
            "API_GenerateDataKey.html"
        )
    if code in ("IncorrectKeyException", "AccessDeniedException", "InvalidKeyUsageException"):
        return WrongKey(
            f"{operation}: KMS refused key {key} ({code}: {message}). The data was encrypted "
            f"under another key, or you may not use this one. {_KMS_DOCS}{corrupted}"
        )
    if code == "InvalidCiphertextException":
        return TamperedCiphertext(
            f"{operation}: KMS rejected the encrypted data key (InvalidCiphertextException): it "
            "was changed, or its encryption context differs. KMS cannot tell these apart."
        )
    return error
