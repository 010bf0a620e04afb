"""Tests for kms_course.envelope: round trips, tampering, wrong context/key, SDK interop.

Expected values come from the AWS KMS API reference (GenerateDataKey returns a 32-byte data key
for KeySpec AES_256; Decrypt needs the exact encryption context), cryptography's AESGCM docs
(16-byte tag, 12-byte nonce) and the course's reported-problem cases (C01, C02, C04, C06, C18,
C21, C23, C25, C26, C32).
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct

import aws_encryption_sdk
import pytest
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.key_providers.kms import StrictAwsKmsMasterKeyProvider
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kms_course import envelope
from kms_course.envelope import (
    DataKeyLengthError,
    EncryptionSdkMessage,
    EnvelopeError,
    InvalidEncryptionContext,
    InvalidEnvelope,
    KeyNotUsable,
    NotBytes,
    TamperedCiphertext,
    TooLargeForMemory,
    WrongEncryptionContext,
    WrongKey,
)
from kms_course.sandbox.start import start_sandbox

CTX = {"purpose": "lesson1", "doc": "42"}
FRAME = 256  # small frames keep the file tests fast


@pytest.fixture(scope="module")
def kms():
    return start_sandbox("moto", quiet=True)


@pytest.fixture(scope="module")
def key_arn(kms):
    return kms.create_key(Description="envelope tests")["KeyMetadata"]["Arn"]


@pytest.fixture(scope="module")
def other_key_arn(kms):
    return kms.create_key(Description="envelope tests, other key")["KeyMetadata"]["Arn"]


@pytest.fixture(scope="module")
def small_envelope(kms, key_arn):
    return envelope.encrypt(kms, key_arn, b"attack at dawn", CTX)


def _header_fields(blob: bytes) -> dict:
    """Parse the documented v1 layout independently of the module's parser."""
    assert blob[:4] == b"KCEV" and blob[4] == 1
    pos = 5
    fields = {}
    for name, size_fmt in (("arn", ">H"), ("edk", ">H"), ("nonce", ">B"), ("context", ">H")):
        (n,) = struct.unpack_from(size_fmt, blob, pos)
        pos += struct.calcsize(size_fmt)
        fields[name] = blob[pos : pos + n]
        pos += n
    fields["body"] = blob[pos:]
    return fields


# --- in-memory round trips ------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4096, 100_003])
def test_round_trip_sizes(kms, key_arn, size):
    plaintext = os.urandom(size)
    blob = envelope.encrypt(kms, key_arn, plaintext, CTX)
    assert isinstance(blob, bytes)
    assert len(_header_fields(blob)["body"]) == size + 16  # AES-GCM: ciphertext + 16-byte tag
    assert envelope.decrypt(kms, blob, CTX) == plaintext


def test_round_trip_with_alias_stores_key_arn(kms, key_arn):
    kms.create_alias(AliasName="alias/envelope-test", TargetKeyId=key_arn)
    blob = envelope.encrypt(kms, "alias/envelope-test", b"x", {})
    assert _header_fields(blob)["arn"].decode() == key_arn
    assert envelope.decrypt(kms, blob, {}) == b"x"


def test_data_key_is_aes_256_bound_to_context(kms, key_arn, small_envelope):
    fields = _header_fields(small_envelope)
    assert json.loads(fields["context"]) == CTX
    assert fields["context"] == b'{"doc":"42","purpose":"lesson1"}'  # canonical: sorted, compact
    data_key = kms.decrypt(CiphertextBlob=fields["edk"], EncryptionContext=CTX, KeyId=key_arn)
    assert len(data_key["Plaintext"]) == 32  # KeySpec AES_256 (GenerateDataKey reference)
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=fields["edk"], EncryptionContext={}, KeyId=key_arn)


def test_fresh_nonce_and_data_key_each_call(kms, key_arn):
    """C25: the helper makes a random 12-byte nonce itself; same input never repeats output."""
    a = envelope.encrypt(kms, key_arn, b"same plaintext", CTX)
    b = envelope.encrypt(kms, key_arn, b"same plaintext", CTX)
    fa, fb = _header_fields(a), _header_fields(b)
    assert len(fa["nonce"]) == 12
    assert fa["nonce"] != fb["nonce"] and fa["edk"] != fb["edk"] and fa["body"] != fb["body"]
    assert "nonce" not in envelope.encrypt.__code__.co_varnames[:4]


