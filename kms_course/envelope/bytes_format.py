"""The course envelope: bytes in, bytes out, for documents up to :data:`MAX_IN_MEMORY_BYTES`
(format in :mod:`kms_course.envelope`), into a caller's buffer too, and its JSON form.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import json
import os
import struct
from collections.abc import Mapping
from typing import Any

from aws_encryption_sdk.identifiers import Algorithm
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_course.envelope.errors import (
    _kms_error, CorruptedHeader, EncryptionSdkMessage, EnvelopeError, InvalidEncryptionContext,
    InvalidEnvelope, NotBytes, TamperedCiphertext, TooLargeForMemory, WrongKey,
)
from kms_course.envelope.inputs import (
    _canonical_context, _check_context, _context_difference, _looks_like_base64, _require_bytes,
    cipher_for_data_key,
)

MAGIC = b"KCEV"
VERSION = 1
#: AES-GCM nonce length in bytes (96 bits, NIST SP 800-38D's recommended IV length).
NONCE_BYTES = 12
#: AES-GCM tag length in bytes, appended to the ciphertext.
TAG_BYTES = 16
_HEADER_START = struct.Struct(">4sBH")  # magic, version, arn_len
#: Largest plaintext (bytes) that :func:`encrypt` accepts: 64 MiB. The in-memory path holds the
#: plaintext and the ciphertext at once (about twice the size), which is fine in a notebook kernel
#: at 64 MiB; above that, :func:`encrypt_file` streams in constant memory at the same speed.
#: (cryptography's AESGCM refuses more than 2**31 - 1 bytes in any case, case C26.)
MAX_IN_MEMORY_BYTES = 64 * 1024 * 1024


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
