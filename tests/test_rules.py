"""The real-KMS rules (kms_course.sandbox.rules), one test per rule, on both sandbox backends.

Each expected value comes from the AWS page named in the test (or in the rule it tests). Every
test runs twice: against the in-process ``moto`` backend, and against the course's moto server
(``moto-server``) over HTTP on loopback. Both share this process's moto state, so
``sandbox.reset()`` empties both. Case IDs (C13...) refer to ../shared/cases/reported-problems.md.
"""

from __future__ import annotations

import base64
import contextlib
from datetime import datetime, timedelta, timezone

import boto3
import botocore.config
import botocore.exceptions
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from kms_course.sandbox import rules, start as sandbox
from kms_course.sandbox.server import ThreadedServer

# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server_url():
    """The moto sandbox of this process, plus a course server thread sharing its state."""
    sandbox.start_sandbox("moto", quiet=True)
    with ThreadedServer() as url:
        yield url


@pytest.fixture(params=["moto", "moto-server"])
def kms(request, server_url):
    """A KMS client on an emptied sandbox, for each sandbox backend."""
    sandbox.reset()
    if request.param == "moto":
        return sandbox.kms_client()
    return boto3.client(
        "kms",
        endpoint_url=server_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def new_key(kms, **kwargs) -> dict:
    return kms.create_key(**kwargs)["KeyMetadata"]


def symmetric(kms) -> dict:
    return new_key(kms)


def signing(kms, spec: str = "ECC_NIST_P256") -> dict:
    return new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec=spec)


def hmac_key(kms) -> dict:
    return new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")


def agreement(kms) -> dict:
    return new_key(kms, KeyUsage="KEY_AGREEMENT", KeySpec="ECC_NIST_P256")


def rsa_encryption(kms) -> dict:
    return new_key(kms, KeyUsage="ENCRYPT_DECRYPT", KeySpec="RSA_2048")


@contextlib.contextmanager
def validation_error():
    """ValidationException is a common AWS error, not one of KMS's modeled exceptions, so
    botocore raises a plain ClientError with that code (as it does against real KMS)."""
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        yield excinfo
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"


# --- key state (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html) -------


def crypto_calls(kms, key_id: str, blob: bytes) -> dict:
    """The cryptographic operations of a symmetric encryption key, by name."""
    return {
        "encrypt": lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"),
        "decrypt": lambda: kms.decrypt(CiphertextBlob=blob),
        "generate_data_key": lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
        "generate_data_key_without_plaintext": lambda: kms.generate_data_key_without_plaintext(
            KeyId=key_id, KeySpec="AES_256"
        ),
        "re_encrypt": lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id),
        "generate_data_key_pair": lambda: kms.generate_data_key_pair(
            KeyId=key_id, KeyPairSpec="ECC_NIST_P256"
        ),
    }


CRYPTO_OPS = list(crypto_calls(None, "", b""))


@pytest.mark.parametrize("op", CRYPTO_OPS)
def test_disabled_key_refuses_cryptographic_operations_C13(kms, op):
    key = symmetric(kms)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hi")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(kms.exceptions.DisabledException) as excinfo:
        crypto_calls(kms, key["KeyId"], blob)[op]()
    assert str(excinfo.value).endswith(f"{key['Arn']} is disabled.")


@pytest.mark.parametrize("op", CRYPTO_OPS)
def test_pending_deletion_key_refuses_cryptographic_operations_C14(kms, op):
    key = symmetric(kms)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hi")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(kms.exceptions.KMSInvalidStateException) as excinfo:
        crypto_calls(kms, key["KeyId"], blob)[op]()
    assert str(excinfo.value).endswith(f"{key['Arn']} is pending deletion.")


