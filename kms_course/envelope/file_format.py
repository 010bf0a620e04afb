"""Files of any size in constant memory, as framed AWS Encryption SDK messages
(https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/message-format.html).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import (
    ActionNotAllowedError, AWSEncryptionSDKClientError, DecryptKeyError, InvalidKeyIdError,
)
from aws_encryption_sdk.identifiers import Algorithm
from aws_encryption_sdk.internal.formatting.deserialize import deserialize_header
from aws_encryption_sdk.key_providers.base import MasterKeyProvider, MasterKeyProviderConfig
from aws_encryption_sdk.key_providers.kms import KMSMasterKey
from botocore.exceptions import ClientError

from kms_course.atomic import atomic_write
from kms_course.envelope.sdk_frames import decrypt_frames, encrypt_frames
from kms_course.envelope.errors import (
    _kms_error, CorruptedHeader, EnvelopeError, InvalidEnvelope, NonCommittingMessage, NotBytes,
    TamperedCiphertext, WrongKey,
)
from kms_course.envelope.inputs import (
    _canonical_context, _check_context, _looks_like_base64, _SDK_RESERVED_PREFIX,
)
from kms_course.envelope.bytes_format import _require_key_id, MAGIC

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
# The SDK logs every failed KMS call with a traceback; errors reach the caller as exceptions.
logging.getLogger("aws_encryption_sdk").addHandler(logging.NullHandler())


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
