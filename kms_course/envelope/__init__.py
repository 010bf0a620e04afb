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
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import json
import logging
import os
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import (
    ActionNotAllowedError,
    AWSEncryptionSDKClientError,
    DecryptKeyError,
    InvalidKeyIdError,
)
from aws_encryption_sdk.identifiers import Algorithm
from aws_encryption_sdk.internal.formatting.deserialize import deserialize_header
from aws_encryption_sdk.key_providers.base import MasterKeyProvider, MasterKeyProviderConfig
from aws_encryption_sdk.key_providers.kms import KMSMasterKey
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_course.atomic import atomic_write
from kms_course.errors import CourseError
from kms_course.envelope.sdk_frames import decrypt_frames, encrypt_frames

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

MAGIC = b"KCEV"
VERSION = 1
#: AES-GCM nonce length in bytes (96 bits, NIST SP 800-38D's recommended IV length).
NONCE_BYTES = 12
#: AES-GCM tag length in bytes, appended to the ciphertext.
TAG_BYTES = 16
#: GenerateDataKey KeySpec -> plaintext data key length in bytes
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html).
DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}
_HEADER_START = struct.Struct(">4sBH")  # magic, version, arn_len
#: Largest plaintext (bytes) that :func:`encrypt` accepts: 64 MiB. The in-memory path holds the
#: plaintext and the ciphertext at once (about twice the size), which is fine in a notebook kernel
#: at 64 MiB; above that, :func:`encrypt_file` streams in constant memory at the same speed.
#: (cryptography's AESGCM refuses more than 2**31 - 1 bytes in any case, case C26.)
MAX_IN_MEMORY_BYTES = 64 * 1024 * 1024
#: Frame length (bytes) of the file format: 1 MiB frames keep per-frame overhead (32 bytes and a
#: few Python calls) negligible while memory stays a few MiB; the SDK's own default is 4096.
FILE_FRAME_LENGTH = 1024 * 1024
#: Algorithm suite of the file format: AES-256-GCM with HKDF-SHA512 key derivation and key
#: commitment, *without* an ECDSA signature. The SDK's default suite adds an ECDSA P-384
#: signature, which only matters when readers must not be able to write (anyone who can decrypt
#: the data key could forge a message without it); here writers and readers share the KMS key,
#: and signing costs a large part of the throughput. Key commitment stays on
#: (CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT), so a message decrypts to one plaintext
#: only. https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/supported-algorithms.html
FILE_ALGORITHM = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
_SDK_RESERVED_PREFIX = "aws-crypto-"
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=_\-\r\n]+")
_KMS_DOCS = "https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html"
# The SDK logs every failed KMS call with a traceback; errors reach the caller as exceptions.
logging.getLogger("aws_encryption_sdk").addHandler(logging.NullHandler())


# --- errors ---------------------------------------------------------------------------------


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


# --- input checks ---------------------------------------------------------------------------


def _looks_like_base64(data: bytes | str) -> bool:
    raw = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data[:4096])
    if len(raw) < 8 or not _BASE64_TEXT.fullmatch(raw):
        return False
    try:
        base64.b64decode(raw.strip() + b"=" * (-len(raw.strip()) % 4), validate=False)
    except (binascii.Error, ValueError):
        return False
    return True


def _str_hint(value: str, what: str) -> str:
    """What to do with a ``str`` given where bytes are needed."""
    text = value.strip()
    if what != "ciphertext":
        return f"{what} must be bytes, not str: encode text first, e.g. text.encode('utf-8')."
    if text.startswith("{"):
        return f"{what} is JSON text: open it with from_json(text) first."
    if text[:2] in ("b'", 'b"'):
        return (f"{what} is str(bytes), the printed form of bytes, which loses data: keep the "
                "bytes themselves, or store them with to_json() and read them with from_json().")
    if len(text) >= 8 and len(text) % 2 == 0 and re.fullmatch(r"[0-9a-fA-F]+", text):
        return f"{what} looks like hex text: decode it first with bytes.fromhex(text)."
    if _looks_like_base64(value):
        return (f"{what} is a str that looks like base64 text: decode it first with "
                "base64.b64decode(), or use from_json() for text made by to_json().")
    return f"{what} must be bytes, not str."


