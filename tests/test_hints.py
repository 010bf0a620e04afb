"""Short errors and hints for common notebook mistakes (cases C01, C02, C04, C06, C11, C32, and
issue 12: bytes as S3 metadata, alias names without ``alias/``, made-up key IDs, restarts)."""

from __future__ import annotations

import base64
import os

import nbformat
import pytest
from botocore.exceptions import ClientError
from nbclient import NotebookClient

from kms_course.lessons.hints import FULL_TRACEBACK, hint_for, short_error
from kms_course.sandbox.start import start_sandbox

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


def _plain(lines):
    import re

    return [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]


def test_notebook_shows_error_then_hint_after_setup_cell():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SETUP_CELL),
        nbformat.v4.new_code_cell("from moto import mock_kms"),
    ])
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    outputs = nb.cells[1].outputs
    assert [o["output_type"] for o in outputs] == ["error"]
    assert outputs[0]["ename"] == "ImportError"
    lines = _plain(outputs[0]["traceback"])
    assert lines[0].startswith("ImportError: cannot import name 'mock_kms' from 'moto'")
    assert lines[1] == "  in this cell, line 1: from moto import mock_kms"
    assert lines[2].startswith("Hint: moto 5 has no mock_kms")
    assert lines[3] == FULL_TRACEBACK


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
    assert _hint(lambda: kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=3000)) is None


def test_alias_name_without_prefix_gets_the_prefix(kms_key):
    kms, _ = kms_key
    for call, value in (
        (lambda: kms.describe_key(KeyId="lesson03-orders"), "lesson03-orders"),
        (lambda: kms.encrypt(KeyId="orders", Plaintext=b"x"), "orders"),
    ):
        hint = _hint(call)
        assert hint.startswith(f"Hint: {value!r} is not a key ID, and an alias name always "
                               f"starts with 'alias/': write KeyId='alias/{value}'.")
        assert "Only DescribeKey, GetPublicKey and the cryptographic operations" in hint


def test_create_alias_without_prefix_says_how_names_look(kms_key):
    kms, key = kms_key
    hint = _hint(lambda: kms.create_alias(AliasName="orders", TargetKeyId=key))
    assert hint.startswith("Hint: an alias name starts with 'alias/'")


def test_made_up_key_id_says_where_real_ids_come_from(kms_key):
    kms, _ = kms_key
    made_up = "1234abcd-12ab-34cd-56ef-1234567890ab"  # the AWS documentation's example key ID
    for call in (lambda: kms.describe_key(KeyId=made_up),
                 lambda: kms.encrypt(KeyId=made_up, Plaintext=b"x")):
        hint = _hint(call)
        assert hint.startswith("Hint: no KMS key has this key ID in this account and Region.")
        assert "after a kernel restart" in hint.lower()


def test_missing_alias_says_how_to_list_and_create(kms_key):
    kms, _ = kms_key
    hint = _hint(lambda: kms.describe_key(KeyId="alias/never-created"))
    assert hint.startswith("Hint: no alias of that name exists") and "list_aliases()" in hint


def test_disabled_and_pending_deletion_keys(kms_key):
    kms, _ = kms_key
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key)
    assert _hint(lambda: kms.encrypt(KeyId=key, Plaintext=b"x")).startswith(
        "Hint: the key is disabled; kms.enable_key")
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert "cancel_key_deletion" in _hint(lambda: kms.encrypt(KeyId=key, Plaintext=b"x"))


def test_bytes_as_s3_metadata_get_the_base64_hint():
    from kms_course.sandbox.start import client

    start_sandbox(quiet=True)
    s3 = client("s3")
    s3.create_bucket(Bucket="hint-bucket")
    with pytest.raises(AttributeError) as info:
        s3.put_object(Bucket="hint-bucket", Key="k", Body=b"x", Metadata={"edk": b"\x01\x02"})
    hint = hint_for(info.value, info.tb)
    assert hint.startswith("Hint: S3 object metadata values must be text (str, ASCII), not bytes")
    assert "base64.b64encode(value).decode('ascii')" in hint
    lines = short_error(info.value, info.tb)
    assert lines[0] == "AttributeError: 'bytes' object has no attribute 'encode'"
    # Other AttributeErrors keep IPython's usual traceback.
    try:
        b"x".encode()
    except AttributeError as other:
        assert hint_for(other) is None and short_error(other) is None


