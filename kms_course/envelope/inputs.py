"""What the envelope functions accept, checked before any KMS call: bytes (not str, not base64 of
it), an encryption context (a dict of str to str), a plaintext data key (16 or 32 bytes,
:data:`DATA_KEY_BYTES`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_course.envelope.errors import (
    DataKeyLengthError, InvalidEncryptionContext, NotBytes, WrongEncryptionContext,
)

#: GenerateDataKey KeySpec -> plaintext data key length in bytes
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html).
DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}
_SDK_RESERVED_PREFIX = "aws-crypto-"
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=_\-\r\n]+")


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