def test_disabled_key_refuses_sign_verify_mac_and_public_key(kms):
    sig, mac = signing(kms), hmac_key(kms)
    signature = kms.sign(
        KeyId=sig["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    tag = kms.generate_mac(KeyId=mac["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    kms.disable_key(KeyId=sig["KeyId"])
    kms.disable_key(KeyId=mac["KeyId"])
    calls = [
        lambda: kms.sign(KeyId=sig["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256"),
        lambda: kms.verify(
            KeyId=sig["KeyId"], Message=b"m", Signature=signature, SigningAlgorithm="ECDSA_SHA_256"
        ),
        lambda: kms.get_public_key(KeyId=sig["KeyId"]),
        lambda: kms.generate_mac(KeyId=mac["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256"),
        lambda: kms.verify_mac(
            KeyId=mac["KeyId"], Message=b"m", Mac=tag, MacAlgorithm="HMAC_SHA_256"
        ),
    ]
    for call in calls:
        with pytest.raises(kms.exceptions.DisabledException):
            call()


def test_external_origin_key_is_pending_import_and_refuses_encrypt(kms):
    """https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-create-cmk.html"""
    key = new_key(kms, Origin="EXTERNAL")
    assert (key["KeyState"], key["Enabled"], key["Origin"]) == ("PendingImport", False, "EXTERNAL")
    with pytest.raises(kms.exceptions.KMSInvalidStateException) as excinfo:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert str(excinfo.value).endswith(f"{key['Arn']} is pending import.")
    with pytest.raises(kms.exceptions.KMSInvalidStateException):
        kms.enable_key(KeyId=key["KeyId"])


def test_enable_key_refused_while_pending_deletion_C14(kms):
    key = symmetric(kms)
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(kms.exceptions.KMSInvalidStateException):
        kms.enable_key(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_cancel_key_deletion_refused_when_not_pending(kms):
    key = symmetric(kms)
    with pytest.raises(kms.exceptions.KMSInvalidStateException):
        kms.cancel_key_deletion(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_cancel_key_deletion_leaves_key_disabled_and_answers_arn_C14(kms):
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html"""
    key = symmetric(kms)
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert kms.cancel_key_deletion(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"]) == ("Disabled", False)
    assert "DeletionDate" not in meta
    with pytest.raises(kms.exceptions.DisabledException):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]


def test_key_state_operations_accept_a_key_arn(kms):
    """DisableKey, EnableKey, ScheduleKeyDeletion, CancelKeyDeletion: KeyId is a key ID or ARN."""
    key = symmetric(kms)
    arn = key["Arn"]
    kms.disable_key(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"
    kms.schedule_key_deletion(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms.cancel_key_deletion(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"


@pytest.mark.parametrize(
    "op", ["disable_key", "enable_key", "schedule_key_deletion", "cancel_key_deletion"]
)
def test_key_state_operations_refuse_an_alias(kms, op):
    key = symmetric(kms)
    kms.create_alias(AliasName="alias/state", TargetKeyId=key["KeyId"])
    with pytest.raises(kms.exceptions.NotFoundException):
        getattr(kms, op)(KeyId="alias/state")


# --- ScheduleKeyDeletion (API_ScheduleKeyDeletion.html) -----------------------------------------


@pytest.mark.parametrize("window", [3, 6, 31])
def test_schedule_key_deletion_window_outside_7_to_30_refused_C15(kms, window):
    key = symmetric(kms)
    with validation_error():
        kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=window)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_schedule_key_deletion_default_window_is_30_days_with_full_response(kms):
    key = symmetric(kms)
    before = datetime.now(timezone.utc)
    out = kms.schedule_key_deletion(KeyId=key["KeyId"])
    assert out["KeyId"] == key["Arn"]
    assert (out["KeyState"], out["PendingWindowInDays"]) == ("PendingDeletion", 30)
    assert abs(out["DeletionDate"] - (before + timedelta(days=30))) < timedelta(minutes=1)
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert meta["PendingDeletionWindowInDays"] == 30
    assert meta["Enabled"] is False


# --- CreateKey (API_CreateKey.html) -----------------------------------------------------------


def test_create_key_refuses_generate_key_pair_usage(kms):
    with validation_error():
        kms.create_key(KeyUsage="GENERATE_KEY_PAIR", KeySpec="RSA_2048")


@pytest.mark.parametrize(
    "usage, spec",
    [
        ("ENCRYPT_DECRYPT", "ECC_NIST_P256"),
        ("ENCRYPT_DECRYPT", "HMAC_256"),
        ("SIGN_VERIFY", "SYMMETRIC_DEFAULT"),
        ("SIGN_VERIFY", "HMAC_256"),
        ("SIGN_VERIFY", None),
        ("GENERATE_VERIFY_MAC", "RSA_2048"),
        ("GENERATE_VERIFY_MAC", "SYMMETRIC_DEFAULT"),
        ("KEY_AGREEMENT", "RSA_2048"),
        ("KEY_AGREEMENT", "HMAC_256"),
        ("KEY_AGREEMENT", "ECC_SECG_P256K1"),
    ],
)
def test_create_key_refuses_incompatible_usage_and_spec(kms, usage, spec):
    kwargs = {"KeyUsage": usage} | ({"KeySpec": spec} if spec else {})
    with validation_error():
        kms.create_key(**kwargs)
    assert kms.list_keys()["Keys"] == []


@pytest.mark.parametrize(
    "usage, spec, member, expected",
    [
        ("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", "EncryptionAlgorithms", ["SYMMETRIC_DEFAULT"]),
        ("ENCRYPT_DECRYPT", "RSA_2048", "EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
        ("SIGN_VERIFY", "ECC_NIST_P256", "SigningAlgorithms", ["ECDSA_SHA_256"]),
        ("GENERATE_VERIFY_MAC", "HMAC_256", "MacAlgorithms", ["HMAC_SHA_256"]),
        ("KEY_AGREEMENT", "ECC_NIST_P256", "KeyAgreementAlgorithms", ["ECDH"]),
    ],
)
def test_create_key_metadata_has_only_the_algorithms_that_fit(kms, usage, spec, member, expected):
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html (examples)"""
    created = new_key(kms, KeyUsage=usage, KeySpec=spec)
    described = kms.describe_key(KeyId=created["KeyId"])["KeyMetadata"]
    for meta in (created, described):
        assert meta[member] == expected
        others = {"EncryptionAlgorithms", "SigningAlgorithms", "MacAlgorithms",
                  "KeyAgreementAlgorithms"} - {member}
        assert not others & set(meta)
        assert (meta["KeyUsage"], meta["KeySpec"]) == (usage, spec)


def test_create_key_defaults(kms):
    """Defaults: KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT, Origin AWS_KMS, MultiRegion
    false, Enabled (CreateKey; DescribeKey example)."""
    meta = new_key(kms)
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["Origin"] == "AWS_KMS"
    assert meta["MultiRegion"] is False
    assert (meta["KeyState"], meta["Enabled"], meta["KeyManager"]) == ("Enabled", True, "CUSTOMER")
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"] == meta


def test_create_key_refuses_unknown_origin(kms):
    with validation_error():
        kms.create_key(Origin="BOGUS_ORIGIN")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"Origin": "AWS_CLOUDHSM"},
        {"Origin": "EXTERNAL_KEY_STORE"},
        {"Origin": "EXTERNAL_KEY_STORE", "CustomKeyStoreId": "cks-1234567890abcdef0"},
    ],
)
def test_create_key_custom_key_store_origin_needs_its_parameters(kms, kwargs):
    with validation_error():
        kms.create_key(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": "cks-1234567890abcdef0"},
        {"Origin": "EXTERNAL_KEY_STORE", "CustomKeyStoreId": "cks-1234567890abcdef0",
         "XksKeyId": "xks-key-1"},
    ],
)
def test_create_key_in_missing_custom_key_store(kms, kwargs):
    with pytest.raises(kms.exceptions.CustomKeyStoreNotFoundException):
        kms.create_key(**kwargs)


def test_create_alias_refuses_reserved_aws_prefix(kms):
    """https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html"""
    key = symmetric(kms)
    with pytest.raises(kms.exceptions.InvalidAliasNameException):
        kms.create_alias(AliasName="alias/aws/mything", TargetKeyId=key["KeyId"])
    names = [a["AliasName"] for a in kms.list_aliases(KeyId=key["KeyId"])["Aliases"]]
    assert "alias/aws/mything" not in names


# --- key usage (API_Encrypt.html, API_GenerateDataKey.html, API_Sign.html) ---------------------


@pytest.mark.parametrize("make", [signing, hmac_key, agreement])
def test_encrypt_with_a_non_encryption_key_is_invalid_key_usage(kms, make):
    key = make(kms)
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


@pytest.mark.parametrize("make", [signing, hmac_key, agreement, rsa_encryption])
def test_generate_data_key_needs_a_symmetric_encryption_key(kms, make):
    key = make(kms)
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")


def test_sign_with_an_encryption_key_is_invalid_key_usage(kms):
    key = symmetric(kms)
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")


def test_encryption_algorithm_must_fit_the_key(kms):
    rsa_key, sym = rsa_encryption(kms), symmetric(kms)
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.encrypt(KeyId=rsa_key["KeyId"], Plaintext=b"x")  # SYMMETRIC_DEFAULT on RSA
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.encrypt(KeyId=sym["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")


def test_rsa_encryption_is_real_rsa_oaep(kms):
    """Asymmetric ciphertext is RSA-OAEP (256 bytes for RSA_2048); Decrypt needs KeyId and the
    algorithm, and accepts ciphertext made locally with the public key (API_Decrypt.html)."""
    key = rsa_encryption(kms)
    out = kms.encrypt(
        KeyId=key["KeyId"], Plaintext=b"secret", EncryptionAlgorithm="RSAES_OAEP_SHA_256"
    )
    assert (len(out["CiphertextBlob"]), out["EncryptionAlgorithm"]) == (256, "RSAES_OAEP_SHA_256")
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    local = public.encrypt(b"made locally", oaep)
    for blob, plain in ((out["CiphertextBlob"], b"secret"), (local, b"made locally")):
        got = kms.decrypt(
            CiphertextBlob=blob, KeyId=key["Arn"], EncryptionAlgorithm="RSAES_OAEP_SHA_256"
        )
        assert (got["Plaintext"], got["KeyId"]) == (plain, key["Arn"])


def test_symmetric_encrypt_and_decrypt_name_the_algorithm(kms):
    """Encrypt and Decrypt responses carry EncryptionAlgorithm (API_Encrypt.html)."""
    key = symmetric(kms)
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hi")
    assert (out["KeyId"], out["EncryptionAlgorithm"]) == (key["Arn"], "SYMMETRIC_DEFAULT")
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
    assert (back["Plaintext"], back["EncryptionAlgorithm"]) == (b"hi", "SYMMETRIC_DEFAULT")


# --- rotation (API_EnableKeyRotation.html, API_RotateKeyOnDemand.html) -------------------------


@pytest.mark.parametrize(
    "make",
    [rsa_encryption, signing, hmac_key, lambda kms: new_key(kms, Origin="EXTERNAL")],
    ids=["rsa", "ecc", "hmac", "external"],
)
def test_only_symmetric_kms_origin_keys_rotate_C16(kms, make):
    key = make(kms)
    with pytest.raises(kms.exceptions.UnsupportedOperationException):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    with pytest.raises(kms.exceptions.UnsupportedOperationException):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])


def test_rotation_period_above_2560_days_refused_C16(kms):
    key = symmetric(kms)
    with validation_error():
        kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=2561)
    with pytest.raises(botocore.exceptions.ParamValidationError):  # 89 < 90: botocore says no
        kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=89)
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