def test_accepts_bytearray_and_memoryview(kms, key_arn):
    blob = envelope.encrypt(kms, key_arn, bytearray(b"abc"), CTX)
    assert envelope.decrypt(kms, memoryview(blob), CTX) == b"abc"


# --- encryption context (C01) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "wrong",
    [
        {"purpose": "lesson2", "doc": "42"},  # one value differs
        {"Purpose": "lesson1", "doc": "42"},  # key capitalised differently
        {},  # context omitted
        {**CTX, "extra": "pair"},  # an extra pair
    ],
)
def test_wrong_context_is_named(kms, small_envelope, wrong):
    with pytest.raises(WrongEncryptionContext, match="exact same set of string pairs"):
        envelope.decrypt(kms, small_envelope, wrong)


def test_context_order_is_irrelevant(kms, small_envelope):
    assert envelope.decrypt(kms, small_envelope, dict(reversed(CTX.items()))) == b"attack at dawn"


def test_context_concatenation_collision_is_rejected(kms, key_arn):
    """{"ab": "c"} and {"a": "bc"} are different contexts (moto's own AAD would mix them up)."""
    blob = envelope.encrypt(kms, key_arn, b"x", {"ab": "c"})
    with pytest.raises(WrongEncryptionContext):
        envelope.decrypt(kms, blob, {"a": "bc"})


@pytest.mark.parametrize("bad", [{"n": 1}, {1: "x"}, [("a", "b")], "purpose=lesson1"])
def test_context_must_be_str_to_str(kms, key_arn, bad):
    with pytest.raises(InvalidEncryptionContext, match="str"):
        envelope.encrypt(kms, key_arn, b"x", bad)


# --- tampering and truncation ---------------------------------------------------------------


def test_every_single_byte_change_is_detected(kms, small_envelope):
    for i in range(len(small_envelope)):
        tampered = bytearray(small_envelope)
        tampered[i] ^= 0x01
        with pytest.raises(EnvelopeError):
            envelope.decrypt(kms, bytes(tampered), CTX)


def test_every_truncation_is_detected(kms, small_envelope):
    for n in range(len(small_envelope)):
        with pytest.raises(EnvelopeError):
            envelope.decrypt(kms, small_envelope[:n], CTX)


def test_body_change_is_a_tampered_ciphertext(kms, small_envelope):
    tampered = bytearray(small_envelope)
    tampered[-1] ^= 0x80
    with pytest.raises(TamperedCiphertext, match="No plaintext is returned"):
        envelope.decrypt(kms, bytes(tampered), CTX)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_changes_are_detected(kms, small_envelope, data):
    tampered = bytearray(small_envelope)
    positions = data.draw(
        st.lists(st.integers(0, len(tampered) - 1), min_size=1, max_size=4, unique=True)
    )
    for pos in positions:
        tampered[pos] ^= data.draw(st.integers(1, 255))
    with pytest.raises(EnvelopeError):
        envelope.decrypt(kms, bytes(tampered), CTX)


def test_appended_bytes_are_detected(kms, small_envelope):
    with pytest.raises(TamperedCiphertext):
        envelope.decrypt(kms, small_envelope + b"\x00", CTX)


# --- wrong key (C18) ------------------------------------------------------------------------


def test_envelope_pointing_at_another_key_is_wrong_key(kms, key_arn, other_key_arn, small_envelope):
    assert len(key_arn) == len(other_key_arn)
    swapped = small_envelope.replace(key_arn.encode(), other_key_arn.encode())
    with pytest.raises(WrongKey):
        envelope.decrypt(kms, swapped, CTX)


def test_unknown_key_on_encrypt(kms):
    with pytest.raises(WrongKey, match="no KMS key"):
        envelope.encrypt(kms, "alias/does-not-exist", b"x", CTX)


