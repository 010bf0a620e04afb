"""Hints shown under common notebook mistakes (cases C01, C02, C04, C06, C11, C32)."""

from __future__ import annotations

import base64
import os

import nbformat
import pytest
from botocore.exceptions import ClientError
from nbclient import NotebookClient

from kms_course.hints import hint_for
from kms_course.sandbox import start_sandbox

SETUP_CELL = "from kms_course import start_sandbox\nkms = start_sandbox(quiet=True)"


def test_old_moto_import_gets_the_one_line_fix():
    try:
        from moto import mock_kms  # noqa: F401  (moto 5 has no mock_kms)
    except ImportError as error:
        hint = hint_for(error)
    assert hint is not None
    assert hint.startswith("Hint: moto 5 has no mock_kms; one mock_aws replaced")


def test_other_import_errors_get_no_hint():
    assert hint_for(ImportError("No module named 'boto4'")) is None
    assert hint_for(ValueError("cannot import name 'mock_kms' from 'moto'")) is None


def test_notebook_shows_error_then_hint_after_setup_cell():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SETUP_CELL),
        nbformat.v4.new_code_cell("from moto import mock_kms"),
    ])
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    outputs = nb.cells[1].outputs
    assert [o["output_type"] for o in outputs] == ["error", "stream"]
    assert outputs[0]["ename"] == "ImportError"
    assert outputs[1]["text"].startswith("Hint: moto 5 has no mock_kms")


@pytest.fixture(scope="module")
def kms_key():
    kms = start_sandbox(quiet=True)
    return kms, kms.create_key()["KeyMetadata"]["KeyId"]


def _hint(call):
    with pytest.raises(ClientError) as info:
        call()
    return hint_for(info.value)


def test_invalid_ciphertext_on_decrypt_names_its_three_causes(kms_key):
    kms, key = kms_key
    blob = kms.encrypt(KeyId=key, Plaintext=b"hi", EncryptionContext={"purpose": "lesson1"})[
        "CiphertextBlob"]
    sdk_message = bytes([2, 5, 0x78]) + os.urandom(100)
    for call in (
        lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "lesson2"}),  # C01
        lambda: kms.decrypt(CiphertextBlob=blob),  # C01: context omitted
        lambda: kms.decrypt(CiphertextBlob=base64.b64encode(blob),  # C02, C04
                            EncryptionContext={"purpose": "lesson1"}),
        lambda: kms.decrypt(CiphertextBlob=sdk_message),  # C32
    ):
        hint = _hint(call)
        assert hint.startswith("Hint: KMS cannot tell a changed ciphertext from a different "
                               "encryption context.")
        assert "base64.b64decode()" in hint and "AWS Encryption SDK message" in hint


def test_encrypt_over_4096_bytes_points_to_envelope_encryption(kms_key):
    kms, key = kms_key
    for plaintext in (b"a" * 4097, "é" * 2100):  # C06: 2100 characters are 4200 bytes
        hint = _hint(lambda: kms.encrypt(KeyId=key, Plaintext=plaintext))
        assert hint.startswith("Hint: Encrypt takes at most 4096 bytes of plaintext, counted in "
                               "bytes, not characters")
        assert "kms_course.envelope.encrypt" in hint


def test_other_kms_errors_get_no_hint(kms_key):
    kms, key = kms_key
    assert _hint(lambda: kms.encrypt(KeyId=key, Plaintext=b"")) is None  # the 1-byte minimum
    assert _hint(lambda: kms.describe_key(KeyId="alias/none")) is None


def test_notebook_shows_the_kms_error_then_the_hint():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SETUP_CELL),
        nbformat.v4.new_code_cell(
            "key = kms.create_key()['KeyMetadata']['KeyId']\n"
            "kms.encrypt(KeyId=key, Plaintext=b'a' * 4097)"),
    ])
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    outputs = nb.cells[1].outputs
    assert [o["output_type"] for o in outputs] == ["error", "stream"]
    assert outputs[0]["ename"] == "ClientError"
    assert outputs[1]["text"].startswith("Hint: Encrypt takes at most 4096 bytes")
