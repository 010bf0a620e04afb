"""kms_course.envelope under faults (issue 14, item 2).

* ``encrypt_file`` / ``decrypt_file`` killed with SIGKILL in the middle of a 64 MiB file: the
  leftover temporary is mode 0600 (for decrypt it holds the start of the plaintext) and the next
  call to the same destination removes it; five kills leave one leftover at most, never five.
* Failures Python sees (an exception, ``KeyboardInterrupt``) leave no temporary file; while it is
  written, the temporary file is 0600 whatever the umask.
* Every bit and byte of the header of a real file message and of an in-memory envelope flipped:
  each is reported as corruption (:class:`CorruptedHeader`) or tampering
  (:class:`TamperedCiphertext`) — or, when the flip lands in the key name or encrypted data key
  that KMS is asked about, as :class:`WrongKey` whose message says the header may be corrupted —
  and none as "written without key commitment". Only a message that the AWS Encryption SDK
  really wrote with a non-committing suite is :class:`NonCommittingMessage`.
"""

from __future__ import annotations

import io
import os
import signal
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import aws_encryption_sdk
import pytest
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.identifiers import Algorithm
from aws_encryption_sdk.internal.formatting.deserialize import (
    deserialize_header,
    deserialize_header_auth,
)
from aws_encryption_sdk.key_providers.kms import StrictAwsKmsMasterKeyProvider

from kms_course import envelope
from kms_course.envelope import file_format
from kms_course.envelope import (
    CorruptedHeader,
    NonCommittingMessage,
    TamperedCiphertext,
    WrongKey,
)
from kms_course.sandbox.start import start_sandbox

CTX = {"purpose": "faults", "doc": "7"}
BIG = 64 * 1024 * 1024

CHILD = r"""
import sys
from kms_course import envelope
from kms_course.envelope import file_format
from kms_course.sandbox.start import start_sandbox

mode, src, dst = sys.argv[1:4]
ctx = {"purpose": "faults", "doc": "7"}
kms = start_sandbox("moto", quiet=True)
key = kms.create_key()["KeyMetadata"]["Arn"]
if mode == "decrypt":
    envelope.encrypt_file(kms, key, src, dst + ".message", ctx)
    print("ready", flush=True)
    envelope.decrypt_file(kms, dst + ".message", dst, ctx)
else:
    print("ready", flush=True)
    envelope.encrypt_file(kms, key, src, dst, ctx)
print("finished", flush=True)
"""


@pytest.fixture(scope="module")
def kms():
    return start_sandbox("moto", quiet=True)


@pytest.fixture(scope="module")
def key_arn(kms):
    return kms.create_key(Description="envelope fault tests")["KeyMetadata"]["Arn"]


