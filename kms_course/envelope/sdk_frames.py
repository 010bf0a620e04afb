"""The frames of an AWS Encryption SDK message, encrypted and decrypted beside the file I/O.

A framed SDK message is a header followed by frames, each a slice of the plaintext encrypted
with AES-GCM under the message's data key, with its own IV and tag
(https://docs.aws.amazon.com/encryption-sdk/latest/developer-guide/message-format.html#body-framing).
The SDK's streaming API (``EncryptionSDKClient.stream(...).read()``) does everything on the
calling thread, one frame after another, and copies each frame through several buffers on the
way; on a 2-core machine it reaches about a third of the speed of a plain file copy.

Here the SDK still does every cryptographic step, with its own code: the header, the
``GenerateDataKey``/``Decrypt`` call, key derivation and key commitment, and the header's
authentication (its ``_prep_message``), then each frame with its own ``serialize_frame``
(encrypt) or ``deserialize_frame`` and ``decrypt`` (decrypt). What changes is the schedule:
the calling thread reads and writes the files while one worker thread runs the frames' AES-GCM,
up to :data:`FRAMES_AHEAD` frames ahead (cryptography releases the GIL while it encrypts). Frames
are written strictly in order, and a frame's plaintext is written only after its tag verified.

These are functions of the SDK's ``internal`` package, so ``aws-encryption-sdk`` is pinned below
version 5; the interoperability tests open our messages with the SDK's public ``decrypt`` and
open the SDK's own messages here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from aws_encryption_sdk.exceptions import SerializationError
from aws_encryption_sdk.identifiers import ContentType
from aws_encryption_sdk.internal.crypto.encryption import decrypt as decrypt_frame
from aws_encryption_sdk.internal.formatting.deserialize import deserialize_footer, deserialize_frame
from aws_encryption_sdk.internal.formatting.encryption_context import assemble_content_aad
from aws_encryption_sdk.internal.formatting.serialize import serialize_frame
from aws_encryption_sdk.internal.utils import get_aad_content_string

#: Frames handed to the worker before the calling thread waits for the oldest one. Memory use is
#: about ``FRAMES_AHEAD + 2`` frames of plaintext plus as many of ciphertext.
FRAMES_AHEAD = 4


class _InOrder:
    """Run ``job(*args)`` on one worker thread, a few ahead; ``write`` gets results in order."""

    def __init__(self, write: Callable[[bytes], Any], ahead: int = FRAMES_AHEAD) -> None:
        self._write, self._ahead = write, ahead
        self._pending: deque[Future] = deque()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="kms-course-frames")

    def submit(self, job: Callable[..., bytes], *args: Any) -> None:
        if len(self._pending) >= self._ahead:
            self._write(self._pending.popleft().result())
        self._pending.append(self._pool.submit(job, *args))

    def finish(self) -> None:
        while self._pending:
            self._write(self._pending.popleft().result())

    def __enter__(self) -> _InOrder:
        return self

    def __exit__(self, *exc: Any) -> None:
        for future in self._pending:  # after an error: drop what was not written
            future.cancel()
        self._pool.shutdown(wait=True)


def _fill(source: BinaryIO, buffer: bytearray) -> int:
    """Read into ``buffer`` until it is full or the file ends; the number of bytes read."""
    view, size = memoryview(buffer), 0
    while size < len(buffer) and (got := source.readinto(view[size:])):
        size += got
    return size


class _ExactReader:
    """``read(n)`` returns exactly ``n`` bytes unless the file ends first, as the SDK's parser
    expects: its own wrapper (``InsistentReaderBytesIO``) copies every frame twice more."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source

    def read(self, size: int) -> bytes:
        data = self._source.read(size)
        while data and len(data) < size and (more := self._source.read(size - len(data))):
            data += more  # rare: a regular file returns everything until its end
        return data


