"""The checks of lessons 01-04: each passes on a correct answer and fails, saying why, on wrong ones.

Each test builds the sandbox state a student's solution would build (with the real KMS calls),
then runs the registered check with :func:`kms_course.lessons.exercises.run_check`, as the grader
does. The ``kms`` fixture (conftest.py) gives a client on an emptied in-process sandbox.
The expected properties come from the AWS KMS API reference (CreateKey, DescribeKey, Encrypt,
Decrypt, GenerateDataKey pages, linked in each check module).
"""

from __future__ import annotations

import base64

import pytest

from kms_course.lessons.exercises import load_all
from _verdicts import new_key, verdict  # noqa: E402

MADE_UP_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def assert_fails(result, *fragments: str) -> None:
    assert not result.passed, result.text()
    assert result.points == 0
    for fragment in fragments:
        assert fragment in result.message, result.text()


# --- registry -----------------------------------------------------------------------------------

LESSON_EXERCISES = {
    "04_encrypting_and_decrypting": {
        "04-round-trip",
        "04-base64-storage",
        "04-encryption-context",
        "04-byte-limit",
    },
    "02_kms_keys_vs_data_keys": {"02-data-key", "02-aes128-data-key", "02-per-document-keys"},
    "01_understanding_kms": {"01-aws-managed-key", "01-public-key", "01-largest-plaintext"},
    "03_creating_and_describing_keys": {"03-hmac-key", "03-signing-key", "03-alias-state"},
}


@pytest.mark.parametrize("lesson, expected", sorted(LESSON_EXERCISES.items()))
def test_lesson_exercises_are_registered(lesson, expected):
    registry = load_all()
    assert {e.id for e in registry.values() if e.lesson == lesson} == expected


# --- lesson 03 ------------------------------------------------------------------------------------


def test_hmac_key_passes_on_hmac_256_key(kms):
    key = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    result = verdict(kms, "03-hmac-key", hmac_key_id=key)
    assert result.passed, result.text()
    assert result.points == 2


def test_hmac_key_fails_on_wrong_key_spec(kms):
    key = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_512")
    assert_fails(verdict(kms, "03-hmac-key", hmac_key_id=key), "KeySpec 'HMAC_512'", "'HMAC_256'")


def test_hmac_key_fails_on_symmetric_encryption_key(kms):
    key = new_key(kms, KeyUsage="ENCRYPT_DECRYPT")
    assert_fails(verdict(kms, "03-hmac-key", hmac_key_id=key), "KeySpec 'SYMMETRIC_DEFAULT'")


def test_hmac_key_fails_on_made_up_key_id(kms):
    assert_fails(
        verdict(kms, "03-hmac-key", hmac_key_id=MADE_UP_KEY_ID),
        "no KMS key with that ID exists",
    )


def test_hmac_key_fails_on_missing_variable(kms):
    assert_fails(verdict(kms, "03-hmac-key"), "`hmac_key_id` is not defined yet")