@pytest.fixture(scope="module")
def big_plaintext(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "plain.bin"
    with open(path, "wb") as f:
        for _ in range(BIG // (4 * 1024 * 1024)):
            f.write(os.urandom(4 * 1024 * 1024))
    return path


def _temporaries(dst: Path) -> list[Path]:
    return sorted(p for p in dst.parent.iterdir() if p.name.startswith(f".{dst.name}.kms-course-"))


def _kill_mid_write(mode: str, src: Path, dst: Path) -> Path:
    """Run the child, SIGKILL it once its temporary for ``dst`` holds at least one frame; return
    that temporary."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(src), str(dst)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "KMS_COURSE_BACKEND": "moto"},
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        prefix = f".{dst.name}.kms-course-{child.pid}-"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = [p for p in dst.parent.iterdir() if p.name.startswith(prefix)]
            if found and found[0].stat().st_size >= 2 * envelope.FILE_FRAME_LENGTH:
                os.kill(child.pid, signal.SIGKILL)
                break
            assert child.poll() is None, "the child finished before it could be killed"
            time.sleep(0.001)
        else:
            pytest.fail("no temporary file appeared within 60 s")
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return found[0]


@pytest.mark.slow
def test_kill_during_decrypt_leaves_a_private_leftover_that_the_next_call_removes(
    kms, key_arn, big_plaintext, tmp_path
):
    dst = tmp_path / "secret.txt"
    umask = os.umask(0o022)  # the usual umask: an open() file would be 0644
    try:
        leftover = _kill_mid_write("decrypt", big_plaintext, dst)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(leftover.stat().st_mode) == 0o600
    head = leftover.read_bytes()
    assert len(head) >= envelope.FILE_FRAME_LENGTH
    with open(big_plaintext, "rb") as f:
        assert f.read(len(head)) == head  # it really is the start of the plaintext
    assert not dst.exists()
    # the next call to the same destination (a small message of this process's sandbox)
    (tmp_path / "small").write_bytes(b"small")
    envelope.encrypt_file(kms, key_arn, tmp_path / "small", tmp_path / "small.msg", CTX)
    envelope.decrypt_file(kms, tmp_path / "small.msg", dst, CTX)
    assert dst.read_bytes() == b"small"
    assert _temporaries(dst) == []


@pytest.mark.slow
def test_five_kills_during_encrypt_do_not_pile_up(kms, key_arn, big_plaintext, tmp_path):
    dst = tmp_path / "backup.msg"
    for attempt in range(5):
        leftover = _kill_mid_write("encrypt", big_plaintext, dst)
        assert stat.S_IMODE(leftover.stat().st_mode) == 0o600
        assert _temporaries(dst) == [leftover], f"kill {attempt + 1}: earlier leftovers remain"
    envelope.encrypt_file(kms, key_arn, big_plaintext, dst, CTX)  # the next call cleans up
    assert _temporaries(dst) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.msg"]


# --- failures Python sees -------------------------------------------------------------------


def _interrupting(real, exc: BaseException, modes: list[int]):
    """Wrap encrypt_frames/decrypt_frames: write a little, note the file's mode, raise ``exc``."""

    def wrapper(stream, source, out, *rest):
        out.write(b"partial output")
        out.flush()
        modes.append(stat.S_IMODE(os.fstat(out.fileno()).st_mode))
        raise exc

    return wrapper


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), MemoryError(), OSError(28, "No space left")])
@pytest.mark.parametrize("mode", ["encrypt", "decrypt"])
def test_interrupted_file_calls_leave_nothing_and_write_privately(
    kms, key_arn, tmp_path, monkeypatch, exc, mode
):
    (tmp_path / "plain").write_bytes(b"p" * 5000)
    envelope.encrypt_file(kms, key_arn, tmp_path / "plain", tmp_path / "msg", CTX)
    (tmp_path / "out").write_bytes(b"previous")
    os.chmod(tmp_path / "out", 0o644)
    modes: list[int] = []
    name = "encrypt_frames" if mode == "encrypt" else "decrypt_frames"
    monkeypatch.setattr(file_format, name, _interrupting(getattr(file_format, name), exc, modes))
    umask = os.umask(0)  # even with no umask at all, the partial file is private
    try:
        with pytest.raises(type(exc)):
            if mode == "encrypt":
                envelope.encrypt_file(kms, key_arn, tmp_path / "plain", tmp_path / "out", CTX)
            else:
                envelope.decrypt_file(kms, tmp_path / "msg", tmp_path / "out", CTX)
    finally:
        os.umask(umask)
    assert modes == [0o600]
    assert (tmp_path / "out").read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["msg", "out", "plain"]


def test_the_finished_file_gets_its_usual_mode(kms, key_arn, tmp_path):
    (tmp_path / "plain").write_bytes(b"data")
    umask = os.umask(0o027)
    try:
        envelope.encrypt_file(kms, key_arn, tmp_path / "plain", tmp_path / "msg", CTX)
        envelope.decrypt_file(kms, tmp_path / "msg", tmp_path / "dec", CTX)
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "msg").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "dec").stat().st_mode) == 0o640


# --- corrupted headers ----------------------------------------------------------------------


def _flips(length: int):
    """Every single-bit flip and every whole-byte flip of the first ``length`` bytes."""
    for i in range(length):
        for mask in (1, 2, 4, 8, 16, 32, 64, 128, 0xFF):
            yield i, mask