@pytest.mark.parametrize("period", [None, 90, 180, 2560])
def test_rotation_status_reports_period_and_next_date(kms, period):
    key = symmetric(kms)
    kwargs = {"RotationPeriodInDays": period} if period else {}
    before = datetime.now(timezone.utc)
    kms.enable_key_rotation(KeyId=key["Arn"], **kwargs)
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    days = period or 365
    assert status["KeyRotationEnabled"] is True
    assert (status["KeyId"], status["RotationPeriodInDays"]) == (key["Arn"], days)
    assert abs(status["NextRotationDate"] - (before + timedelta(days=days))) < timedelta(minutes=1)
    kms.disable_key_rotation(KeyId=key["KeyId"])
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


def test_on_demand_rotation_is_listed_and_old_ciphertext_still_decrypts(kms):
    key = symmetric(kms)
    old = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"before rotation")["CiphertextBlob"]
    assert kms.rotate_key_on_demand(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert [(r["KeyId"], r["RotationType"]) for r in rotations] == [(key["Arn"], "ON_DEMAND")]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before rotation"


def test_on_demand_rotation_limit_is_25(kms):
    key = symmetric(kms)
    for _ in range(25):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    with pytest.raises(kms.exceptions.LimitExceededException):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])


# --- decrypt, verify, public key ------------------------------------------------------------