def test_hmac_key_fails_on_whole_response_stored(kms):
    response = kms.create_key(KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    assert_fails(
        verdict(kms, "03-hmac-key", hmac_key_id={"KeyMetadata": response["KeyMetadata"]}),
        "whole create_key response",
    )


def test_signing_key_passes(kms):
    key = new_key(
        kms, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048", Description="Invoice signing key"
    )
    assert verdict(kms, "03-signing-key", signing_key_id=key).passed


def test_signing_key_fails_on_encryption_rsa_key(kms):
    key = new_key(
        kms, KeyUsage="ENCRYPT_DECRYPT", KeySpec="RSA_2048", Description="Invoice signing key"
    )
    assert_fails(
        verdict(kms, "03-signing-key", signing_key_id=key), "KeyUsage 'ENCRYPT_DECRYPT'"
    )


def test_signing_key_fails_on_wrong_spec(kms):
    key = new_key(
        kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256", Description="Invoice signing key"
    )
    assert_fails(verdict(kms, "03-signing-key", signing_key_id=key), "KeySpec 'ECC_NIST_P256'")


def test_signing_key_fails_on_wrong_description(kms):
    key = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048", Description="invoice key")
    assert_fails(verdict(kms, "03-signing-key", signing_key_id=key), "Description 'invoice key'")


def _orders_key(kms, alias: bool = True) -> str:
    key = new_key(kms, KeyUsage="ENCRYPT_DECRYPT")
    if alias:
        kms.create_alias(AliasName="alias/lesson03-orders", TargetKeyId=key)
    return key


def test_alias_state_passes(kms):
    key = _orders_key(kms)
    assert verdict(kms, "03-alias-state", orders_key_id=key, orders_key_state="Enabled").passed


def test_alias_state_passes_with_default_key_usage(kms):
    # CreateKey's default KeyUsage is ENCRYPT_DECRYPT (API_CreateKey.html).
    key = new_key(kms)
    kms.create_alias(AliasName="alias/lesson03-orders", TargetKeyId=key)
    assert verdict(kms, "03-alias-state", orders_key_id=key, orders_key_state="Enabled").passed


def test_alias_state_fails_without_alias(kms):
    key = _orders_key(kms, alias=False)
    assert_fails(
        verdict(kms, "03-alias-state", orders_key_id=key, orders_key_state="Enabled"),
        "no alias 'alias/lesson03-orders'",
    )


def test_alias_state_fails_when_alias_names_another_key(kms):
    _orders_key(kms)
    other = new_key(kms)
    assert_fails(
        verdict(kms, "03-alias-state", orders_key_id=other, orders_key_state="Enabled"),
        "no alias",
    )


def test_alias_state_fails_on_wrong_state(kms):
    key = _orders_key(kms)
    assert_fails(
        verdict(kms, "03-alias-state", orders_key_id=key, orders_key_state="ENABLED"),
        "`orders_key_state` is 'ENABLED'",
        "'Enabled'",
    )


def test_alias_state_fails_on_hmac_key(kms):
    key = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    kms.create_alias(AliasName="alias/lesson03-orders", TargetKeyId=key)
    assert_fails(
        verdict(kms, "03-alias-state", orders_key_id=key, orders_key_state="Enabled"),
        "KeySpec 'HMAC_256'",
    )


# --- lesson 01 ------------------------------------------------------------------------------------


def test_aws_managed_key_passes_with_key_manager_aws(kms):
    # DescribeKey on a predefined alias/aws/... alias creates the AWS managed key, whose
    # KeyManager is AWS (API_DescribeKey.html; developerguide/concepts.html).
    metadata = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert metadata["KeyManager"] == "AWS"
    result = verdict(
        kms, "01-aws-managed-key", s3_key_id=metadata["KeyId"], s3_key_manager="AWS"
    )
    assert result.passed, result.text()


def test_aws_managed_key_fails_on_customer_key(kms):
    kms.describe_key(KeyId="alias/aws/s3")
    mine = new_key(kms)
    assert_fails(
        verdict(kms, "01-aws-managed-key", s3_key_id=mine, s3_key_manager="CUSTOMER"),
        "not the one behind alias/aws/s3",
    )


def test_aws_managed_key_fails_on_wrong_manager(kms):
    key = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"]
    assert_fails(
        verdict(kms, "01-aws-managed-key", s3_key_id=key, s3_key_manager="CUSTOMER"),
        "`s3_key_manager` is 'CUSTOMER'",
        "'AWS'",
    )


def test_aws_managed_key_fails_on_made_up_id(kms):
    assert_fails(
        verdict(kms, "01-aws-managed-key", s3_key_id=MADE_UP_KEY_ID, s3_key_manager="AWS"),
        "no KMS key with that ID exists",
    )


def test_public_key_passes(kms):
    key = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    der = kms.get_public_key(KeyId=key)["PublicKey"]
    assert verdict(kms, "01-public-key", pair_key_id=key, public_key_der=der).passed


def test_public_key_fails_on_symmetric_key(kms):
    key = new_key(kms)
    assert_fails(
        verdict(kms, "01-public-key", pair_key_id=key, public_key_der=b"x"),
        "KeySpec 'SYMMETRIC_DEFAULT'",
        "has no public key",
    )


def test_public_key_fails_on_other_keys_public_key(kms):
    key = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    other = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    der = kms.get_public_key(KeyId=other)["PublicKey"]
    assert_fails(
        verdict(kms, "01-public-key", pair_key_id=key, public_key_der=der),
        "not the public key of the key in `pair_key_id`",
    )


def test_public_key_fails_on_base64_text(kms):
    key = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    der = kms.get_public_key(KeyId=key)["PublicKey"]
    assert_fails(
        verdict(
            kms, "01-public-key", pair_key_id=key, public_key_der=base64.b64encode(der).decode()
        ),
        "is a str",
    )


def test_largest_plaintext_passes_at_4096_bytes(kms):
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key, Plaintext=b"A" * 4096)["CiphertextBlob"]
    assert verdict(kms, "01-largest-plaintext", max_ciphertext=blob).passed