def _check_corruption_report(error: Exception, position: int, key_fields: list[range]) -> None:
    assert not isinstance(error, NonCommittingMessage), (position, error)
    assert "without key commitment" not in str(error), (position, error)
    if isinstance(error, TamperedCiphertext):  # CorruptedHeader is one
        return
    # A changed key name or encrypted data key makes KMS answer about another key: nothing can
    # authenticate a header before KMS returns its data key. Then the error says so.
    assert isinstance(error, WrongKey), (position, repr(error))
    assert any(position in field for field in key_fields), (position, repr(error))
    assert "corrupted" in str(error), (position, str(error))


@pytest.fixture(scope="module")
def file_message(kms, key_arn, tmp_path_factory):
    folder = tmp_path_factory.mktemp("message")
    (folder / "plain").write_bytes(os.urandom(300))
    envelope.encrypt_file(kms, key_arn, folder / "plain", folder / "msg", CTX, frame_length=128)
    return (folder / "msg").read_bytes()


def _sdk_header_fields(message: bytes) -> tuple[int, list[range], range, range]:
    """Header length (with its auth tag), byte ranges of each data key's provider ID, provider
    info and encrypted key, and of the message ID and commitment value (version 2 layout)."""
    stream = io.BytesIO(message)
    header, raw = deserialize_header(stream)
    deserialize_header_auth(header.version, stream, header.algorithm)
    fields = []
    for key in header.encrypted_data_keys:
        for part in (key.key_provider.provider_id.encode() if isinstance(
                key.key_provider.provider_id, str) else key.key_provider.provider_id,
                key.key_provider.key_info, key.encrypted_data_key):
            start = raw.index(part)
            fields.append(range(start - 2, start + len(part)))  # with its 2-byte length
    message_id = range(3, 3 + len(header.message_id))
    commitment = range(len(raw) - 32, len(raw))
    assert raw[commitment.start :] == header.commitment_key
    return stream.tell(), fields, message_id, commitment


@pytest.mark.slow
def test_every_corrupted_file_header_is_reported_as_corruption(kms, file_message, tmp_path):
    header_len, key_fields, message_id, commitment = _sdk_header_fields(file_message)
    (tmp_path / "in").write_bytes(file_message)
    envelope.decrypt_file(kms, tmp_path / "in", tmp_path / "out", CTX)  # the original opens
    (tmp_path / "out").unlink()
    counts: dict[str, int] = {}
    for i, mask in _flips(header_len):
        changed = bytearray(file_message)
        changed[i] ^= mask
        (tmp_path / "in").write_bytes(changed)
        with pytest.raises(envelope.EnvelopeError) as caught:
            envelope.decrypt_file(kms, tmp_path / "in", tmp_path / "out", CTX)
        _check_corruption_report(caught.value, i, key_fields)
        if i in message_id or i in commitment:  # the 512 once called "without key commitment"
            assert isinstance(caught.value, CorruptedHeader), (i, caught.value)
        counts[type(caught.value).__name__] = counts.get(type(caught.value).__name__, 0) + 1
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in"], i
    assert counts["CorruptedHeader"] > header_len  # most are named as corruption


def test_a_non_committing_algorithm_id_in_a_committing_header_is_corruption(
    kms, file_message, tmp_path
):
    """0x0478 -> 0x0078 (AES_256_GCM_IV12_TAG16, no commitment): the policy refuses the suite,
    but the header does not authenticate, so it is corruption, not an old message."""
    assert struct.unpack(">H", file_message[1:3])[0] == 0x0478
    assert not Algorithm.get_by_id(0x0078).is_committing()
    changed = bytearray(file_message)
    changed[1] = 0x00
    (tmp_path / "in").write_bytes(changed)
    with pytest.raises(CorruptedHeader, match="corrupted"):
        envelope.decrypt_file(kms, tmp_path / "in", tmp_path / "out", CTX)


@pytest.fixture(scope="module")
def non_committing_message(kms, key_arn):
    legacy = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    )
    message, header = legacy.encrypt(
        source=b"written by an old SDK", key_provider=StrictAwsKmsMasterKeyProvider(
            key_ids=[key_arn]), encryption_context=CTX, frame_length=128,
        algorithm=Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA256,
    )
    assert not header.algorithm.is_committing()
    return message