@pytest.mark.parametrize(
    "code", ["DisabledException", "KMSInvalidStateException"]
)  # error codes of GenerateDataKey for disabled / pending-deletion keys (Key states page)
def test_key_state_errors_are_key_not_usable(kms, key_arn, code):
    client = start_sandbox("moto", quiet=True)  # a new client: the shared one stays unstubbed
    with Stubber(client) as stub:
        stub.add_client_error("generate_data_key", service_error_code=code, service_message="m")
        with pytest.raises(KeyNotUsable, match="enable_key"):
            envelope.encrypt(client, key_arn, b"x", CTX)


def test_incorrect_key_exception_is_wrong_key(kms, small_envelope):
    """Real KMS answers IncorrectKeyException where moto answers AccessDeniedException."""
    client = start_sandbox("moto", quiet=True)
    with Stubber(client) as stub:
        stub.add_client_error("decrypt", service_error_code="IncorrectKeyException")
        with pytest.raises(WrongKey):
            envelope.decrypt(client, small_envelope, CTX)


# --- bytes, base64 and foreign formats (C02, C04, C32) --------------------------------------


def test_str_plaintext_says_encode(kms, key_arn):
    with pytest.raises(NotBytes, match=r"encode\('utf-8'\)"):
        envelope.encrypt(kms, key_arn, "hello", CTX)


def test_base64_str_ciphertext_says_decode(kms, small_envelope):
    text = base64.b64encode(small_envelope).decode()
    with pytest.raises(NotBytes, match=r"looks like base64 text: decode it first with base64"):
        envelope.decrypt(kms, text, CTX)


def test_base64_bytes_ciphertext_says_decode(kms, small_envelope):
    """C04: a file holding CLI base64 output read with open(..., 'rb')."""
    with pytest.raises(NotBytes, match="looks like base64 text"):
        envelope.decrypt(kms, base64.b64encode(small_envelope) + b"\n", CTX)
    assert envelope.decrypt(kms, base64.b64decode(base64.b64encode(small_envelope)), CTX)


def test_sdk_message_says_use_decrypt_file(kms):
    """C32: header shape of an Encryption SDK v2 message (version 2, suite 0x0578)."""
    with pytest.raises(EncryptionSdkMessage, match="decrypt_file"):
        envelope.decrypt(kms, bytes([2, 5, 0x78]) + os.urandom(100), CTX)