def test_decrypt_naming_another_key_is_incorrect_key_C18(kms):
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html (IncorrectKeyException)"""
    k1, k2 = symmetric(kms), symmetric(kms)
    blob = kms.encrypt(KeyId=k1["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(kms.exceptions.IncorrectKeyException):
        kms.decrypt(CiphertextBlob=blob, KeyId=k2["KeyId"])
    with pytest.raises(kms.exceptions.IncorrectKeyException):
        kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=k2["Arn"], DestinationKeyId=k2["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob, KeyId=k1["Arn"])["Plaintext"] == b"x"


def test_base64_text_of_a_ciphertext_is_invalid_ciphertext_C02(kms):
    key = symmetric(kms)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=base64.b64encode(blob))
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_verify_with_a_bad_signature_raises(kms):
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html"""
    key = signing(kms)
    sig = kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    ok = kms.verify(KeyId=key["KeyId"], Message=b"m", Signature=sig["Signature"],
                    SigningAlgorithm="ECDSA_SHA_256")
    assert ok["SignatureValid"] is True
    with pytest.raises(kms.exceptions.KMSInvalidSignatureException):
        kms.verify(KeyId=key["KeyId"], Message=b"tampered", Signature=sig["Signature"],
                   SigningAlgorithm="ECDSA_SHA_256")