def test_only_a_genuine_non_committing_message_is_named_so(kms, non_committing_message, tmp_path):
    (tmp_path / "in").write_bytes(non_committing_message)
    with pytest.raises(NonCommittingMessage, match="without key commitment") as caught:
        envelope.decrypt_file(kms, tmp_path / "in", tmp_path / "out", CTX)
    assert "0x0178" in str(caught.value) and "re-encrypt" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.slow
def test_a_corrupted_non_committing_message_is_corruption_too(
    kms, non_committing_message, tmp_path
):
    stream = io.BytesIO(non_committing_message)
    header, raw = deserialize_header(stream)
    deserialize_header_auth(header.version, stream, header.algorithm)
    header_len = stream.tell()
    (key,) = header.encrypted_data_keys
    key_fields = []
    for part in (key.key_provider.provider_id.encode() if isinstance(
            key.key_provider.provider_id, str) else key.key_provider.provider_id,
            key.key_provider.key_info, key.encrypted_data_key):
        start = raw.index(part)
        key_fields.append(range(start - 2, start + len(part)))
    for i in range(header_len):
        changed = bytearray(non_committing_message)
        changed[i] ^= 0x01
        (tmp_path / "in").write_bytes(changed)
        with pytest.raises(envelope.EnvelopeError) as caught:
            envelope.decrypt_file(kms, tmp_path / "in", tmp_path / "out", CTX)
        _check_corruption_report(caught.value, i, key_fields)


def _course_header_fields(blob: bytes) -> tuple[int, list[range]]:
    pos, fields = 5, []
    for name, size_fmt in (("arn", ">H"), ("edk", ">H"), ("nonce", ">B"), ("context", ">H")):
        (n,) = struct.unpack_from(size_fmt, blob, pos)
        if name in ("arn", "edk"):
            fields.append(range(pos, pos + struct.calcsize(size_fmt) + n))
        pos += struct.calcsize(size_fmt) + n
    return pos, fields


def test_every_corrupted_envelope_header_is_reported_as_corruption(kms, key_arn):
    blob = envelope.encrypt(kms, key_arn, b"attack at dawn", CTX)
    header_len, key_fields = _course_header_fields(blob)
    counts: dict[str, int] = {}
    for i, mask in _flips(header_len):
        changed = bytearray(blob)
        changed[i] ^= mask
        with pytest.raises(envelope.EnvelopeError) as caught:
            envelope.decrypt(kms, bytes(changed), CTX)
        _check_corruption_report(caught.value, i, key_fields)
        if i not in key_fields[0] and i not in key_fields[1]:
            assert isinstance(caught.value, TamperedCiphertext), (i, mask, caught.value)
        counts[type(caught.value).__name__] = counts.get(type(caught.value).__name__, 0) + 1
    assert counts["CorruptedHeader"] > 0


def test_a_changed_stored_context_is_corruption_but_a_wrong_one_is_named(kms, key_arn):
    blob = envelope.encrypt(kms, key_arn, b"x", {"purpose": "lesson1"})
    changed = blob.replace(b'"lesson1"', b'"lesson2"')
    with pytest.raises(CorruptedHeader, match="stored copy of the encryption context"):
        envelope.decrypt(kms, changed, {"purpose": "lesson1"})
    with pytest.raises(envelope.WrongEncryptionContext, match="different values for"):
        envelope.decrypt(kms, blob, {"purpose": "lesson2"})


def test_magic_and_version_flips_say_corrupted(kms, key_arn):
    blob = envelope.encrypt(kms, key_arn, b"x", CTX)
    with pytest.raises(CorruptedHeader, match="one byte off the magic"):
        envelope.decrypt(kms, b"KCEW" + blob[4:], CTX)
    with pytest.raises(CorruptedHeader, match="version byte is 3"):
        envelope.decrypt(kms, blob[:4] + b"\x03" + blob[5:], CTX)
    with pytest.raises(envelope.InvalidEnvelope, match="no b'KCEV' magic"):
        envelope.decrypt(kms, b"XXXX" + blob[4:], CTX)  # far from the magic: another format
