"""Envelope encryption with AWS KMS: one data key per message, AES-256-GCM, encryption context.

Envelope encryption encrypts data under a *data key* and stores the data key only in encrypted
form, encrypted under a KMS key
(https://docs.aws.amazon.com/kms/latest/developerguide/kms-cryptography.html#enveloping).
``GenerateDataKey`` returns both copies of a fresh data key: ``Plaintext`` (use it, then drop it)
and ``CiphertextBlob`` (store it beside the data)
(https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html).

Two formats, two pairs of functions:

* :func:`encrypt` / :func:`decrypt`: bytes in, bytes out, for documents that fit in memory (up to
  :data:`MAX_IN_MEMORY_BYTES`). The result is a small self-describing *course envelope*
  (format below) that :func:`decrypt` opens with nothing but the KMS client and the encryption
  context. :func:`encrypt_into` / :func:`decrypt_into` do the same into a buffer the caller
  reuses, which saves the page faults of a fresh buffer on large documents.
* :func:`encrypt_file` / :func:`decrypt_file`: files of any size in constant memory, as framed
  messages of the AWS Encryption SDK
  (https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/message-format.html), so any
  AWS Encryption SDK (Python, Java, C, CLI...) can open them.

:func:`to_json` / :func:`from_json` store a course envelope as JSON text with base64 fields, so
nobody stores ``str(blob)`` or base64 of base64 (cases C02, C04 of the course's problem list).

Course envelope, version 1 (all integers big-endian)::

    magic       4 bytes   b"KCEV"
    version     1 byte    1
    arn_len     2 bytes   then the key ARN, UTF-8 (the KeyId that GenerateDataKey returned)
    edk_len     2 bytes   then the encrypted data key (GenerateDataKey's CiphertextBlob)
    nonce_len   1 byte    12, then the 12-byte AES-GCM nonce (random, fresh per message)
    ctx_len     2 bytes   then the encryption context as canonical JSON (sorted keys, no spaces)
    body                  AES-256-GCM ciphertext followed by its 16-byte tag

Everything before ``body`` (the *header*) is the GCM associated data, so a change to any header
byte fails authentication; the encryption context is also passed to KMS, which binds it to the
encrypted data key (https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html).
Canonical JSON keeps ``{"ab": "c"}`` and ``{"a": "bc"}`` apart.

Python cannot guarantee that a secret is wiped from memory: the functions here drop every
reference to the plaintext data key (``del``) as soon as the cipher object holds it, which is as
much as pure Python can do.

The package is the API; the code lives in one module per part:
:mod:`~kms_course.envelope.errors` (the exceptions, KMS errors translated),
:mod:`~kms_course.envelope.inputs` (what the functions accept: bytes, encryption contexts, data
keys), :mod:`~kms_course.envelope.bytes_format` (the course envelope and its JSON form),
:mod:`~kms_course.envelope.file_format` (files as AWS Encryption SDK messages, with
:mod:`~kms_course.envelope.sdk_frames`), and :mod:`~kms_course.envelope.docstore` (the capstone's
document store on top).
"""

from __future__ import annotations

# re-exported: the package's names, as before the split
from kms_course.envelope.errors import (
    CorruptedHeader, DataKeyLengthError, EncryptionSdkMessage, EnvelopeError,
    InvalidEncryptionContext, InvalidEnvelope, KeyNotUsable, NonCommittingMessage, NotBytes,
    TamperedCiphertext, TooLargeForMemory, WrongEncryptionContext, WrongKey,
)  # noqa: F401
from kms_course.envelope.inputs import cipher_for_data_key, DATA_KEY_BYTES  # noqa: F401
from kms_course.envelope.bytes_format import (
    decrypt, decrypt_into, encrypt, encrypt_into, from_json, MAGIC, max_envelope_size,
    MAX_IN_MEMORY_BYTES, NONCE_BYTES, TAG_BYTES, to_json, VERSION,
)  # noqa: F401
from kms_course.envelope.file_format import (
    decrypt_file, encrypt_file, FILE_ALGORITHM, FILE_FRAME_LENGTH,
)  # noqa: F401

__all__ = [
    "CorruptedHeader",
    "DataKeyLengthError",
    "EncryptionSdkMessage",
    "EnvelopeError",
    "FILE_ALGORITHM",
    "FILE_FRAME_LENGTH",
    "InvalidEncryptionContext",
    "InvalidEnvelope",
    "KeyNotUsable",
    "MAX_IN_MEMORY_BYTES",
    "NonCommittingMessage",
    "NotBytes",
    "TamperedCiphertext",
    "TooLargeForMemory",
    "WrongEncryptionContext",
    "WrongKey",
    "cipher_for_data_key",
    "decrypt",
    "decrypt_file",
    "decrypt_into",
    "encrypt",
    "encrypt_file",
    "encrypt_into",
    "from_json",
    "max_envelope_size",
    "to_json",
]