def test_kms_ciphertext_blob_is_not_an_envelope(kms, key_arn):
    blob = kms.encrypt(KeyId=key_arn, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(InvalidEnvelope, match=r"kms.decrypt\(\)"):
        envelope.decrypt(kms, blob, {})


def test_too_large_for_memory_says_use_encrypt_file(kms, key_arn):
    """C06/C26: the in-memory path has a stated limit; beyond it, the file functions."""
    too_big = memoryview(bytearray(envelope.MAX_IN_MEMORY_BYTES + 1))
    with pytest.raises(TooLargeForMemory, match="encrypt_file"):
        envelope.encrypt(kms, key_arn, too_big, CTX)


# --- data keys (C21, C23) -------------------------------------------------------------------


def test_cipher_for_data_key_accepts_plaintext_of_both_key_specs(kms, key_arn):
    for spec, length in (("AES_256", 32), ("AES_128", 16)):
        dk = kms.generate_data_key(KeyId=key_arn, KeySpec=spec)
        assert len(dk["Plaintext"]) == length
        cipher = envelope.cipher_for_data_key(dk["Plaintext"])
        nonce = os.urandom(12)
        assert cipher.decrypt(nonce, cipher.encrypt(nonce, b"p", None), None) == b"p"


def test_cipher_for_data_key_rejects_wrong_material(kms, key_arn):
    dk = kms.generate_data_key(KeyId=key_arn, KeySpec="AES_256")
    with pytest.raises(DataKeyLengthError, match="use Plaintext, not CiphertextBlob"):
        envelope.cipher_for_data_key(dk["CiphertextBlob"])
    with pytest.raises(DataKeyLengthError, match="use Plaintext, not CiphertextBlob"):
        envelope.cipher_for_data_key(os.urandom(184))  # real KMS CiphertextBlob size
    with pytest.raises(DataKeyLengthError, match="base64.b64decode"):
        envelope.cipher_for_data_key(base64.b64encode(dk["Plaintext"]))
    with pytest.raises(DataKeyLengthError, match="bytes.fromhex"):
        envelope.cipher_for_data_key(dk["Plaintext"].hex().encode())
    with pytest.raises(NotBytes, match="Plaintext"):
        envelope.cipher_for_data_key(dk["Plaintext"].hex())
    with pytest.raises(DataKeyLengthError, match="password"):
        envelope.cipher_for_data_key(b"my-course-password!!")
    with pytest.raises(DataKeyLengthError, match="16 or 32 bytes"):
        envelope.cipher_for_data_key(os.urandom(24))  # AES-192 is not a KMS data key spec


# --- JSON -----------------------------------------------------------------------------------


def test_json_round_trip(kms, key_arn, small_envelope):
    text = envelope.to_json(small_envelope)
    document = json.loads(text)
    assert document["key_arn"] == key_arn and document["encryption_context"] == CTX
    assert base64.b64decode(document["envelope"]) == small_envelope  # base64 once, not twice
    assert envelope.from_json(text) == small_envelope
    assert envelope.decrypt(kms, envelope.from_json(text), CTX) == b"attack at dawn"


def test_json_errors(kms, small_envelope):
    with pytest.raises(InvalidEnvelope):
        envelope.from_json('{"envelope": "not base64!"}')
    with pytest.raises(InvalidEnvelope, match="from_json"):
        envelope.decrypt(kms, envelope.to_json(small_envelope).encode(), CTX)
    with pytest.raises(NotBytes, match="base64"):
        envelope.to_json(base64.b64encode(small_envelope).decode())


# --- files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, FRAME - 1, FRAME, FRAME + 1, 7 * FRAME + 5])
def test_file_round_trip_sizes(kms, key_arn, tmp_path, size):
    data = os.urandom(size)
    (tmp_path / "plain").write_bytes(data)
    envelope.encrypt_file(
        kms, key_arn, tmp_path / "plain", tmp_path / "enc", CTX, frame_length=FRAME
    )
    envelope.decrypt_file(kms, tmp_path / "enc", tmp_path / "dec", CTX)
    assert (tmp_path / "dec").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dec", "enc", "plain"]


def test_file_default_frame_and_suite(kms, key_arn, tmp_path):
    (tmp_path / "plain").write_bytes(b"z" * 3_000_000)
    envelope.encrypt_file(kms, key_arn, tmp_path / "plain", tmp_path / "enc", CTX)
    with open(tmp_path / "enc", "rb") as source:
        with _sdk().stream(mode="d", source=source, key_provider=_strict(key_arn)) as stream:
            assert stream.read() == b"z" * 3_000_000
            header = stream.header
    assert header.frame_length == 1024 * 1024
    assert header.algorithm.algorithm_id == 0x0478  # AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    assert header.encryption_context == CTX  # unsigned suite: no aws-crypto-public-key pair


def _sdk():
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )


def _strict(arn):
    return StrictAwsKmsMasterKeyProvider(key_ids=[arn])


def test_interop_our_file_decrypts_with_the_sdk(kms, key_arn, tmp_path):
    data = os.urandom(3 * FRAME + 7)
    (tmp_path / "plain").write_bytes(data)
    envelope.encrypt_file(
        kms, key_arn, tmp_path / "plain", tmp_path / "enc", CTX, frame_length=FRAME
    )
    plaintext, header = _sdk().decrypt(
        source=(tmp_path / "enc").read_bytes(), key_provider=_strict(key_arn)
    )
    assert plaintext == data and header.encryption_context == CTX


def test_interop_sdk_default_message_decrypts_with_ours(kms, key_arn, tmp_path):
    data = os.urandom(10_000)
    ciphertext, header = _sdk().encrypt(
        source=data, key_provider=_strict(key_arn), encryption_context=CTX
    )
    assert header.algorithm.algorithm_id == 0x0578  # the SDK default: signed ECDSA P-384 suite
    (tmp_path / "enc").write_bytes(ciphertext)
    envelope.decrypt_file(kms, tmp_path / "enc", tmp_path / "dec", CTX)
    assert (tmp_path / "dec").read_bytes() == data