def test_encrypt_refuses_4097_bytes(kms):
    # Encrypt's Plaintext is 1 to 4096 bytes (API_Encrypt.html).
    key = new_key(kms)
    with pytest.raises(kms.exceptions.ClientError) as raised:
        kms.encrypt(KeyId=key, Plaintext=b"A" * 4097)
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_largest_plaintext_fails_below_limit(kms):
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key, Plaintext=b"A" * 4095)["CiphertextBlob"]
    assert_fails(
        verdict(kms, "01-largest-plaintext", max_ciphertext=blob), "holds 4095 bytes", "4096"
    )


def test_largest_plaintext_fails_on_made_up_bytes(kms):
    assert_fails(
        verdict(kms, "01-largest-plaintext", max_ciphertext=b"A" * 4096),
        "KMS cannot decrypt `max_ciphertext`",
    )


# --- lesson 02 ------------------------------------------------------------------------------------


def test_data_key_passes_and_plaintext_is_32_bytes(kms):
    key = new_key(kms)
    response = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    assert len(response["Plaintext"]) == 32  # AES_256 = 256 bits (API_GenerateDataKey.html)
    result = verdict(
        kms,
        "02-data-key",
        doc_key_id=key,
        doc_plaintext_key=response["Plaintext"],
        doc_encrypted_key=response["CiphertextBlob"],
    )
    assert result.passed, result.text()


def swapped_copies(kms) -> tuple[str, bytes, bytes]:
    """The Plaintext stored as the encrypted copy and the CiphertextBlob as the plaintext copy."""
    key = new_key(kms)
    response = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    return key, response["CiphertextBlob"], response["Plaintext"]


def copies_from_two_calls(kms) -> tuple[str, bytes, bytes]:
    """The plaintext copy of one GenerateDataKey response, the encrypted copy of another."""
    key = new_key(kms)
    first = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    second = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    return key, first["Plaintext"], second["CiphertextBlob"]


def copies_under_another_kms_key(kms) -> tuple[str, bytes, bytes]:
    """A data key generated under another KMS key than the one named in `doc_key_id`."""
    key, other = new_key(kms), new_key(kms)
    response = kms.generate_data_key(KeyId=other, KeySpec="AES_256")
    return key, response["Plaintext"], response["CiphertextBlob"]


@pytest.mark.parametrize(
    ("make_answers", "message"),
    [
        (swapped_copies, "Did you swap Plaintext and CiphertextBlob?"),
        (copies_from_two_calls, "decrypts to a different key"),
        (copies_under_another_kms_key, "different KMS key"),
    ],
    ids=["swapped-copies", "copies-from-two-calls", "under-another-kms-key"],
)
def test_data_key_fails_on_mismatched_copies(kms, make_answers, message):
    key, plaintext_key, encrypted_key = make_answers(kms)
    assert_fails(
        verdict(
            kms,
            "02-data-key",
            doc_key_id=key,
            doc_plaintext_key=plaintext_key,
            doc_encrypted_key=encrypted_key,
        ),
        message,
    )


def test_aes128_data_key_passes_with_16_bytes(kms):
    key = new_key(kms)
    response = kms.generate_data_key(KeyId=key, KeySpec="AES_128")
    assert len(response["Plaintext"]) == 16
    assert verdict(kms, "02-aes128-data-key", small_encrypted_key=response["CiphertextBlob"]).passed


def test_aes128_data_key_fails_on_aes256(kms):
    blob = kms.generate_data_key(KeyId=new_key(kms), KeySpec="AES_256")["CiphertextBlob"]
    assert_fails(
        verdict(kms, "02-aes128-data-key", small_encrypted_key=blob), "32-byte data key"
    )


def test_aes128_data_key_fails_on_random_bytes(kms):
    assert_fails(
        verdict(kms, "02-aes128-data-key", small_encrypted_key=b"\x01" * 16),
        "KMS cannot decrypt `small_encrypted_key`",
    )


DOCS = ("contract.pdf", "payslip.pdf", "passport.png")


def test_per_document_keys_passes(kms):
    key = new_key(kms)
    keys = {n: kms.generate_data_key(KeyId=key, KeySpec="AES_256")["CiphertextBlob"] for n in DOCS}
    assert verdict(kms, "02-per-document-keys", documents_key_id=key, encrypted_keys=keys).passed


def test_per_document_keys_fails_on_shared_data_key(kms):
    key = new_key(kms)
    blob = kms.generate_data_key(KeyId=key, KeySpec="AES_256")["CiphertextBlob"]
    assert_fails(
        verdict(
            kms,
            "02-per-document-keys",
            documents_key_id=key,
            encrypted_keys={n: blob for n in DOCS},
        ),
        "share a data key",
    )


