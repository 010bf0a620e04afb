"""The checks of lesson 09 (asymmetric keys, signatures and MACs): each passes on a correct answer
and fails, with a message that names the mistake, on specific wrong answers, and a wrong attempt
leaves nothing that makes a later typed-in answer pass.

The ``kms`` fixture (tests/conftest.py) is the in-process moto sandbox, emptied before each test.
Expected values come from the AWS pages cited in kms_course/lessons/checks/l09_signing.py: VerifyMac
raises KMSInvalidMacException (API_VerifyMac), RSAES_OAEP_SHA_256 fits 190 / 318 / 446 bytes with
RSA_2048 / 3072 / 4096 (API_Encrypt), a DIGEST message is not hashed again (API_Sign).
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kms_course.lessons.checks import l09_signing as lesson
from _verdicts import assert_fails, assert_passes, new_key  # noqa: E402


def test_the_lessons_numbers_are_the_documented_ones():
    assert len(lesson.API_SECRET) == 300
    assert len(lesson.BIG_REPORT) > 4096  # Sign's RAW limit
    assert lesson.OAEP_SHA_256_LIMIT == {"RSA_2048": 190, "RSA_3072": 318, "RSA_4096": 446}


# --- 09-sign-release -----------------------------------------------------------------------------


def _ecdsa(kms, key, message=lesson.RELEASE_NOTE):
    return kms.sign(KeyId=key, Message=message, SigningAlgorithm="ECDSA_SHA_256")["Signature"]


def test_sign_release_passes_and_fails_on_other_spec_message_or_shape(kms):
    key = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    assert_passes(kms, "09-sign-release", release_key_id=key, release_signature=_ecdsa(kms, key))
    assert_fails(kms, "09-sign-release", "is not a signature of b'kms-course 9.0 is released'",
                 release_key_id=key, release_signature=_ecdsa(kms, key, b"kms-course 9.1"))
    assert_fails(kms, "09-sign-release", "is a str", release_key_id=key, release_signature="sig")
    p384 = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P384")
    assert_fails(kms, "09-sign-release", "KeySpec 'ECC_NIST_P384'", release_key_id=p384,
                 release_signature=b"x")
    assert_fails(kms, "09-sign-release", "KeyUsage 'ENCRYPT_DECRYPT'",
                 release_key_id=new_key(kms), release_signature=b"x")


def test_sign_release_fails_on_a_signature_made_outside_kms(kms):
    """A signature from another key (or library) is not the key's work: no Sign in the trail."""
    key = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    local = ec.generate_private_key(ec.SECP256R1()).sign(lesson.RELEASE_NOTE,
                                                         ec.ECDSA(hashes.SHA256()))
    assert_fails(kms, "09-sign-release", "no Sign call", release_key_id=key,
                 release_signature=local)


# --- 09-verify-offline ---------------------------------------------------------------------------


@pytest.fixture
def vendor(kms):
    key = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    sent = [b"Ship 120 units", b"Ship 75 units", b"Ship 980 units"]
    signatures = [_ecdsa(kms, key, m) for m in sent]
    received = [sent[0], b"Ship 750 units", sent[2]]
    return {"vendor_key_id": key, "vendor_messages": received, "vendor_signatures": signatures}


def test_verify_offline_passes_with_the_public_key_and_the_right_list(kms, vendor):
    public = kms.get_public_key(KeyId=vendor["vendor_key_id"])["PublicKey"]
    assert_passes(kms, "09-verify-offline", vendor_public_key=public,
                  genuine=[True, False, True], **vendor)
    assert_fails(kms, "09-verify-offline", "wrong for message number 2 (counting from 1)",
                 vendor_public_key=public, genuine=[True, True, True], **vendor)
    assert_fails(kms, "09-verify-offline", "`genuine` has 2 values, but there are 3 messages",
                 vendor_public_key=public, genuine=[True, False], **vendor)
    assert_fails(kms, "09-verify-offline", "list of True/False", vendor_public_key=public,
                 genuine="TFT", **vendor)
    assert_fails(kms, "09-verify-offline", "not the public key of the vendor's key",
                 vendor_public_key=public[:-1] + b"\0", genuine=[True, False, True], **vendor)


def test_verify_offline_fails_when_kms_verify_was_called(kms, vendor):
    public = kms.get_public_key(KeyId=vendor["vendor_key_id"])["PublicKey"]
    kms.verify(KeyId=vendor["vendor_key_id"], Message=vendor["vendor_messages"][0],
               Signature=vendor["vendor_signatures"][0], SigningAlgorithm="ECDSA_SHA_256")
    assert_fails(kms, "09-verify-offline", "1 Verify call(s)", vendor_public_key=public,
                 genuine=[True, False, True], **vendor)