def _require_bytes(value: Any, what: str) -> bytes | memoryview:
    """``value`` as bytes or a flat byte view, or :class:`NotBytes` saying what to do."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        raise NotBytes(_str_hint(value, what))
    try:
        view = memoryview(value)
    except TypeError:
        raise NotBytes(f"{what} must be bytes, not {type(value).__name__}.") from None
    if not view.c_contiguous:
        raise NotBytes(f"{what} is a non-contiguous view (a slice with a step): pass bytes(view).")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def _canonical_context(encryption_context: Any) -> tuple[dict[str, str], bytes]:
    if not isinstance(encryption_context, Mapping):
        raise InvalidEncryptionContext(
            "encryption_context must be a dict of str to str, e.g. {'purpose': 'lesson1'} "
            f"(got {type(encryption_context).__name__})."
        )
    for name, value in encryption_context.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidEncryptionContext(
                f"encryption context pair {name!r}: {value!r} is not str: str. KMS takes only "
                "string keys and values; convert numbers with str()."
            )
        try:
            (name + value).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEncryptionContext(
                f"encryption context pair {name!r}: {value!r} is not valid Unicode text (a lone "
                "surrogate): KMS takes UTF-8 strings only."
            ) from None
        if name.startswith(_SDK_RESERVED_PREFIX):
            raise InvalidEncryptionContext(
                f"encryption context key {name!r} starts with {_SDK_RESERVED_PREFIX!r}, which "
                "the AWS Encryption SDK reserves: choose another name."
            )
    context = dict(encryption_context)
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return context, canonical.encode("utf-8")


def _context_difference(expected: Mapping[str, str], given: Mapping[str, str]) -> str:
    missing = sorted(set(expected) - set(given))
    extra = sorted(set(given) - set(expected))
    changed = sorted(k for k in set(expected) & set(given) if expected[k] != given[k])
    parts = []
    if missing:
        parts.append(f"missing keys {missing}")
    if extra:
        parts.append(f"extra keys {extra}")
    if changed:
        parts.append(f"different values for {changed}")
    return "; ".join(parts)


def _check_context(stored: Mapping[str, str], given: Mapping[str, str]) -> None:
    if dict(stored) != dict(given):
        raise WrongEncryptionContext(
            "The encryption context differs from the one used to encrypt "
            f"({_context_difference(stored, given)}). It must be the exact same set of string "
            "pairs: case-sensitive, order irrelevant. "
            "https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html"
        )


def cipher_for_data_key(data_key: Any) -> AESGCM:
    """An ``AESGCM`` cipher for a data key from ``GenerateDataKey``'s ``Plaintext`` field.

    Args:
        data_key: the raw data key, ``bytes`` of length 32 (``KeySpec="AES_256"``) or 16
            (``KeySpec="AES_128"``).

    Returns:
        ``cryptography.hazmat.primitives.ciphers.aead.AESGCM`` bound to the key
        (https://cryptography.io/en/latest/hazmat/primitives/aead/#cryptography.hazmat.primitives.ciphers.aead.AESGCM).

    Raises:
        NotBytes: ``data_key`` is a ``str`` (e.g. hex or base64 text of the key).
        DataKeyLengthError: any other length, with a hint: 24 or 44 bytes of base64 text must
            be decoded first; 32 or 64 hex digits must be ``bytes.fromhex()``-ed; 48 bytes or
            more is probably the encrypted copy (use ``Plaintext``, not ``CiphertextBlob``);
            anything else (e.g. a password) needs GenerateDataKey, not a home-made key.
    """
    if isinstance(data_key, str):
        raise NotBytes(
            "The data key must be bytes: use GenerateDataKey's Plaintext field as it is "
            "(not its hex or base64 text)."
        )
    key = bytes(_require_bytes(data_key, "data key"))
    if len(key) in DATA_KEY_BYTES.values():
        return AESGCM(key)
    if len(key) in (24, 44) and _looks_like_base64(key):
        hint = "this looks like base64 text: decode it first with base64.b64decode()"
    elif len(key) in (32, 64) and re.fullmatch(rb"[0-9a-fA-F]+", key):
        hint = "this looks like hex text: decode it first with bytes.fromhex()"
    elif len(key) >= 48:
        # Real KMS returns a 184-byte CiphertextBlob for a 32-byte data key; moto's is shorter.
        hint = (
            "if this is GenerateDataKey's CiphertextBlob (the encrypted copy), use Plaintext, "
            "not CiphertextBlob"
        )
    else:
        hint = (
            "use GenerateDataKey's Plaintext (KeySpec='AES_256'); a password is not a key "
            "(it would need a key-derivation function)"
        )
    raise DataKeyLengthError(
        f"A data key must be 16 or 32 bytes (AES-128 or AES-256); got {len(key)} bytes: {hint}."
    )


# --- KMS errors -----------------------------------------------------------------------------


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


# --- in-memory envelope ---------------------------------------------------------------------


def _build_header(arn: str, encrypted_key: bytes, nonce: bytes, context_json: bytes) -> bytes:
    arn_bytes = arn.encode("utf-8")
    for name, value in (("key ARN", arn_bytes), ("encrypted data key", encrypted_key)):
        if len(value) > 0xFFFF:
            raise InvalidEnvelope(f"{name} is longer than 65535 bytes.")
    if len(context_json) > 0xFFFF:
        raise InvalidEncryptionContext("The encryption context is longer than 65535 bytes.")
    return b"".join(
        (
            _HEADER_START.pack(MAGIC, VERSION, len(arn_bytes)),
            arn_bytes,
            struct.pack(">H", len(encrypted_key)),
            encrypted_key,
            struct.pack(">B", len(nonce)),
            nonce,
            struct.pack(">H", len(context_json)),
            context_json,
        )
    )


#: Upper bounds from the AWS KMS API reference: a KeyId (here the key ARN) is at most 2048
#: characters and a CiphertextBlob at most 6144 bytes
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html).
_MAX_ARN_BYTES, _MAX_ENCRYPTED_KEY_BYTES = 2048, 6144
_FIXED_HEADER_BYTES = _HEADER_START.size + 2 + 1 + NONCE_BYTES + 2


def max_envelope_size(plaintext_size: int, encryption_context: Mapping[str, str]) -> int:
    """The most bytes :func:`encrypt_into` can write for a plaintext of ``plaintext_size`` bytes.

    The envelope adds a header (its key ARN and encrypted data key are known only after
    ``GenerateDataKey``, so the bound takes their API maximums, 2048 and 6144 bytes) and the
    16-byte tag: about 8.3 KiB plus the context.

    Args:
        plaintext_size: bytes of plaintext, >= 0.
        encryption_context: the ``dict`` of ``str`` to ``str`` that will be used.

    Returns:
        A size in bytes for the ``out`` buffer of :func:`encrypt_into`.

    Raises:
        InvalidEncryptionContext: the context is not ``str`` -> ``str``.
        ValueError: ``plaintext_size`` is negative.
    """
    if not isinstance(plaintext_size, int) or plaintext_size < 0:
        raise ValueError(
            f"plaintext_size must be a whole number of bytes >= 0, not {plaintext_size!r}."
        )
    _, context_json = _canonical_context(encryption_context)
    overhead = _FIXED_HEADER_BYTES + _MAX_ARN_BYTES + _MAX_ENCRYPTED_KEY_BYTES + TAG_BYTES
    return plaintext_size + overhead + len(context_json)


def _writable(out: Any, need: int, what: str) -> memoryview:
    """``out`` as a writable byte view of at least ``need`` bytes, or a clear error."""
    try:
        view = memoryview(out).cast("B")
    except TypeError:
        raise TypeError(
            f"out must be a writable buffer such as a bytearray, not {type(out).__name__}."
        ) from None
    if view.readonly:
        raise TypeError("out is read-only (bytes): pass a bytearray, e.g. bytearray(size).")
    if view.nbytes < need:
        raise ValueError(f"out has {view.nbytes} bytes but needs {need}: {what}.")
    return view


def _require_key_id(key_id: Any) -> str:
    if not isinstance(key_id, str) or not key_id.strip():
        raise WrongKey(
            f"key_id must be a KMS key's key ID, key ARN, alias name or alias ARN as a non-empty "
            f"str, e.g. 'alias/docs' (got {key_id!r})."
        )
    return key_id


def _address_range(view: memoryview) -> range | None:
    """The memory addresses a writable buffer covers (``None`` for read-only ones)."""
    if view.readonly or view.nbytes == 0:
        return None
    array = (ctypes.c_char * view.nbytes).from_buffer(view)
    start = ctypes.addressof(array)
    del array
    return range(start, start + view.nbytes)


def _refuse_overlap(data: Any, out: memoryview, what: str) -> None:
    """Raise if ``data`` and ``out`` share memory: AES-GCM would read what it already wrote."""
    source = memoryview(data)
    if source.readonly and not isinstance(source.obj, bytes):
        # a read-only view of a writable buffer: compare through the underlying object
        try:
            source = memoryview(source.obj)
        except TypeError:
            return
        if source.readonly:
            return
    a, b = _address_range(source), _address_range(out)
    if a and b and a.start < b.stop and b.start < a.stop:
        raise ValueError(
            f"out overlaps {what}: the result would overwrite its own input. Use a separate "
            "buffer for out."
        )


def _seal(kms: Any, key_id: str, data: Any, encryption_context: Any):
    """Check the input, call GenerateDataKey, build the header.

    Returns ``(cipher, nonce, header, data, size)``: the AES-GCM cipher on the data key, the
    fresh nonce, the header bytes, the plaintext as a bytes-like object and its size in bytes.
    """
    data = _require_bytes(data, "plaintext")
    context, context_json = _canonical_context(encryption_context)
    _require_key_id(key_id)
    size = memoryview(data).nbytes
    if size > MAX_IN_MEMORY_BYTES:
        raise TooLargeForMemory(
            f"plaintext is {size} bytes, more than the {MAX_IN_MEMORY_BYTES}-byte limit of the "
            "in-memory path: use encrypt_file(), which streams in constant memory."
        )
    try:
        response = kms.generate_data_key(
            KeyId=key_id, KeySpec="AES_256", EncryptionContext=context
        )
    except ClientError as error:
        raise _kms_error(error, "GenerateDataKey", key_id) from error
    cipher = cipher_for_data_key(response["Plaintext"])
    arn, encrypted_key = response["KeyId"], response["CiphertextBlob"]
    del response  # drop the plaintext data key; see the module docstring
    nonce = os.urandom(NONCE_BYTES)
    return cipher, nonce, _build_header(arn, encrypted_key, nonce, context_json), data, size


def _encrypt_body(cipher: AESGCM, nonce: bytes, data: Any, header: bytes, out: memoryview) -> None:
    if hasattr(cipher, "encrypt_into"):  # cryptography >= 45 writes straight into ``out``
        cipher.encrypt_into(nonce, data, header, out)
    else:
        out[:] = cipher.encrypt(nonce, bytes(data), header)


def encrypt(
    kms: Any, key_id: str, plaintext: bytes, encryption_context: Mapping[str, str]
) -> bytes:
    """Encrypt ``plaintext`` under a fresh data key from ``key_id``; return a course envelope.

    Calls ``GenerateDataKey`` (``KeySpec="AES_256"``, with the encryption context)
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html), encrypts
    with AES-256-GCM (cryptography's ``AESGCM``) under a random 12-byte nonce made here (there is
    no nonce parameter: a reused nonce breaks GCM, case C25), and drops the plaintext data key.
    To encrypt many large documents into one reused buffer, use :func:`encrypt_into`.

    Args:
        kms: a boto3 KMS client, e.g. from ``start_sandbox()``.
        key_id: key ID, key ARN, alias name (``alias/...``) or alias ARN of a symmetric
            encryption KMS key.
        plaintext: the data, ``bytes`` (or ``bytearray``/``memoryview``), 0 to
            :data:`MAX_IN_MEMORY_BYTES` bytes.
        encryption_context: ``dict`` of ``str`` to ``str`` (may be empty), non-secret; the same
            pairs are needed to decrypt.

    Returns:
        The envelope (format in the module docstring): header plus ciphertext plus 16-byte tag,
        ``len(plaintext) + 16`` bytes plus a header of about 60 bytes + key ARN + encrypted
        data key + context.

    Raises:
        NotBytes: ``plaintext`` is a ``str`` (encode it first) or not bytes-like.
        InvalidEncryptionContext: the context is not ``str`` -> ``str``.
        TooLargeForMemory: more than :data:`MAX_IN_MEMORY_BYTES` bytes: use :func:`encrypt_file`.
        WrongKey / KeyNotUsable: the key does not exist, cannot encrypt, or is disabled or
            pending deletion.
        botocore.exceptions.ClientError: any other KMS error, unchanged.
    """
    cipher, nonce, header, data, size = _seal(kms, key_id, plaintext, encryption_context)
    out = bytearray(len(header) + size + TAG_BYTES)
    out[: len(header)] = header
    _encrypt_body(cipher, nonce, data, header, memoryview(out)[len(header) :])
    return bytes(out)


def encrypt_into(
    kms: Any, key_id: str, plaintext: bytes, encryption_context: Mapping[str, str], out: Any
) -> int:
    """Like :func:`encrypt`, but write the envelope into the start of the caller's ``out``.

    A new ``bytes`` result costs a fresh buffer, and the first write to fresh memory costs a page
    fault every 4 KiB: at 64 MiB that is slower than the encryption itself. Reusing one buffer
    for many documents avoids it, as cryptography's ``AESGCM.encrypt_into`` does
    (https://cryptography.io/en/latest/hazmat/primitives/aead/). The envelope is the same as
    :func:`encrypt`'s; :func:`decrypt` and :func:`decrypt_into` open it.

    Args:
        kms, key_id, plaintext, encryption_context: as for :func:`encrypt`.
        out: a writable buffer (``bytearray``, writable ``memoryview``, ``mmap``) of at least
            :func:`max_envelope_size` bytes, not overlapping ``plaintext``.

    Returns:
        ``n``, the envelope's length in bytes: it is ``out[:n]``; the rest of ``out`` is untouched.

    Raises:
        TypeError: ``out`` is not a writable buffer.
        ValueError: ``out`` is smaller than the envelope (checked before any KMS call, against
            :func:`max_envelope_size`), or shares memory with ``plaintext``.
        And everything :func:`encrypt` raises.
    """
    size = memoryview(_require_bytes(plaintext, "plaintext")).nbytes
    view = _writable(out, max_envelope_size(size, encryption_context),
                     "size it with max_envelope_size(len(plaintext), encryption_context)")
    _refuse_overlap(plaintext, view, "plaintext")
    cipher, nonce, header, data, size = _seal(kms, key_id, plaintext, encryption_context)
    end = len(header) + size + TAG_BYTES
    view[: len(header)] = header
    _encrypt_body(cipher, nonce, data, header, view[len(header) : end])
    return end


class _Parsed:
    __slots__ = ("arn", "encrypted_key", "nonce", "context", "header_len")


def _sniff_foreign(blob: memoryview) -> None:
    """Raise a helpful error for well-known formats that are not a course envelope."""
    head = bytes(blob[:4])
    sdk_ids = {suite.algorithm_id for suite in Algorithm}
    if len(head) >= 4 and (
        (head[0] == 1 and head[1] == 0x80 and int.from_bytes(head[2:4], "big") in sdk_ids)
        or (head[0] == 2 and int.from_bytes(head[1:3], "big") in sdk_ids)
    ):
        raise EncryptionSdkMessage(
            "These bytes are an AWS Encryption SDK message (for example from encrypt_file()), "
            "not a course envelope: use decrypt_file(), or aws_encryption_sdk's decrypt."
        )
    if head[:1] == b"{":
        raise InvalidEnvelope("These bytes look like JSON: read them with from_json() first.")
    if _looks_like_base64(bytes(blob[:4096])):
        raise NotBytes(
            "ciphertext looks like base64 text: decode it first with base64.b64decode()."
        )
    raise InvalidEnvelope(
        "These bytes are not a course envelope (no b'KCEV' magic). A ciphertext blob from "
        "kms.encrypt() is decrypted with kms.decrypt() instead."
    )


def _parse(blob: memoryview) -> _Parsed:
    if len(blob) < 4 or bytes(blob[:4]) != MAGIC:
        if (
            len(blob) >= _FIXED_HEADER_BYTES
            and sum(a == b for a, b in zip(bytes(blob[:4]), MAGIC)) == 3
            and blob[4] == VERSION
        ):
            raise CorruptedHeader(
                f"The envelope's header is corrupted: its first 4 bytes are {bytes(blob[:4])!r}, "
                f"one byte off the magic {MAGIC!r}. No plaintext is returned."
            )
        _sniff_foreign(blob)
    truncated = CorruptedHeader(
        "The envelope's header is truncated or corrupted: a length field, the key ARN or the "
        "nonce does not fit the envelope. No plaintext is returned."
    )
    try:
        _, version, arn_len = _HEADER_START.unpack_from(blob, 0)
        if version != VERSION:
            raise CorruptedHeader(
                f"The envelope's format version byte is {version}, but only version {VERSION} "
                "exists: the header is corrupted (or a newer kms-course wrote it: then upgrade "
                "kms-course)."
            )
        pos = _HEADER_START.size
        arn = bytes(blob[pos : pos + arn_len]).decode("utf-8")
        pos += arn_len
        (edk_len,) = struct.unpack_from(">H", blob, pos)
        encrypted_key = bytes(blob[pos + 2 : pos + 2 + edk_len])
        pos += 2 + edk_len
        (nonce_len,) = struct.unpack_from(">B", blob, pos)
        nonce = bytes(blob[pos + 1 : pos + 1 + nonce_len])
        pos += 1 + nonce_len
        (ctx_len,) = struct.unpack_from(">H", blob, pos)
        context_json = bytes(blob[pos + 2 : pos + 2 + ctx_len])
        pos += 2 + ctx_len
    except (struct.error, UnicodeDecodeError) as error:
        raise truncated from error
    if (
        len(arn) != arn_len
        or not arn.startswith("arn:")
        or len(encrypted_key) != edk_len
        or edk_len == 0
        or nonce_len != NONCE_BYTES
        or len(nonce) != NONCE_BYTES
        or len(context_json) != ctx_len
        or len(blob) - pos < TAG_BYTES
    ):
        raise truncated
    try:
        context = json.loads(context_json.decode("utf-8"))
        _, canonical = _canonical_context(context)
    except (ValueError, EnvelopeError) as error:
        raise CorruptedHeader(
            "The envelope's header is corrupted: its stored encryption context is not valid "
            "JSON of str to str. No plaintext is returned."
        ) from error
    if canonical != context_json:
        raise CorruptedHeader(
            "The envelope's header is corrupted: its stored encryption context is not in the "
            "canonical JSON form encrypt() writes. No plaintext is returned."
        )
    parsed = _Parsed()
    parsed.arn, parsed.encrypted_key, parsed.nonce = arn, encrypted_key, nonce
    parsed.context, parsed.header_len = context, pos
    return parsed


def decrypt(kms: Any, ciphertext: bytes, encryption_context: Mapping[str, str]) -> bytes:
    """Open a course envelope made by :func:`encrypt`; return the plaintext.

    Checks the stored encryption context against ``encryption_context``, calls ``Decrypt`` with
    the stored encrypted data key, that context and ``KeyId`` = the stored key ARN (AWS's
    recommended practice, https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html),
    then verifies and decrypts the AES-256-GCM body. Nothing is returned unless the tag
    verifies: tampering and truncation never produce output.

    Args:
        kms: a boto3 KMS client in the Region of the key.
        ciphertext: the envelope, ``bytes`` (or ``bytearray``/``memoryview``).
        encryption_context: the same ``dict`` of ``str`` to ``str`` given to :func:`encrypt`.

    Returns:
        The plaintext, ``bytes``.

    Raises:
        NotBytes: ``ciphertext`` is a ``str``, or base64 text (decode it first with
            ``base64.b64decode()``).
        InvalidEncryptionContext: the context is not ``str`` -> ``str``.
        EncryptionSdkMessage: an AWS Encryption SDK message: use :func:`decrypt_file`.
        InvalidEnvelope: not a course envelope (another format is named if recognised).
        CorruptedHeader: the header is cut short, has an unknown version byte, a magic one byte
            off, a malformed stored context, or a stored context changed after encryption (KMS
            accepts the caller's context but the body's tag fails under the stored header).
        WrongEncryptionContext: the context differs from the stored one (names the keys).
        WrongKey / KeyNotUsable: the stored key is missing, another key, or disabled or pending
            deletion (the message adds that a changed key ARN in the header looks the same).
        TamperedCiphertext: the encrypted data key, header or body was changed or truncated.
        botocore.exceptions.ClientError: any other KMS error, unchanged.
    """
    cipher, nonce, header, body = _open(kms, ciphertext, encryption_context)
    try:
        return cipher.decrypt(nonce, body, header)
    except InvalidTag as error:
        raise _tampered() from error


def decrypt_into(
    kms: Any, ciphertext: bytes, encryption_context: Mapping[str, str], out: Any
) -> int:
    """Like :func:`decrypt`, but write the plaintext into the start of the caller's ``out``.

    For the same reason as :func:`encrypt_into`: one reused buffer instead of a fresh one per
    document. If authentication fails, the bytes written to ``out`` are zeroed before the error
    is raised (AES-GCM writes plaintext before it checks the tag), so no unauthenticated
    plaintext is ever left behind.

    Args:
        kms, ciphertext, encryption_context: as for :func:`decrypt`.
        out: a writable buffer of at least ``len(ciphertext)`` bytes (the plaintext is shorter),
            not overlapping ``ciphertext``.

    Returns:
        ``n``, the plaintext's length in bytes: it is ``out[:n]``.

    Raises:
        TypeError: ``out`` is not a writable buffer.
        ValueError: ``out`` is smaller than the plaintext, or shares memory with ``ciphertext``.
        And everything :func:`decrypt` raises.
    """
    cipher, nonce, header, body = _open(kms, ciphertext, encryption_context)
    size = len(body) - TAG_BYTES
    target = _writable(out, size, "give it at least len(ciphertext) bytes")[:size]
    _refuse_overlap(ciphertext, target, "ciphertext")
    try:
        if hasattr(cipher, "decrypt_into"):
            cipher.decrypt_into(nonce, body, header, target)
        else:
            target[:] = cipher.decrypt(nonce, body, header)
    except InvalidTag as error:
        target[:] = bytes(size)
        raise _tampered() from error
    return size


def _tampered() -> TamperedCiphertext:
    return TamperedCiphertext(
        "The envelope failed authentication (AES-GCM tag mismatch): its ciphertext or header "
        "was changed or truncated. No plaintext is returned."
    )


def _refuse_context(kms: Any, blob: memoryview, parsed: _Parsed, context: dict[str, str]) -> None:
    """Raise for a stored context that differs from ``context``: corruption or a wrong context.

    KMS binds the encrypted data key to the context it was made with
    (https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html), and the whole
    header, stored context included, is the AES-GCM associated data of the body. So: if KMS
    refuses the caller's context, the caller's context is wrong: :class:`WrongEncryptionContext`,
    naming the differing pairs. If KMS accepts it but the body's tag fails under the stored
    header, the stored copy was changed after encryption: :class:`CorruptedHeader`. (If the tag
    verifies, the stored context is the authentic one and KMS was lenient, as moto is for
    ``{"ab": "c"}`` against ``{"a": "bc"}``: :class:`WrongEncryptionContext` again.) Nothing
    decrypted here is returned; the data key and any plaintext are dropped at once.
    """
    try:
        response = kms.decrypt(
            CiphertextBlob=parsed.encrypted_key, EncryptionContext=context, KeyId=parsed.arn
        )
        cipher = cipher_for_data_key(response["Plaintext"])
        del response  # drop the plaintext data key
        cipher.decrypt(parsed.nonce, blob[parsed.header_len :], blob[: parsed.header_len])
    except InvalidTag:
        raise CorruptedHeader(
            "The envelope's header is corrupted: its stored copy of the encryption context was "
            f"changed (compared with yours it has {_context_difference(context, parsed.context)})"
            ", while KMS accepts your context for its data key. No plaintext is returned."
        ) from None
    except (ClientError, EnvelopeError):
        pass
    _check_context(parsed.context, context)


def _open(kms: Any, ciphertext: Any, encryption_context: Any):
    """Parse, check the context, call Decrypt: ``(cipher, nonce, header view, body view)``.

    ``Decrypt`` gets the stored encrypted data key, the context and ``KeyId`` = the stored key
    ARN (AWS's recommended practice,
    https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html).
    """
    blob = memoryview(_require_bytes(ciphertext, "ciphertext")).cast("B")
    context, _ = _canonical_context(encryption_context)
    parsed = _parse(blob)
    if dict(parsed.context) != context:
        _refuse_context(kms, blob, parsed, context)
    try:
        response = kms.decrypt(
            CiphertextBlob=parsed.encrypted_key,
            EncryptionContext=parsed.context,
            KeyId=parsed.arn,
        )
    except ClientError as error:
        raise _kms_error(error, "Decrypt", parsed.arn) from error
    cipher = cipher_for_data_key(response["Plaintext"])
    del response  # drop the plaintext data key; see the module docstring
    return cipher, parsed.nonce, blob[: parsed.header_len], blob[parsed.header_len :]


# --- JSON -----------------------------------------------------------------------------------


def to_json(envelope: bytes) -> str:
    """A course envelope as JSON text, e.g. for a database column or a config file.

    Args:
        envelope: bytes returned by :func:`encrypt`.

    Returns:
        ``{"format": "kms-course-envelope", "version": 1, "key_arn": ...,
        "encryption_context": {...}, "envelope": "<base64 of the whole envelope>"}``; the
        readable fields are for people, :func:`from_json` trusts only ``envelope``.

    Raises:
        NotBytes: ``envelope`` is not bytes (e.g. already base64 text).
        InvalidEnvelope / EncryptionSdkMessage: the bytes are not a course envelope.
    """
    blob = memoryview(_require_bytes(envelope, "ciphertext")).cast("B")
    parsed = _parse(blob)
    return json.dumps(
        {
            "format": "kms-course-envelope",
            "version": VERSION,
            "key_arn": parsed.arn,
            "encryption_context": parsed.context,
            "envelope": base64.b64encode(blob).decode("ascii"),
        },
        sort_keys=True,
    )


def from_json(text: str) -> bytes:
    """The envelope bytes stored by :func:`to_json`, ready for :func:`decrypt`.

    Args:
        text: the JSON text (``str``; ``bytes`` of UTF-8 JSON are accepted too).

    Returns:
        The envelope, ``bytes``.

    Raises:
        InvalidEnvelope: not JSON made by :func:`to_json`, or its base64 field is invalid.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str):
        raise InvalidEnvelope(f"from_json() takes the JSON text from to_json(), not {type(text)}.")
    try:
        document = json.loads(text)
        if document.get("format") != "kms-course-envelope":
            raise ValueError("format")
        blob = base64.b64decode(document["envelope"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as error:
        raise InvalidEnvelope(
            "This text is not JSON made by to_json() (expected format 'kms-course-envelope' "
            "and a base64 'envelope' field)."
        ) from error
    _parse(memoryview(blob))
    return blob


# --- files: AWS Encryption SDK messages -----------------------------------------------------


class _ClientKmsKeyProvider(MasterKeyProvider):
    """A master key provider that uses the caller's KMS client for every KMS key it meets.

    The SDK's ``StrictAwsKmsMasterKeyProvider`` builds its own boto3 clients; this provider
    reuses the given client (so the sandbox's client and Region are used), exactly as
    ``KMSMasterKey(key_id=..., client=...)`` documents. On decrypt it accepts the KMS keys in
    ``allowed`` (key ARNs) or, if ``allowed`` is empty, the key named in the message; KMS still
    decides whether the caller may use that key.
    """

    provider_id = "aws-kms"
    _config_class = MasterKeyProviderConfig

    kms: Any
    allowed: tuple[str, ...]
    kms_errors: list[ClientError]
    sdk_errors: list[Exception]
    refused: list[str]
    tried: list[str]

    @classmethod
    def for_client(cls, kms: Any, allowed: tuple[str, ...] = ()) -> _ClientKmsKeyProvider:
        provider = cls()  # the SDK's MasterKeyProvider takes only config keyword arguments
        provider.kms, provider.allowed, provider.kms_errors = kms, allowed, []
        provider.refused, provider.tried, provider.sdk_errors = [], [], []
        return provider

    def _new_master_key(self, key_id: Any) -> KMSMasterKey:
        key = key_id.decode("utf-8") if isinstance(key_id, bytes) else key_id
        if self.allowed and key not in self.allowed:
            self.refused.append(key)
            raise InvalidKeyIdError(f"{key} is not in key_ids")  # the SDK tries the next one
        self.tried.append(key)
        master_key = _RecordingKmsMasterKey(key_id=key, client=self.kms)
        master_key.kms_errors, master_key.sdk_errors = self.kms_errors, self.sdk_errors
        return master_key


class _RecordingKmsMasterKey(KMSMasterKey):
    """``KMSMasterKey`` that keeps the errors the SDK replaces by "Unable to decrypt any data
    key": KMS's ``ClientError`` and the SDK's own checks of the key named in the header."""

    kms_errors: list[ClientError]
    sdk_errors: list[Exception]

    def _decrypt_data_key(self, encrypted_data_key, algorithm, encryption_context=None):
        try:
            return super()._decrypt_data_key(encrypted_data_key, algorithm, encryption_context)
        except AWSEncryptionSDKClientError as error:
            if isinstance(error.__cause__, ClientError):
                self.kms_errors.append(error.__cause__)
            else:
                self.sdk_errors.append(error)
            raise


def _sdk_client() -> aws_encryption_sdk.EncryptionSDKClient:
    # At most 10 encrypted data keys per message: limits work done on hostile input (SDK docs,
    # "Limiting encrypted data keys").
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
        max_encrypted_data_keys=10,
    )


def _path(value: Any, what: str) -> Path:
    """``value`` as a Path, checked before any work: an existing file for ``src``, a file in an
    existing folder for ``dst``."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path (str or pathlib.Path), not {type(value).__name__}.")
    if not os.fspath(value):
        raise ValueError(f"{what} is an empty path: give a file name.")
    path = Path(value)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {str(path)!r} is a folder: give a file name in it.")
    if what == "src" and not path.exists():
        raise FileNotFoundError(f"src {str(path)!r} does not exist.")
    if what == "dst" and not path.parent.is_dir():
        raise FileNotFoundError(
            f"dst's folder {str(path.parent)!r} does not exist: create it first "
            "(os.makedirs(folder, exist_ok=True))."
        )
    return path


def _sniff_file(src: Path) -> None:
    """Refuse well-known formats that are not AWS Encryption SDK messages, saying what they are.

    An SDK message starts with its version, 1 or 2
    (https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/message-format.html).
    """
    with open(src, "rb") as f:
        head = f.read(4096)
    if not head:
        raise InvalidEnvelope(f"src {str(src)!r} is empty: it holds no encrypted message.")
    if head[0] in (1, 2):
        return
    sdk_ids = {suite.algorithm_id for suite in Algorithm}
    if len(head) >= 4 and (
        int.from_bytes(head[1:3], "big") in sdk_ids  # version 2 layout
        or (head[1] == 0x80 and int.from_bytes(head[2:4], "big") in sdk_ids)  # version 1
    ):
        raise CorruptedHeader(
            f"The message header is corrupted: its first byte, the message format version, is "
            f"{head[0]} (AWS Encryption SDK messages have 1 or 2), while the next bytes are a "
            "known algorithm suite ID. No output file was written."
        )
    if head[:4] == MAGIC:
        raise InvalidEnvelope(
            "This file holds a course envelope (from encrypt()), not an AWS Encryption SDK "
            "message: read its bytes and open them with decrypt()."
        )
    if head[:1] == b"{":
        raise InvalidEnvelope(
            "This file holds JSON text: read it, open it with from_json(), then decrypt()."
        )
    if _looks_like_base64(head):
        raise NotBytes(
            "This file holds base64 text: decode it with base64.b64decode() into a new file "
            "first."
        )
    raise InvalidEnvelope(
        "This file is not an AWS Encryption SDK message (it should start with byte 1 or 2). "
        "A KMS CiphertextBlob is opened with kms.decrypt() instead."
    )


def _sdk_error(
    error: Exception, operation: str, kms_errors: list | None = None, key: str = "in the message"
) -> EnvelopeError:
    cause = error.__cause__ or error.__context__
    while cause is not None and not isinstance(cause, ClientError):
        cause = cause.__cause__ or cause.__context__
    if cause is None and kms_errors:
        cause = kms_errors[-1]
    if isinstance(cause, ClientError):
        mapped = _kms_error(cause, operation, key)
        if isinstance(mapped, EnvelopeError):
            return mapped
    return EnvelopeError(f"{operation}: the AWS Encryption SDK failed ({error}).")


def _provider_ids(src: Path) -> set[str] | None:
    """The key provider IDs of the data keys in the header of ``src``, or ``None`` if it does
    not parse."""
    try:
        with open(src, "rb") as source:
            header, _ = deserialize_header(source, 10)
        return {
            (key.key_provider.provider_id.decode("utf-8", "replace")
             if isinstance(key.key_provider.provider_id, bytes) else key.key_provider.provider_id)
            for key in header.encrypted_data_keys
        }
    except Exception:  # noqa: BLE001 (hostile input: any parsing error means "does not parse")
        return None


def _decrypt_failure(
    error: Exception,
    kms: Any,
    src: Path,
    provider: _ClientKmsKeyProvider,
    key_ids: tuple[str, ...],
    header_verified: bool,
    *,
    probe: bool = True,
) -> EnvelopeError:
    """The envelope error for a failed ``decrypt_file`` of ``src``.

    The SDK reads a message in order: header (parsed, data key from KMS, key commitment,
    header tag), then frames. ``header_verified`` tells whether the header passed all of it.
    """
    text = f"{type(error).__name__}: {error}"
    if header_verified:
        return TamperedCiphertext(
            f"Decrypt: the message body is changed or truncated: a frame failed "
            f"authentication, is out of order or missing, or bytes follow the message ({text}). "
            "No output file was written."
        )
    if isinstance(error, ActionNotAllowedError) and probe:
        # The commitment policy refused the header's algorithm suite. Only a header that
        # authenticates under its own data key is a message the SDK wrote that way; a changed
        # algorithm ID (e.g. 0x0478 -> 0x0078) is corruption.
        return _non_committing_or_corrupted(error, kms, src, key_ids)
    if provider.refused and not provider.kms_errors:
        return WrongKey(
            f"The message's data keys are encrypted under {sorted(set(provider.refused))}, none "
            f"of them one of the allowed key_ids {list(key_ids)} (if these ARNs look wrong, "
            "the message's header is corrupted)."
        )
    key = ", ".join(dict.fromkeys(provider.tried)) or "named in the message"
    mapped = _sdk_error(error, "Decrypt", provider.kms_errors, key)
    if type(mapped) is not EnvelopeError:
        return mapped  # a KMS error, translated
    for own in provider.sdk_errors:
        # The SDK's checks: the header's key ARN names no KMS key, or KMS decrypted the data key
        # under another key than the header names (moto; AWS KMS refuses that with
        # IncorrectKeyException): the header does not describe its own data key.
        if "unexpected key_id" in str(own):
            return CorruptedHeader(
                f"Decrypt: the message header is corrupted: the KMS key it names does not match "
                f"its encrypted data key ({own}). No output file was written."
            )
    if isinstance(error, DecryptKeyError):  # no data key could be decrypted, KMS never refused
        providers = _provider_ids(src)
        if providers is not None and "aws-kms" not in providers:
            return WrongKey(
                f"Decrypt: none of this message's data keys is encrypted under AWS KMS (key "
                f"provider IDs {sorted(providers)}, KMS's is 'aws-kms'): it was written with "
                "another key provider, such as a raw AES or RSA key, or its header is corrupted."
            )
        return WrongKey(
            f"Decrypt: the data key could not be obtained from KMS for key {key} ({text}). If "
            "that key should open it, the message's header is corrupted."
        )
    if "Key commitment validation failed" in str(error):
        return CorruptedHeader(
            "Decrypt: the message header is corrupted: its key commitment does not match its "
            "data key, so its message ID or commitment value was changed (or it was crafted to "
            "decrypt differently under different keys). No output file was written."
        )
    return CorruptedHeader(
        f"Decrypt: the message header is corrupted or this is not an AWS Encryption SDK message "
        f"({text}). No output file was written."
    )


def _non_committing_or_corrupted(
    error: Exception, kms: Any, src: Path, key_ids: tuple[str, ...]
) -> EnvelopeError:
    """Authenticate the header of ``src`` under a policy that allows non-committing suites.

    Reading ``stream.header`` makes the SDK parse the header, get the data key from KMS and
    verify the header's authentication tag; no plaintext is produced. If that succeeds the SDK
    really wrote this message without key commitment: :class:`NonCommittingMessage`.
    """
    provider = _ClientKmsKeyProvider.for_client(kms, key_ids)
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT,
        max_encrypted_data_keys=10,
    )
    try:
        with open(src, "rb") as source, client.stream(
            mode="d", source=source, key_provider=provider
        ) as stream:
            algorithm = stream.header.algorithm
    except Exception as second:  # noqa: BLE001 (hostile input)
        if isinstance(second, EnvelopeError):
            return second
        return _decrypt_failure(second, kms, src, provider, key_ids, False, probe=False)
    return NonCommittingMessage(
        f"Decrypt: this AWS Encryption SDK message was written without key commitment "
        f"(algorithm suite 0x{algorithm.algorithm_id:04X}, {algorithm.name}; its header "
        "authenticated). kms-course requires commitment "
        "(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT): re-encrypt the data with a "
        "committing algorithm suite such as encrypt_file()'s. "
        "https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/concepts.html"
        "#key-commitment"
    )


def encrypt_file(
    kms: Any,
    key_id: str,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    encryption_context: Mapping[str, str],
    *,
    frame_length: int = FILE_FRAME_LENGTH,
) -> None:
    """Encrypt the file ``src`` into ``dst`` as an AWS Encryption SDK message, in constant memory.

    Uses the AWS Encryption SDK's streaming encryptor
    (https://aws-encryption-sdk-python.readthedocs.io/en/latest/) with one data key per file from
    ``GenerateDataKey`` under ``key_id`` (through the given client), the algorithm suite
    :data:`FILE_ALGORITHM` (committing, unsigned: see its comment) and frames of
    ``frame_length`` bytes. The encryption context is stored in the message header and passed to
    KMS. Any AWS Encryption SDK decrypts the result, with a KMS key provider for the same key.

    ``dst`` appears only when complete: the message is written to a temporary file
    ``.<dst name>.kms-course-<pid>-<hex>.part`` in ``dst``'s folder, mode ``0600`` until it is
    complete, renamed over ``dst`` at the end (``os.replace``), and removed on any failure Python
    sees (``KeyboardInterrupt`` included). If the process is killed, the next call writing the
    same ``dst`` removes the leftover (:func:`kms_course.atomic.remove_stale_temporaries`). (The
    file is not fsync-ed: after a power cut, call ``os.fsync`` yourself if that matters.)

    Args:
        kms: a boto3 KMS client.
        key_id: key ID, key ARN, alias name or alias ARN of a symmetric encryption KMS key.
        src: path of the plaintext file, any size.
        dst: path of the message to write (replaced if it exists).
        encryption_context: ``dict`` of ``str`` to ``str``; keys may not start with
            ``aws-crypto-`` (reserved by the SDK).
        frame_length: plaintext bytes per frame, a multiple of 128, default 1 MiB. Memory use is
            a small multiple of it.

    Raises:
        InvalidEncryptionContext: the context is not ``str`` -> ``str`` or uses a reserved key.
        WrongKey / KeyNotUsable: KMS refused the key.
        FileNotFoundError / OSError: ``src`` unreadable or ``dst``'s folder unwritable.
        ValueError: ``frame_length`` is not a positive multiple of 128.
    """
    context, _ = _canonical_context(encryption_context)
    src_path, dst_path = _path(src, "src"), _path(dst, "dst")
    if not isinstance(frame_length, int) or frame_length <= 0 or frame_length % 128:
        raise ValueError(
            f"frame_length must be a positive multiple of 128 bytes (got {frame_length}), "
            "as the AWS Encryption SDK for Python requires."
        )
    master_key = KMSMasterKey(key_id=_require_key_id(key_id), client=kms)

    def write(out: BinaryIO) -> None:
        with open(src_path, "rb", buffering=0) as source, _sdk_client().stream(
            mode="e",
            source=source,
            key_provider=master_key,
            encryption_context=context,
            algorithm=FILE_ALGORITHM,
            frame_length=frame_length,
        ) as stream:
            encrypt_frames(stream, source, out)

    try:
        atomic_write(dst_path, write, sync=False)
    except AWSEncryptionSDKClientError as error:
        raise _sdk_error(error, "GenerateDataKey", key=key_id) from error


def decrypt_file(
    kms: Any,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    encryption_context: Mapping[str, str],
    *,
    key_ids: tuple[str, ...] = (),
) -> None:
    """Decrypt the AWS Encryption SDK message in ``src`` into ``dst``, in constant memory.

    Accepts messages from :func:`encrypt_file` and from any AWS Encryption SDK whose data key is
    encrypted under a KMS key, including the SDK's default (signed) suite; key commitment is
    required (``REQUIRE_ENCRYPT_REQUIRE_DECRYPT``). Before any plaintext is written, the
    message's encryption context must equal ``encryption_context`` (pairs the SDK adds itself,
    whose keys start with ``aws-crypto-``, are ignored). Each frame is authenticated before its
    plaintext is written to a temporary file, which becomes ``dst`` only after the whole message
    (and signature, if any) verified; on any failure it is removed, so no partial plaintext is
    left. The temporary file is ``0600`` (owner only) until complete, and a killed run's leftover
    is removed by the next call writing the same ``dst``, as for :func:`encrypt_file`; ``dst``
    itself gets the usual mode (kept if it exists, else ``0o666`` minus the umask).

    Args:
        kms: a boto3 KMS client in the Region of the key.
        src: path of the message.
        dst: path of the plaintext file to write (replaced if it exists).
        encryption_context: the ``dict`` of ``str`` to ``str`` used to encrypt.
        key_ids: key ARNs allowed to decrypt (strict mode), a tuple or one str; empty: the key
            named in the message (KMS still checks the caller's permission).

    Raises:
        WrongEncryptionContext: the message's context differs (names the keys).
        WrongKey / KeyNotUsable: KMS refused the key, or it is not in ``key_ids``. A changed key
            ARN or encrypted data key in the header also ends here (nothing can authenticate a
            header before KMS returns its data key), so the message then says the header may be
            corrupted.
        CorruptedHeader: the header does not parse, fails its authentication or key-commitment
            check, or names a key that does not match its data key (a ``TamperedCiphertext``).
        TamperedCiphertext: the body is changed or truncated (a frame failed authentication, is
            out of order or missing, or bytes follow the message).
        NonCommittingMessage: a genuine message written without key commitment (its header
            authenticated under its data key); re-encrypt it with :func:`encrypt_file`.
        InvalidEnvelope / NotBytes: the file holds another format (named in the message).
        FileNotFoundError / OSError: ``src`` unreadable or ``dst``'s folder unwritable.
        MemoryError, KeyboardInterrupt: passed through unchanged, after the temporary file is
            removed.
    """
    context, _ = _canonical_context(encryption_context)
    src_path, dst_path = _path(src, "src"), _path(dst, "dst")
    if isinstance(key_ids, str):
        key_ids = (key_ids,)
    _sniff_file(src_path)
    provider = _ClientKmsKeyProvider.for_client(kms, tuple(key_ids))

    verified = []

    def check_header(header) -> None:
        verified.append(True)  # the SDK parsed and authenticated the header
        stored = {
            k: v
            for k, v in header.encryption_context.items()
            if not k.startswith(_SDK_RESERVED_PREFIX)
        }
        _check_context(stored, context)

    def write(out: BinaryIO) -> None:
        with open(src_path, "rb", buffering=0) as source, _sdk_client().stream(
            mode="d", source=source, key_provider=provider
        ) as stream:
            decrypt_frames(stream, source, out, check_header)

    try:
        atomic_write(dst_path, write, sync=False)
    except (EnvelopeError, OSError, MemoryError, RecursionError):
        raise  # ours, the files', or out of resources: not a verdict on the message
    except Exception as error:  # the SDK lets parsing errors of hostile input escape unwrapped
        raise _decrypt_failure(
            error, kms, src_path, provider, tuple(key_ids), bool(verified)
        ) from error