def test_per_document_keys_fails_on_missing_document(kms):
    key = new_key(kms)
    keys = {n: kms.generate_data_key(KeyId=key, KeySpec="AES_256")["CiphertextBlob"] for n in DOCS}
    del keys["passport.png"]
    assert_fails(
        verdict(kms, "02-per-document-keys", documents_key_id=key, encrypted_keys=keys),
        "needs exactly",
    )


# --- lesson 04 ------------------------------------------------------------------------------------

REPORT = "Quarterly report: confidential"
SALARY_CONTEXT = {"employee_id": "E-1001", "purpose": "payroll"}


def test_round_trip_passes(kms):
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key, Plaintext=REPORT)["CiphertextBlob"]
    text = kms.decrypt(CiphertextBlob=blob, KeyId=key)["Plaintext"].decode("utf-8")
    result = verdict(
        kms, "04-round-trip", report_key_id=key, report_ciphertext=blob, report_plaintext=text
    )
    assert result.passed, result.text()


def test_round_trip_fails_on_typed_in_text_even_checked_twice(kms):
    """Bug: the text typed in, with no Decrypt at all, passed (issue 11 item 5); the check's
    own Decrypt (marked in its User-Agent) must not count as the student's on a second check."""
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key, Plaintext=REPORT)["CiphertextBlob"]
    for _ in range(2):
        assert_fails(
            verdict(kms, "04-round-trip", report_key_id=key, report_ciphertext=blob,
                    report_plaintext=REPORT),
            "no record of a Decrypt with the key in `report_key_id`",
        )


def test_round_trip_fails_on_bytes_plaintext(kms):
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key, Plaintext=REPORT)["CiphertextBlob"]
    assert_fails(
        verdict(
            kms,
            "04-round-trip",
            report_key_id=key,
            report_ciphertext=blob,
            report_plaintext=REPORT.encode(),
        ),
        "is bytes",
        ".decode('utf-8')",
    )


def test_round_trip_fails_on_ciphertext_under_other_key(kms):
    # Decrypt with a KeyId that did not encrypt the ciphertext: IncorrectKeyException
    # (botocore reference, IncorrectKeyException).
    key, other = new_key(kms), new_key(kms)
    blob = kms.encrypt(KeyId=other, Plaintext=REPORT)["CiphertextBlob"]
    with pytest.raises(kms.exceptions.IncorrectKeyException):
        kms.decrypt(CiphertextBlob=blob, KeyId=key)
    assert_fails(
        verdict(
            kms, "04-round-trip", report_key_id=key, report_ciphertext=blob, report_plaintext=REPORT
        ),
        "IncorrectKeyException",
    )


def test_round_trip_fails_on_other_text(kms):
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key, Plaintext="Hello, AWS!")["CiphertextBlob"]
    assert_fails(
        verdict(
            kms, "04-round-trip", report_key_id=key, report_ciphertext=blob, report_plaintext=REPORT
        ),
        "decrypts to b'Hello, AWS!'",
    )


def _card_blob(kms) -> bytes:
    return kms.encrypt(KeyId=new_key(kms), Plaintext=b"card ending 4242")["CiphertextBlob"]


def test_base64_storage_passes(kms):
    text = base64.b64encode(_card_blob(kms)).decode("ascii")
    assert verdict(kms, "04-base64-storage", stored_ciphertext=text).passed


def test_base64_storage_passes_on_mime_base64_that_b64decode_reads(kms):
    """Bug: base64.encodebytes' MIME lines (a newline every 76 characters and at the end),
    which base64.b64decode reads, scored 0."""
    blob = _card_blob(kms)
    text = base64.encodebytes(blob).decode("ascii")
    assert "\n" in text.rstrip("\n") and base64.b64decode(text) == blob  # what the hint names
    assert verdict(kms, "04-base64-storage", stored_ciphertext=text).passed


def test_base64_storage_fails_on_url_safe_base64(kms):
    text = base64.urlsafe_b64encode(b"\xfb\xff" * 40 + _card_blob(kms)).decode("ascii")
    assert "-" in text or "_" in text
    assert_fails(verdict(kms, "04-base64-storage", stored_ciphertext=text),
                 "not base64 text that base64.b64decode reads")


def test_base64_storage_fails_on_raw_bytes(kms):
    assert_fails(
        verdict(kms, "04-base64-storage", stored_ciphertext=_card_blob(kms)), "is bytes"
    )