def encrypt_frames(stream: Any, source: BinaryIO, out: BinaryIO) -> None:
    """Write the whole message of an SDK ``StreamEncryptor`` over ``source`` to ``out``.

    Args:
        stream: ``EncryptionSDKClient.stream(mode="e", source=source, ...)``, not yet read from,
            with a framed, unsigned algorithm suite (the file format of :mod:`kms_course.envelope`).
        source: the plaintext file, opened ``rb`` at offset 0.
        out: the file to write the message to.

    Raises:
        ValueError: the stream would sign its messages or not frame them (use ``stream.read``).
        aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError: from the SDK (KMS refused the
            key, too many frames).
        OSError: reading or writing failed.
    """
    stream._prep_message()  # the SDK: data key from KMS, derived key, header and its auth tag
    if stream.signer is not None or stream.content_type != ContentType.FRAMED_DATA:
        raise ValueError("encrypt_frames handles framed, unsigned messages only")
    out.write(stream.output_buffer)
    algorithm = stream._encryption_materials.algorithm
    key, message_id = stream._derived_data_key, stream._header.message_id
    frame_length = stream.config.frame_length

    def frame(buffer: bytearray, size: int, sequence_number: int, final: bool) -> bytes:
        return serialize_frame(
            algorithm=algorithm,
            plaintext=memoryview(buffer)[:size],
            message_id=message_id,
            data_encryption_key=key,
            frame_length=frame_length,
            sequence_number=sequence_number,
            is_final_frame=final,
            signer=None,
        )[0]

    # A buffer is refilled only after its frame was written: at most FRAMES_AHEAD + 1 in use.
    # They are made as needed, so a small file does not pay for six.
    buffers: list[bytearray] = []

    def buffer(sequence_number: int) -> bytearray:
        index = (sequence_number - 1) % (FRAMES_AHEAD + 2)
        if index == len(buffers):
            buffers.append(bytearray(frame_length))
        return buffers[index]

    with _InOrder(out.write) as frames:
        sequence_number, size = 1, _fill(source, buffer(1))
        while True:
            # As in the SDK: the final frame is the first short one, empty when the plaintext
            # is a whole number of frames.
            final = size < frame_length
            frames.submit(frame, buffer(sequence_number), size, sequence_number, final)
            if final:
                break
            sequence_number += 1
            size = _fill(source, buffer(sequence_number))
        frames.finish()
    stream.output_buffer = b""


def decrypt_frames(
    stream: Any, source: BinaryIO, out: BinaryIO, check_header: Callable[[Any], None]
) -> None:
    """Write the plaintext of the message an SDK ``StreamDecryptor`` reads to ``out``.

    Each frame is authenticated (AES-GCM tag) before its plaintext is written; frames must come
    in sequence and end with a final frame, then the footer (signature) if the suite signs, and
    nothing may follow.

    Args:
        stream: ``EncryptionSDKClient.stream(mode="d", source=source, ...)``, not yet read from.
        source: the message file, the stream's source (read on from the end of the header).
        out: the file to write the plaintext to.
        check_header: called with the parsed header before any plaintext is written; it raises
            to refuse the message (for example a wrong encryption context).

    Raises:
        aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError: from the SDK (bad header,
            KMS refused, frames out of order, truncated, bad signature).
        cryptography.exceptions.InvalidTag: a frame failed authentication.
        OSError: reading or writing failed.
    """
    header = stream.header  # the SDK parses and authenticates it and decrypts the data key
    check_header(header)
    if header.content_type != ContentType.FRAMED_DATA:  # one-piece body: the SDK's own loop
        while chunk := stream.read(1024 * 1024):
            out.write(chunk)
        if source.read(1):  # as for framed messages below
            raise SerializationError("Malformed message: bytes after the end of the message")
        return
    frames_in, verifier, key = _ExactReader(source), stream.verifier, stream._derived_data_key

    def frame(body: Any, final: bool) -> bytes:
        associated_data = assemble_content_aad(
            message_id=header.message_id,
            aad_content_string=get_aad_content_string(header.content_type, final),
            seq_num=body.sequence_number,
            length=len(body.ciphertext),
        )
        return decrypt_frame(header.algorithm, key, body, associated_data)

    with _InOrder(out.write) as frames:
        expected, final = 1, False
        while not final:
            body, final = deserialize_frame(stream=frames_in, header=header, verifier=verifier)
            if body.sequence_number != expected:
                raise SerializationError("Malformed message: frames out of order")
            frames.submit(frame, body, final)
            expected += 1
        stream.footer = deserialize_footer(stream=frames_in, verifier=verifier)
        if frames_in.read(1):  # stricter than the SDK, which ignores what follows a message
            raise SerializationError("Malformed message: bytes after the end of the message")
        frames.finish()