def test_verify_offline_needs_the_students_own_get_public_key(kms, vendor):
    """The check's own GetPublicKey must not count as the student's (read the trail first)."""
    from moto.kms.models import kms_backends

    from kms_course.sandbox.rules.asymmetric import public_key_der

    moto_key = kms_backends["123456789012"]["us-east-1"].keys[vendor["vendor_key_id"]]
    public = public_key_der(moto_key)  # the right bytes, without a GetPublicKey call
    for _ in range(2):  # a second run after the first failure still fails
        assert_fails(kms, "09-verify-offline", "no GetPublicKey call", vendor_public_key=public,
                     genuine=[True, False, True], **vendor)


# --- 09-sign-digest ------------------------------------------------------------------------------


def test_sign_digest_passes_and_fails_on_raw_digest_or_ecc_key(kms):
    key = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")
    digest = hashlib.sha256(lesson.BIG_REPORT).digest()
    good = kms.sign(KeyId=key, Message=digest, MessageType="DIGEST",
                    SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    assert_passes(kms, "09-sign-digest", report_key_id=key, report_signature=good)

    other = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")
    twice = kms.sign(KeyId=other, Message=digest,
                     SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]  # hashed again
    assert_fails(kms, "09-sign-digest", "no Sign call with MessageType 'DIGEST'",
                 report_key_id=other, report_signature=twice)
    wrong = kms.sign(KeyId=other, Message=hashlib.sha256(b"other").digest(),
                     MessageType="DIGEST", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    assert_fails(kms, "09-sign-digest", "is not an RSASSA_PSS_SHA_256 signature of `big_report`",
                 report_key_id=other, report_signature=wrong)
    ecc = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    assert_fails(kms, "09-sign-digest", "needs an RSA key", report_key_id=ecc,
                 report_signature=good)


# --- 09-mac-session ------------------------------------------------------------------------------


def _mac(kms, key, message=lesson.SESSION_COOKIE):
    return kms.generate_mac(KeyId=key, Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"]


def test_mac_session_passes_after_the_refused_verify_mac(kms):
    key = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    mac = _mac(kms, key)
    with pytest.raises(kms.exceptions.KMSInvalidMacException):
        kms.verify_mac(KeyId=key, Message=lesson.FORGED_COOKIE, Mac=mac,
                       MacAlgorithm="HMAC_SHA_256")
    assert_passes(kms, "09-mac-session", mac_key_id=key, session_mac=mac,
                  forged_error_code="KMSInvalidMacException")
    assert_fails(kms, "09-mac-session", "`forged_error_code` is False", mac_key_id=key,
                 session_mac=mac, forged_error_code=False)


def test_mac_session_wrong_attempt_leaves_no_evidence_for_a_typed_in_code(kms):
    key = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    assert_fails(kms, "09-mac-session", "is not the MAC of b'session=42;user=alice'",
                 mac_key_id=key, session_mac=_mac(kms, key, lesson.FORGED_COOKIE),
                 forged_error_code="KMSInvalidMacException")
    assert_fails(kms, "09-mac-session", "no record of a VerifyMac call refused", mac_key_id=key,
                 session_mac=_mac(kms, key), forged_error_code="KMSInvalidMacException")


def test_mac_session_fails_on_another_hmac_spec(kms):
    key = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_512")
    assert_fails(kms, "09-mac-session", "KeySpec 'HMAC_512'", mac_key_id=key, session_mac=b"m",
                 forged_error_code="KMSInvalidMacException")


# --- 09-rsa-limit --------------------------------------------------------------------------------


def test_rsa_limit_passes_with_rsa_3072_and_oaep_sha_256(kms):
    key = new_key(kms, KeyUsage="ENCRYPT_DECRYPT", KeySpec="RSA_3072")
    blob = kms.encrypt(KeyId=key, Plaintext=lesson.API_SECRET,
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    assert_passes(kms, "09-rsa-limit", rsa_key_id=key, rsa_ciphertext=blob)
    sha1 = kms.encrypt(KeyId=key, Plaintext=lesson.API_SECRET,
                       EncryptionAlgorithm="RSAES_OAEP_SHA_1")["CiphertextBlob"]
    assert_fails(kms, "09-rsa-limit", "cannot decrypt `rsa_ciphertext` with RSAES_OAEP_SHA_256",
                 rsa_key_id=key, rsa_ciphertext=sha1)
    short = kms.encrypt(KeyId=key, Plaintext=b"secret",
                        EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    assert_fails(kms, "09-rsa-limit", "not to `api_secret`", rsa_key_id=key, rsa_ciphertext=short)


def test_rsa_limit_fails_on_a_bigger_key_or_a_symmetric_key(kms):
    big = new_key(kms, KeyUsage="ENCRYPT_DECRYPT", KeySpec="RSA_4096")
    assert_fails(kms, "09-rsa-limit", "not the smallest key spec", rsa_key_id=big,
                 rsa_ciphertext=b"x")
    assert_fails(kms, "09-rsa-limit", "KeySpec 'SYMMETRIC_DEFAULT'", rsa_key_id=new_key(kms),
                 rsa_ciphertext=b"x")


# --- 09-data-key-pair ----------------------------------------------------------------------------


def test_data_key_pair_passes_without_plaintext_and_fails_otherwise(kms):
    key = new_key(kms)
    pair = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="ECC_NIST_P256")
    assert_passes(kms, "09-data-key-pair", pair_kms_key_id=key, pair_public_key=pair["PublicKey"],
                  pair_private_ciphertext=pair["PrivateKeyCiphertextBlob"])
    other = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="ECC_NIST_P256")
    assert_fails(kms, "09-data-key-pair", "does not belong", pair_kms_key_id=key,
                 pair_public_key=other["PublicKey"],
                 pair_private_ciphertext=pair["PrivateKeyCiphertextBlob"])
    p384 = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="ECC_NIST_P384")
    assert_fails(kms, "09-data-key-pair", "not an ECC_NIST_P256 pair", pair_kms_key_id=key,
                 pair_public_key=p384["PublicKey"],
                 pair_private_ciphertext=p384["PrivateKeyCiphertextBlob"])


def test_data_key_pair_fails_when_the_plaintext_private_key_was_returned(kms):
    key = new_key(kms)
    pair = kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert_fails(kms, "09-data-key-pair", "also returned the private key in plaintext",
                 pair_kms_key_id=key, pair_public_key=pair["PublicKey"],
                 pair_private_ciphertext=pair["PrivateKeyCiphertextBlob"])


def test_data_key_pair_passes_with_an_encryption_context(kms):
    """GenerateDataKeyPairWithoutPlaintext takes an optional EncryptionContext, and Decrypt then
    needs the same one (API_GenerateDataKeyPairWithoutPlaintext, API_Decrypt): a correct answer
    that gave one passed 0/2 ("KMS cannot decrypt ... InvalidCiphertextException"), since the
    check decrypted without it. It reads the context from the trail."""
    key = new_key(kms)
    context = {"device": "sensor-17"}
    pair = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="ECC_NIST_P256",
                                                        EncryptionContext=context)
    with pytest.raises(kms.exceptions.InvalidCiphertextException):  # the context is needed
        kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"], KeyId=key)
    kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="ECC_NIST_P256")  # later
    assert_passes(kms, "09-data-key-pair", pair_kms_key_id=key, pair_public_key=pair["PublicKey"],
                  pair_private_ciphertext=pair["PrivateKeyCiphertextBlob"])
    assert_fails(kms, "09-data-key-pair", "KMS cannot decrypt `pair_private_ciphertext` "
                 "(InvalidCiphertextException)", pair_kms_key_id=key,
                 pair_public_key=pair["PublicKey"],
                 pair_private_ciphertext=pair["PrivateKeyCiphertextBlob"][:-1] + b"\0")


def test_the_received_orders_do_not_give_away_which_were_changed():
    """Found by a new user's trial: the changed messages said "warehouse 9", so `genuine` could be
    read off the printed list without verifying anything, for full points. Every received order
    must look alike, so only the signatures tell."""
    import json
    import re
    from pathlib import Path

    nb = json.loads((Path(__file__).parents[1] / "notebooks" / f"{lesson.LESSON}.ipynb").read_text())
    code = next("".join(c["source"]) for c in nb["cells"]
                if c["cell_type"] == "code" and "vendor_messages, vendor_signatures" in "".join(c["source"]))

    class Signer:
        def create_key(self, **_):
            return {"KeyMetadata": {"KeyId": "k"}}

        def sign(self, **_):
            return {"Signature": b"s"}

    for _ in range(20):
        names = {"kms": Signer(), "print": lambda *a: None}
        exec(code, names)
        assert len(names["vendor_messages"]) == 5
        assert all(re.fullmatch(rb"Ship \d+ units to warehouse 7", m) for m in names["vendor_messages"])