@pytest.fixture(scope="module")
def small_message(kms, key_arn, tmp_path_factory):
    folder = tmp_path_factory.mktemp("msg")
    (folder / "plain").write_bytes(os.urandom(2 * 128 + 10))
    envelope.encrypt_file(kms, key_arn, folder / "plain", folder / "enc", CTX, frame_length=128)
    return (folder / "enc").read_bytes()


def _assert_fails_without_output(kms, message: bytes, folder, context=CTX) -> None:
    (folder / "in").write_bytes(message)
    with pytest.raises(EnvelopeError):
        envelope.decrypt_file(kms, folder / "in", folder / "out", context)
    assert sorted(p.name for p in folder.iterdir()) == ["in"]


def test_file_every_single_byte_change_is_detected(kms, small_message, tmp_path):
    for i in range(len(small_message)):
        tampered = bytearray(small_message)
        tampered[i] ^= 0x01
        _assert_fails_without_output(kms, bytes(tampered), tmp_path)


def test_file_every_truncation_is_detected(kms, small_message, tmp_path):
    for n in range(len(small_message)):
        _assert_fails_without_output(kms, small_message[:n], tmp_path)


def test_file_wrong_context_leaves_nothing(kms, small_message, tmp_path):
    (tmp_path / "in").write_bytes(small_message)
    for wrong in ({}, {**CTX, "doc": "43"}, {**CTX, "x": "y"}):
        with pytest.raises(WrongEncryptionContext):
            envelope.decrypt_file(kms, tmp_path / "in", tmp_path / "out", wrong)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_file_failure_keeps_existing_dst(kms, small_message, tmp_path):
    (tmp_path / "in").write_bytes(small_message[:-1])
    (tmp_path / "out").write_bytes(b"previous")
    with pytest.raises(EnvelopeError):
        envelope.decrypt_file(kms, tmp_path / "in", tmp_path / "out", CTX)
    assert (tmp_path / "out").read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]


def test_file_strict_key_ids(kms, key_arn, other_key_arn, small_message, tmp_path):
    (tmp_path / "in").write_bytes(small_message)
    with pytest.raises(WrongKey, match="allowed"):
        envelope.decrypt_file(kms, tmp_path / "in", tmp_path / "out", CTX, key_ids=(other_key_arn,))
    envelope.decrypt_file(kms, tmp_path / "in", tmp_path / "out", CTX, key_ids=(key_arn,))
    assert (tmp_path / "out").exists()