def test_base64_storage_fails_on_base64_of_base64(kms):
    # Cases C02/C04: base64 text encoded a second time is not a ciphertext.
    twice = base64.b64encode(base64.b64encode(_card_blob(kms))).decode("ascii")
    assert_fails(
        verdict(kms, "04-base64-storage", stored_ciphertext=twice), "base64 of base64"
    )


def test_base64_text_as_ciphertext_blob_is_invalid_ciphertext(kms):
    # Case C02: botocore base64-encodes the text again, so KMS gets no valid ciphertext.
    text = base64.b64encode(_card_blob(kms)).decode("ascii")
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=text)


def test_base64_storage_fails_on_non_base64_text(kms):
    assert_fails(
        verdict(kms, "04-base64-storage", stored_ciphertext="card ending 4242!"),
        "not base64 text that base64.b64decode reads",
    )


def _salary_blob(kms, key, context):
    params = {"KeyId": key, "Plaintext": b"salary: 5000"}
    if context is not None:
        params["EncryptionContext"] = context
    return kms.encrypt(**params)["CiphertextBlob"]


def test_encryption_context_passes(kms):
    key = new_key(kms)
    blob = _salary_blob(kms, key, SALARY_CONTEXT)
    assert verdict(kms, "04-encryption-context", salary_key_id=key, salary_ciphertext=blob).passed


def test_encryption_context_fails_without_context(kms):
    key = new_key(kms)
    blob = _salary_blob(kms, key, None)
    assert_fails(
        verdict(kms, "04-encryption-context", salary_key_id=key, salary_ciphertext=blob),
        "decrypts without any encryption context",
    )


def test_encryption_context_fails_on_different_case(kms):
    # Case C01: the context must be the exact same pairs, case-sensitive.
    key = new_key(kms)
    blob = _salary_blob(kms, key, {"Employee_id": "E-1001", "purpose": "payroll"})
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=SALARY_CONTEXT)
    assert_fails(
        verdict(kms, "04-encryption-context", salary_key_id=key, salary_ciphertext=blob),
        "InvalidCiphertextException",
        "exactly the encryption context",
    )


def test_encryption_context_order_is_irrelevant(kms):
    key = new_key(kms)
    blob = _salary_blob(kms, key, {"purpose": "payroll", "employee_id": "E-1001"})
    assert verdict(kms, "04-encryption-context", salary_key_id=key, salary_ciphertext=blob).passed


def test_encryption_context_fails_on_other_key(kms):
    key, other = new_key(kms), new_key(kms)
    blob = _salary_blob(kms, other, SALARY_CONTEXT)
    assert_fails(
        verdict(kms, "04-encryption-context", salary_key_id=key, salary_ciphertext=blob),
        "not encrypted under the key in `salary_key_id`",
    )


def test_byte_limit_passes_with_2048_accents(kms):
    blob = kms.encrypt(KeyId=new_key(kms), Plaintext="é" * 2048)["CiphertextBlob"]
    assert verdict(kms, "04-byte-limit", accent_ciphertext=blob).passed


def test_byte_limit_refuses_2100_accents(kms):
    # Case C06: 2100 characters of 'é' are 4200 bytes, over Encrypt's 4096-byte limit.
    assert len(("é" * 2100).encode("utf-8")) == 4200
    with pytest.raises(kms.exceptions.ClientError) as raised:
        kms.encrypt(KeyId=new_key(kms), Plaintext="é" * 2100)
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_byte_limit_fails_on_shorter_run(kms):
    blob = kms.encrypt(KeyId=new_key(kms), Plaintext="é" * 2000)["CiphertextBlob"]
    assert_fails(
        verdict(kms, "04-byte-limit", accent_ciphertext=blob), "4000 bytes (2000 characters)"
    )


def test_byte_limit_fails_on_missing_variable(kms):
    assert_fails(verdict(kms, "04-byte-limit"), "`accent_ciphertext` is not defined yet")


@pytest.mark.parametrize(
    ("make_state", "advice"),
    [
        (lambda kms, key: kms.disable_key(KeyId=key), "Call kms.enable_key(KeyId=...)."),
        (
            lambda kms, key: kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7),
            "Call kms.cancel_key_deletion(KeyId=...), then kms.enable_key(KeyId=...).",
        ),
    ],
)
def test_hmac_key_in_wrong_state_gets_actionable_advice(kms, make_state, advice):
    # KeyState is not a create_key parameter: the advice names the call that fixes the state.
    key = kms.create_key(KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")["KeyMetadata"]["KeyId"]
    make_state(kms, key)
    result = verdict(kms, "03-hmac-key", hmac_key_id=key)
    assert not result.passed
    assert result.message.endswith(advice)
    assert "KeyState=" not in result.message
