"""Encryption context bound to a ciphertext exactly as AWS KMS binds it.

AWS KMS binds the encryption context to the ciphertext as additional authenticated data: Decrypt
succeeds only with an exact, case-sensitive match of the same key-value pairs (their order does
not matter), and otherwise fails with InvalidCiphertextException
(https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html,
https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html).

moto 5.2.5 turns a context into associated data by writing each key and value one after the
other, sorted by key, with nothing between them (``moto.kms.utils._serialize_encryption_context``).
Different contexts can then give the same bytes: ``{"ab": "c"}`` and ``{"a": "bc"}`` are both
``abc``, ``{"a": "bcd"}`` and ``{"a": "b", "c": "d"}`` are both ``abcd``, so each decrypts the
other's ciphertext, which real KMS never allows.

The sandbox replaces that encoding with an unambiguous one (:func:`associated_data`): the number
of pairs, then for each pair, sorted by key, the UTF-8 length and bytes of the key and of the
value. Two contexts give the same bytes only if they hold the same pairs. An empty context (or
none) is still ``b""``, so ciphertexts made without a context are unchanged. Plain moto (the
fidelity table's "moto alone" column, ``rules.ENABLED`` false) keeps moto's encoding.
"""

from __future__ import annotations

import struct
from typing import Any

from kms_course.sandbox import rules

_INSTALLED = False


def associated_data(context: dict[str, str] | None) -> bytes:
    """The additional authenticated data for ``context`` (bytes; ``b""`` for none or empty).

    Raises:
        TypeError: a key or value is not a string (botocore and KMS accept only strings).
    """
    if not context:
        return b""
    parts = [struct.pack(">I", len(context))]
    for key, value in sorted(context.items()):
        for text in (key, value):
            if not isinstance(text, str):
                raise TypeError(f"encryption context keys and values are strings, not {text!r}")
            data = text.encode("utf-8")
            parts.append(struct.pack(">I", len(data)))
            parts.append(data)
    return b"".join(parts)


def install() -> None:
    """Use :func:`associated_data` in moto's KMS encrypt and decrypt while the course rules are
    on (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    import moto.kms.utils as utils

    original = utils._serialize_encryption_context

    def _serialize_encryption_context(encryption_context: dict[str, Any]) -> bytes:
        if rules.ENABLED:
            return associated_data(encryption_context)
        return original(encryption_context=encryption_context)

    _serialize_encryption_context._kms_course_original = original  # type: ignore[attr-defined]
    utils._serialize_encryption_context = _serialize_encryption_context
    _INSTALLED = True