def test_encrypt_file_unknown_key_leaves_nothing(kms, tmp_path):
    (tmp_path / "plain").write_bytes(b"data")
    with pytest.raises(WrongKey):
        envelope.encrypt_file(
            kms, "alias/does-not-exist", tmp_path / "plain", tmp_path / "enc", CTX
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_encrypt_file_missing_src(kms, key_arn, tmp_path):
    with pytest.raises(FileNotFoundError):
        envelope.encrypt_file(kms, key_arn, tmp_path / "nope", tmp_path / "enc", CTX)
    assert list(tmp_path.iterdir()) == []


# --- the frame pipeline (kms_course.envelope.sdk_frames)
# ---------------------------------------------


def _sdk_stream_encrypt(key_arn, data: bytes, frame_length: int) -> bytes:
    with _sdk().stream(mode="e", source=io.BytesIO(data), key_provider=_strict(key_arn),
                       encryption_context=CTX, algorithm=envelope.FILE_ALGORITHM,
                       frame_length=frame_length) as stream:
        return stream.read()


@pytest.mark.parametrize("size", [0, FRAME - 1, FRAME, 3 * FRAME, 3 * FRAME + 1])
def test_file_message_has_the_sdk_s_own_frames(kms, key_arn, tmp_path, size):
    """Same layout as the SDK's streaming encryptor: n full frames, then a short final frame
    that is empty when the plaintext is a whole number of frames (message-format.html)."""
    data = os.urandom(size)
    (tmp_path / "plain").write_bytes(data)
    envelope.encrypt_file(
        kms, key_arn, tmp_path / "plain", tmp_path / "enc", CTX, frame_length=FRAME
    )
    ours = (tmp_path / "enc").read_bytes()
    assert len(ours) == len(_sdk_stream_encrypt(key_arn, data, FRAME))
    full_frames = size // FRAME
    final_length = size - full_frames * FRAME
    # the final frame: end marker 0xFFFFFFFF, its sequence number, IV, length, content, tag
    final = ours[-(4 + 4 + 12 + 4 + final_length + 16):]
    assert final[:4] == b"\xff\xff\xff\xff"
    assert struct.unpack(">I", final[4:8])[0] == full_frames + 1
    assert struct.unpack(">I", final[20:24])[0] == final_length


def test_file_frames_out_of_order_are_refused(kms, key_arn, tmp_path):
    data = os.urandom(3 * FRAME + 1)
    (tmp_path / "plain").write_bytes(data)
    envelope.encrypt_file(
        kms, key_arn, tmp_path / "plain", tmp_path / "enc", CTX, frame_length=FRAME
    )
    message = (tmp_path / "enc").read_bytes()
    frame = 4 + 12 + FRAME + 16  # a full frame: sequence number, IV, content, tag
    body_start = len(message) - (4 + 4 + 12 + 4 + 1 + 16) - 3 * frame
    first, second = (message[body_start + i * frame: body_start + (i + 1) * frame] for i in (0, 1))
    swapped = message[:body_start] + second + first + message[body_start + 2 * frame:]
    folder = tmp_path / "swap"
    folder.mkdir()
    _assert_fails_without_output(kms, swapped, folder)


def test_file_bytes_after_the_message_are_refused(kms, small_message, tmp_path):
    _assert_fails_without_output(kms, small_message + b"\x00", tmp_path)


def test_sdk_unframed_message_decrypts_with_ours(kms, key_arn, tmp_path):
    data = os.urandom(5000)
    ciphertext, header = _sdk().encrypt(source=data, key_provider=_strict(key_arn),
                                        encryption_context=CTX, frame_length=0)
    assert header.frame_length == 0  # ContentType.NO_FRAMING
    (tmp_path / "enc").write_bytes(ciphertext)
    envelope.decrypt_file(kms, tmp_path / "enc", tmp_path / "dec", CTX)
    assert (tmp_path / "dec").read_bytes() == data


# --- into a caller's buffer -----------------------------------------------------------------


def test_encrypt_into_and_decrypt_into_reuse_one_buffer(kms, key_arn):
    big, small = os.urandom(5000), b"short document"
    out = bytearray(b"\xaa" * envelope.max_envelope_size(len(big), CTX))
    plain = bytearray(len(out))
    for data in (big, small):
        n = envelope.encrypt_into(kms, key_arn, data, CTX, out)
        blob = bytes(out[:n])
        assert len(_header_fields(blob)["body"]) == len(data) + 16  # encrypt()'s v1 envelope
        assert envelope.decrypt(kms, blob, CTX) == data
        m = envelope.decrypt_into(kms, blob, CTX, plain)
        assert m == len(data) and plain[:m] == data
    assert len(blob) == len(envelope.encrypt(kms, key_arn, small, CTX))
    assert out[-1] == 0xAA  # past the envelope, the buffer is untouched


def test_max_envelope_size_uses_the_api_limits():
    # 12 header bytes + 12-byte nonce + 2048 (KeyId) + 6144 (CiphertextBlob) + 16-byte tag + context
    assert envelope.max_envelope_size(0, {}) == 12 + 12 + 2048 + 6144 + 16 + len(b"{}")
    assert envelope.max_envelope_size(10, {"a": "b"}) == 10 + 8232 + len(b'{"a":"b"}')
    with pytest.raises(ValueError):
        envelope.max_envelope_size(-1, {})


def test_into_refuses_bad_buffers(kms, key_arn, small_envelope):
    with pytest.raises(ValueError, match="max_envelope_size"):
        envelope.encrypt_into(kms, key_arn, b"abc", CTX, bytearray(100))
    with pytest.raises(TypeError, match="bytearray"):
        envelope.encrypt_into(kms, key_arn, b"abc", CTX, bytes(10_000))
    with pytest.raises(TypeError, match="writable buffer"):
        envelope.decrypt_into(kms, small_envelope, CTX, [0] * 100)
    with pytest.raises(ValueError, match="len\\(ciphertext\\)"):
        envelope.decrypt_into(kms, small_envelope, CTX, bytearray(3))


def test_decrypt_into_leaves_no_unauthenticated_plaintext(kms, key_arn):
    """AES-GCM writes plaintext before it checks the tag: after a failure, out holds zeros."""
    data = b"secret plan " * 100
    blob = bytearray(envelope.encrypt(kms, key_arn, data, CTX))
    blob[-17] ^= 0x01  # the last ciphertext byte: every other byte still decrypts correctly
    out = bytearray(b"\xaa" * len(blob))
    with pytest.raises(TamperedCiphertext):
        envelope.decrypt_into(kms, bytes(blob), CTX, out)
    assert out[: len(data)] == bytes(len(data))
    assert out[len(data):] == b"\xaa" * (len(out) - len(data))


# --- found by a new user's trial --------------------------------------------------------------


def test_out_overlapping_the_input_is_refused(kms, key_arn):
    data = b"0123456789" * 100
    buf = bytearray(envelope.max_envelope_size(len(data), CTX))
    buf[: len(data)] = data
    for plaintext in (memoryview(buf)[: len(data)], memoryview(buf)[: len(data)].toreadonly()):
        with pytest.raises(ValueError, match="overlaps plaintext"):
            envelope.encrypt_into(kms, key_arn, plaintext, CTX, buf)
    n = envelope.encrypt_into(kms, key_arn, data, CTX, buf)
    with pytest.raises(ValueError, match="overlaps ciphertext"):
        envelope.decrypt_into(kms, memoryview(buf)[:n], CTX, buf)


def test_strict_key_ids_skip_data_keys_of_other_keys(kms, key_arn, other_key_arn, tmp_path):
    """An SDK message may carry several encrypted data keys; strict mode tries each allowed one,
    as the SDK's StrictAwsKmsMasterKeyProvider does."""
    data = os.urandom(1000)
    ciphertext, header = _sdk().encrypt(
        source=data, encryption_context=CTX,
        key_provider=StrictAwsKmsMasterKeyProvider(key_ids=[other_key_arn, key_arn]))
    assert len(header.encrypted_data_keys) == 2
    (tmp_path / "enc").write_bytes(ciphertext)
    envelope.decrypt_file(kms, tmp_path / "enc", tmp_path / "dec", CTX, key_ids=key_arn)
    assert (tmp_path / "dec").read_bytes() == data
    third = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(WrongKey, match="allowed key_ids"):
        envelope.decrypt_file(kms, tmp_path / "enc", tmp_path / "dec2", CTX, key_ids=(third,))


def test_encrypt_file_errors_name_the_key(kms, tmp_path):
    (tmp_path / "plain").write_bytes(b"data")
    with pytest.raises(WrongKey, match="alias/does-not-exist"):
        envelope.encrypt_file(kms, "alias/does-not-exist", tmp_path / "plain", tmp_path / "e", CTX)


def test_a_key_that_cannot_encrypt_says_which_key_to_use(kms):
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    with pytest.raises(WrongKey, match="ENCRYPT_DECRYPT"):
        envelope.encrypt(kms, signing, b"x", CTX)


@pytest.mark.parametrize("make, advice", [
    (envelope.to_json, "from_json"),
    (str, r"str\(bytes\)"),
    (bytes.hex, r"bytes.fromhex"),
])
def test_text_forms_of_an_envelope_get_the_right_advice(kms, small_envelope, make, advice):
    with pytest.raises(NotBytes, match=advice):
        envelope.decrypt(kms, make(small_envelope), CTX)


@pytest.mark.parametrize("content, error, advice", [
    (b"", InvalidEnvelope, "empty"),
    ("envelope", InvalidEnvelope, "decrypt()"),
    ("json", InvalidEnvelope, "from_json"),
    ("base64", NotBytes, "base64"),
    ("kms-blob", InvalidEnvelope, "kms.decrypt"),
])
def test_decrypt_file_names_other_formats(kms, key_arn, small_envelope, tmp_path, content, error,
                                          advice):
    blob = kms.encrypt(KeyId=key_arn, Plaintext=b"x")["CiphertextBlob"]
    content = {"envelope": small_envelope, "json": envelope.to_json(small_envelope).encode(),
               "base64": base64.b64encode(small_envelope), "kms-blob": blob}.get(content, content)
    (tmp_path / "in").write_bytes(content)
    with pytest.raises(error, match=advice):
        envelope.decrypt_file(kms, tmp_path / "in", tmp_path / "out", CTX)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_non_committing_message_is_named(kms, key_arn, tmp_path):
    legacy = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    ciphertext, _ = legacy.encrypt(source=b"old data", key_provider=_strict(key_arn),
                                   encryption_context=CTX)
    (tmp_path / "enc").write_bytes(ciphertext)
    with pytest.raises(InvalidEnvelope, match="key commitment"):
        envelope.decrypt_file(kms, tmp_path / "enc", tmp_path / "dec", CTX)


def test_paths_are_checked_before_any_work(kms, key_arn, tmp_path):
    (tmp_path / "plain").write_bytes(b"data")
    (tmp_path / "folder").mkdir()
    with pytest.raises(FileNotFoundError, match="nofolder"):
        envelope.encrypt_file(kms, key_arn, tmp_path / "plain", tmp_path / "nofolder" / "x", CTX)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        envelope.encrypt_file(kms, key_arn, tmp_path / "plain", tmp_path / "folder", CTX)
    with pytest.raises(ValueError, match="empty path"):
        envelope.encrypt_file(kms, key_arn, tmp_path / "plain", "", CTX)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "plain"]