def test_restart_hint_before_and_after_the_setup_cell(monkeypatch):
    from kms_course.sandbox import start as sandbox

    monkeypatch.setattr(sandbox, "active_backend", lambda: None)
    before = hint_for(NameError("name 'check' is not defined", name="check"))
    assert before.startswith("Hint: `check` is not defined because this kernel has not run the "
                             "lesson's setup yet")
    assert "run the first code cell (kms = start_sandbox())" in before
    monkeypatch.setattr(sandbox, "active_backend", lambda: "moto")
    assert hint_for(NameError("name 'kms' is not defined", name="kms")) == (
        "Hint: `kms` comes from the lesson's first code cell: run it again.")
    assert "run the cells above this one" in hint_for(NameError("x", name="key_id"))


def test_short_error_of_a_client_error_without_hint_is_still_short(kms_key):
    kms, _ = kms_key
    with pytest.raises(ClientError) as info:
        kms.encrypt(KeyId=kms_key[1], Plaintext=b"")  # the 1-byte minimum: no hint
    lines = short_error(info.value, info.tb)
    assert lines[0].startswith("ClientError: An error occurred (ValidationException) when calling "
                               "the Encrypt operation")
    assert lines[-1] == FULL_TRACEBACK and not any(line.startswith("Hint:") for line in lines)


def test_notebook_shows_the_kms_error_short_with_the_hint_first_and_tb_on_request():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SETUP_CELL),
        nbformat.v4.new_code_cell(
            "key = kms.create_key()['KeyMetadata']['KeyId']\n"
            "kms.encrypt(KeyId=key, Plaintext=b'a' * 4097)"),
        nbformat.v4.new_code_cell("%tb"),
        nbformat.v4.new_code_cell("kms.describe_key(KeyId='orders')"),
    ])
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    outputs = nb.cells[1].outputs
    assert [o["output_type"] for o in outputs] == ["error"]
    assert outputs[0]["ename"] == "ClientError"
    lines = _plain(outputs[0]["traceback"])
    assert lines[0].startswith("ClientError: An error occurred (ValidationException) when calling "
                               "the Encrypt operation")
    assert lines[1] == "  in this cell, line 2: kms.encrypt(KeyId=key, Plaintext=b'a' * 4097)"
    assert lines[2].startswith("Hint: Encrypt takes at most 4096 bytes")
    assert lines[3] == FULL_TRACEBACK and len(lines) == 4
    # %tb shows the full traceback, botocore frames included, on request.
    full = "\n".join("\n".join(_plain(o.get("traceback", []))) + o.get("text", "")
                     for o in nb.cells[2].outputs)
    assert "botocore" in full and "_make_api_call" in full and len(full.splitlines()) > 15
    alias = _plain(nb.cells[3].outputs[0]["traceback"])
    assert nb.cells[3].outputs[0]["ename"] == "NotFoundException"
    assert alias[2].startswith("Hint: 'orders' is not a key ID")


def _reply_text(call) -> str:
    """The error as a grading kernel's reply carries it: ``ename: evalue``."""
    with pytest.raises(ClientError) as info:
        call()
    return f"{type(info.value).__name__}: {info.value}"


def test_the_graders_error_text_gets_the_labs_hint(kms_key):
    # a new user's trial (C01, C02): the grader's feedback ended in "...Decrypt operation:)"
    # without the hint the lab gives under the same error
    from kms_course.instructor.grading.worker import _unfinished
    from kms_course.lessons.exercises import Verdict
    from kms_course.lessons.hints import hint_for_error_text

    kms, key = kms_key
    blob = kms.encrypt(KeyId=key, Plaintext=b"hi", EncryptionContext={"a": "1"})["CiphertextBlob"]
    calls = (
        lambda: kms.decrypt(CiphertextBlob=base64.b64encode(blob), EncryptionContext={"a": "1"}),
        lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "2"}),
        lambda: kms.encrypt(KeyId=key, Plaintext=b"a" * 4097),
        lambda: kms.describe_key(KeyId="orders"),
    )
    for call in calls:
        text = _reply_text(call)
        assert hint_for_error_text(text) == _hint(call) is not None
        message = _unfinished(text, Verdict("04-x", False, 0, 2, "NOT YET: no key."))
        assert _hint(call).rstrip(".") in message and message.endswith("NOT YET: no key.")
    assert hint_for_error_text(_reply_text(lambda: kms.encrypt(KeyId=key, Plaintext=b""))) is None
    assert hint_for_error_text("NameError: name 'kms' is not defined") is None