@pytest.mark.parametrize("make", [symmetric, hmac_key])
def test_get_public_key_of_a_symmetric_key_is_unsupported(kms, make):
    key = make(kms)
    with pytest.raises(kms.exceptions.UnsupportedOperationException):
        kms.get_public_key(KeyId=key["KeyId"])


def test_get_public_key_fields(kms):
    """KeyId (ARN), KeySpec, KeyUsage and the key's algorithms (API_GetPublicKey.html)."""
    key = signing(kms)
    out = kms.get_public_key(KeyId=key["KeyId"])
    assert (out["KeyId"], out["KeySpec"], out["KeyUsage"]) == (key["Arn"], "ECC_NIST_P256",
                                                                "SIGN_VERIFY")
    assert out["SigningAlgorithms"] == ["ECDSA_SHA_256"]
    assert "EncryptionAlgorithms" not in out
    assert isinstance(serialization.load_der_public_key(out["PublicKey"]), ec.EllipticCurvePublicKey)


def test_mac_algorithm_must_fit_the_hmac_key(kms):
    """HMAC_SHA_512 on an HMAC_256 key (API_GenerateMac.html)."""
    key = hmac_key(kms)
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.generate_mac(KeyId=key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_512")
    out = kms.generate_mac(KeyId=key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert (len(out["Mac"]), out["KeyId"]) == (32, key["Arn"])


# --- modeled exceptions and missing operations ------------------------------------------------


def test_errors_are_the_modeled_botocore_exceptions(kms):
    """A notebook's ``except kms.exceptions.DisabledException:`` catches the sandbox's error."""
    key = symmetric(kms)
    kms.disable_key(KeyId=key["KeyId"])
    try:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    except kms.exceptions.DisabledException as error:
        caught = error
    assert type(caught).__name__ == "DisabledException"
    assert caught.response["Error"]["Code"] == "DisabledException"
    assert caught.response["ResponseMetadata"]["HTTPStatusCode"] == 400


IMPLEMENTED_BY_RULES = {"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}


@pytest.mark.parametrize(
    "operation",
    sorted(set(rules.kms_operations()) - IMPLEMENTED_BY_RULES),
)
def test_every_botocore_operation_is_answered_by_a_kms_error(kms, operation):
    """No Python NotImplementedError, no HTTP 500: an operation moto lacks is
    UnsupportedOperationException; any other call without its parameters (botocore's checks
    off) is an HTTP 400 with a KMS error code, e.g. ValidationException for a missing member."""
    raw = boto3.client(
        "kms",
        endpoint_url=kms.meta.endpoint_url if "127.0.0.1" in kms.meta.endpoint_url else None,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    try:
        raw._make_api_call(operation, {})
    except botocore.exceptions.ClientError as caught:
        error = caught.response
    else:
        assert operation not in MISSING and not raw.meta.service_model.operation_model(
            operation
        ).input_shape.required_members, f"{operation} answered a request without its members"
        return
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    if operation in MISSING:
        assert error["Error"]["Code"] == "UnsupportedOperationException"
        assert error["Error"]["Message"] == f"{operation} is not available in the offline sandbox."
    else:
        modeled = {shape.name for shape in raw.meta.service_model.error_shapes}
        assert error["Error"]["Code"] in modeled | {"ValidationException"}


MISSING: set[str] = set()


@pytest.fixture(autouse=True, scope="module")
def _missing_operations(server_url):
    MISSING.update(rules.missing_operations())
    assert MISSING, "rules.install() found no operation missing from moto"


@pytest.mark.parametrize(
    "spec, kind",
    [("RSA_2048", rsa.RSAPublicKey), ("ECC_NIST_P256", ec.EllipticCurvePublicKey),
     ("ECC_NIST_P384", ec.EllipticCurvePublicKey)],
)
def test_generate_data_key_pair(kms, spec, kind):
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html"""
    key = symmetric(kms)
    out = kms.generate_data_key_pair(
        KeyId=key["KeyId"], KeyPairSpec=spec, EncryptionContext={"purpose": "test"}
    )
    assert (out["KeyId"], out["KeyPairSpec"]) == (key["Arn"], spec)
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
    public = serialization.load_der_public_key(out["PublicKey"])
    assert isinstance(public, kind)
    assert private.public_key().public_numbers() == public.public_numbers()
    back = kms.decrypt(
        CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext={"purpose": "test"}
    )
    assert back["Plaintext"] == out["PrivateKeyPlaintext"]
    bare = kms.generate_data_key_pair_without_plaintext(KeyId=key["KeyId"], KeyPairSpec=spec)
    assert "PrivateKeyPlaintext" not in bare and bare["PrivateKeyCiphertextBlob"]


# --- aliases of AWS managed keys, key policy name ----------------------------------------------


def test_aws_managed_key_reports_key_manager_aws_and_listed_target(kms):
    """DescribeKey on a predefined alias/aws/ alias gives the AWS managed key (KeyManager AWS);
    ListAliases lists it with that key's ID, and omits TargetKeyId before the key exists
    (API_DescribeKey.html, API_ListAliases.html)."""
    listed = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    assert "TargetKeyId" not in listed["alias/aws/s3"]
    meta = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS"
    listed = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    assert listed["alias/aws/s3"]["TargetKeyId"] == meta["KeyId"]


def test_key_policy_name_defaults_to_default(kms):
    """PolicyName is optional in GetKeyPolicy and PutKeyPolicy (API_GetKeyPolicy.html)."""
    key = symmetric(kms)
    policy = kms.get_key_policy(KeyId=key["KeyId"])["Policy"]
    assert policy == kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    assert '"kms:*"' in policy