def test_odd_inputs_get_typed_errors(kms, key_arn):
    import array

    with pytest.raises(InvalidEncryptionContext, match="surrogate"):
        envelope.encrypt(kms, key_arn, b"x", {"a": "\ud800"})
    for key in (None, ""):
        with pytest.raises(WrongKey, match="key_id"):
            envelope.encrypt(kms, key, b"x", CTX)
    with pytest.raises(NotBytes, match="non-contiguous"):
        envelope.encrypt(kms, key_arn, memoryview(b"abcdef")[::2], CTX)
    numbers = array.array("i", [1, 2])  # any buffer of bytes is accepted, as its raw bytes
    assert envelope.decrypt(kms, envelope.encrypt(kms, key_arn, numbers, CTX), CTX) == bytes(numbers)


def test_bytes_after_an_unframed_message_are_refused(kms, key_arn, tmp_path):
    ciphertext, _ = _sdk().encrypt(source=b"data", key_provider=_strict(key_arn),
                                   encryption_context=CTX, frame_length=0)
    _assert_fails_without_output(kms, ciphertext + b"\x00", tmp_path)


def test_output_files_get_the_usual_mode(kms, key_arn, tmp_path):
    (tmp_path / "plain").write_bytes(b"data")
    umask = os.umask(0o022)
    try:
        envelope.encrypt_file(kms, key_arn, tmp_path / "plain", tmp_path / "enc", CTX)
        assert (tmp_path / "enc").stat().st_mode & 0o777 == 0o644  # like open(): 0o666 - umask
        (tmp_path / "dec").write_bytes(b"")
        os.chmod(tmp_path / "dec", 0o600)
        envelope.decrypt_file(kms, tmp_path / "enc", tmp_path / "dec", CTX)
        assert (tmp_path / "dec").stat().st_mode & 0o777 == 0o600  # a replaced file keeps its own
    finally:
        os.umask(umask)


def test_readme_example_runs_as_written(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Envelope encryption in your own code", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.iso").write_bytes(os.urandom(3 * 1024 * 1024 + 1))
    original = (tmp_path / "big.iso").read_bytes()
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (our own README)
    kms, blob = namespace["kms"], namespace["blob"]
    assert envelope.decrypt(kms, blob, {"doc_id": "42"}) == b"report"
    assert (tmp_path / "big.iso").read_bytes() == original
