"""The checks of lessons 05-08: each passes on a correct answer and fails, with a message that
names the mistake, on specific wrong answers.

The ``kms`` fixture (tests/conftest.py) is the in-process moto sandbox, emptied before each test.
The expected values come from the AWS documentation cited in each check module (for example the
7-30 day deletion window of ScheduleKeyDeletion, and CancelKeyDeletion leaving a key Disabled).
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from _verdicts import assert_fails, assert_passes, new_key, verdict  # noqa: E402


# --- lesson 07: key deletion ---------------------------------------------------------------------


def test_07_disable_key_passes_on_disabled_key_and_right_error(kms):
    key = new_key(kms)
    kms.disable_key(KeyId=key)
    with pytest.raises(kms.exceptions.DisabledException):
        kms.encrypt(KeyId=key, Plaintext=b"hello")
    assert_passes(kms, "07-disable-key", paused_key_id=key, paused_error_code="DisabledException")


def test_07_disable_key_fails_on_a_typed_in_error_code(kms):
    """Bug: the literal 'DisabledException' passed without any call being refused."""
    key = new_key(kms)
    kms.disable_key(KeyId=key)
    assert_fails(
        kms, "07-disable-key", "no record of a call refused with DisabledException",
        paused_key_id=key, paused_error_code="DisabledException",
    )


def test_07_disable_key_fails_when_key_still_enabled(kms):
    key = new_key(kms)
    assert_fails(
        kms, "07-disable-key", "not Disabled",
        paused_key_id=key, paused_error_code="DisabledException",
    )


def test_07_disable_key_fails_on_the_pending_deletion_error_code(kms):
    key = new_key(kms)
    kms.disable_key(KeyId=key)
    assert_fails(
        kms, "07-disable-key", "DisabledException",
        paused_key_id=key, paused_error_code="KMSInvalidStateException",
    )


def test_07_disable_key_fails_on_unknown_key_and_missing_answer(kms):
    assert_fails(
        kms, "07-disable-key", "no KMS key with that ID exists in the sandbox",
        paused_key_id="1234abcd-12ab-34cd-56ef-1234567890ab", paused_error_code="DisabledException",
    )
    assert_fails(kms, "07-disable-key", "`paused_key_id` is not defined")


def test_07_schedule_deletion_passes_with_seven_days(kms):
    key = new_key(kms)
    response = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert_passes(
        kms, "07-schedule-deletion",
        doomed_key_id=key, doomed_window_days=response["PendingWindowInDays"],
    )


def test_07_schedule_deletion_fails_with_default_thirty_days(kms):
    key = new_key(kms)
    kms.schedule_key_deletion(KeyId=key)  # default window: 30 days
    assert_fails(
        kms, "07-schedule-deletion", "about 30 days",
        doomed_key_id=key, doomed_window_days=30,
    )


def test_07_schedule_deletion_fails_when_not_scheduled_or_window_not_an_int(kms):
    key = new_key(kms)
    assert_fails(
        kms, "07-schedule-deletion", "not PendingDeletion",
        doomed_key_id=key, doomed_window_days=7,
    )
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert_fails(
        kms, "07-schedule-deletion", "`doomed_window_days` is '7'",
        doomed_key_id=key, doomed_window_days="7",
    )


def test_07_cancel_deletion_passes_after_cancel_enable_and_encrypt(kms):
    key = new_key(kms)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=30)
    kms.cancel_key_deletion(KeyId=key)
    kms.enable_key(KeyId=key)
    blob = kms.encrypt(KeyId=key, Plaintext=b"saved in time")["CiphertextBlob"]
    assert_passes(kms, "07-cancel-deletion", rescued_key_id=key, rescued_ciphertext=blob)


def test_07_cancel_deletion_fails_when_key_left_disabled(kms):
    key = new_key(kms)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key)
    assert_fails(
        kms, "07-cancel-deletion", "leaves the key disabled",
        rescued_key_id=key, rescued_ciphertext=b"x",
    )


def test_07_cancel_deletion_fails_when_still_pending(kms):
    key = new_key(kms)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert_fails(
        kms, "07-cancel-deletion", "still pending deletion",
        rescued_key_id=key, rescued_ciphertext=b"x",
    )


def test_07_cancel_deletion_fails_when_no_deletion_was_scheduled(kms):
    """Bug: a key never scheduled for deletion (so never rescued) passed."""
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key, Plaintext=b"saved in time")["CiphertextBlob"]
    assert_fails(
        kms, "07-cancel-deletion", "was never scheduled, so there was nothing to rescue",
        rescued_key_id=key, rescued_ciphertext=blob,
    )
    with pytest.raises(kms.exceptions.KMSInvalidStateException):
        kms.cancel_key_deletion(KeyId=key)  # a refused cancel is no rescue either
    assert_fails(kms, "07-cancel-deletion", "was never scheduled",
                 rescued_key_id=key, rescued_ciphertext=blob)


def test_07_cancel_deletion_fails_on_ciphertext_of_another_key_or_text(kms):
    key, other = new_key(kms), new_key(kms)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key)
    kms.enable_key(KeyId=key)
    foreign = kms.encrypt(KeyId=other, Plaintext=b"saved in time")["CiphertextBlob"]
    assert_fails(
        kms, "07-cancel-deletion", "does not decrypt under the rescued key",
        rescued_key_id=key, rescued_ciphertext=foreign,
    )
    wrong_text = kms.encrypt(KeyId=key, Plaintext=b"saved")["CiphertextBlob"]
    assert_fails(
        kms, "07-cancel-deletion", "decrypts to b'saved'",
        rescued_key_id=key, rescued_ciphertext=wrong_text,
    )


# --- lesson 06: key rotation ---------------------------------------------------------------------


def test_06_enable_rotation_passes_with_180_days(kms):
    key = new_key(kms)
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=180)
    assert_passes(kms, "06-enable-rotation", rotating_key_id=key)


def test_06_enable_rotation_fails_with_default_period(kms):
    key = new_key(kms)
    kms.enable_key_rotation(KeyId=key)  # default period: 365 days (EnableKeyRotation)
    assert_fails(kms, "06-enable-rotation", "365 days, not 180", rotating_key_id=key)


def test_06_enable_rotation_fails_when_rotation_off_or_key_asymmetric(kms):
    key = new_key(kms)
    assert_fails(kms, "06-enable-rotation", "not enabled", rotating_key_id=key)
    ecc = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    assert_fails(kms, "06-enable-rotation", "only symmetric encryption keys", rotating_key_id=ecc)


def test_06_rotate_on_demand_passes_and_old_ciphertext_decrypts(kms):
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key, Plaintext=b"before rotation")["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key)
    assert_passes(kms, "06-rotate-on-demand", ondemand_key_id=key, ondemand_old_ciphertext=blob)


def test_06_rotate_on_demand_fails_when_only_automatic_rotation_enabled(kms):
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key, Plaintext=b"before rotation")["CiphertextBlob"]
    kms.enable_key_rotation(KeyId=key)
    assert_fails(
        kms, "06-rotate-on-demand", "no ON_DEMAND rotation",
        ondemand_key_id=key, ondemand_old_ciphertext=blob,
    )


def test_06_rotate_on_demand_fails_on_base64_text_or_foreign_ciphertext(kms):
    key, other = new_key(kms), new_key(kms)
    blob = kms.encrypt(KeyId=key, Plaintext=b"before rotation")["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key)
    assert_fails(
        kms, "06-rotate-on-demand", "`ondemand_old_ciphertext` is a str; KMS returns bytes",
        ondemand_key_id=key, ondemand_old_ciphertext=base64.b64encode(blob).decode(),
    )
    assert_fails(
        kms, "06-rotate-on-demand", "should be the bytes of response['CiphertextBlob'], not dict",
        ondemand_key_id=key, ondemand_old_ciphertext={"CiphertextBlob": blob},
    )
    foreign = kms.encrypt(KeyId=other, Plaintext=b"before rotation")["CiphertextBlob"]
    assert_fails(
        kms, "06-rotate-on-demand", "does not decrypt under this key",
        ondemand_key_id=key, ondemand_old_ciphertext=foreign,
    )


def test_06_rotate_on_demand_fails_when_rotated_before_encrypting(kms):
    """Bug: rotating first and encrypting after passed, though the exercise shows that a
    ciphertext made before the rotation still decrypts."""
    key = new_key(kms)
    kms.rotate_key_on_demand(KeyId=key)
    blob = kms.encrypt(KeyId=key, Plaintext=b"before rotation")["CiphertextBlob"]
    assert_fails(
        kms, "06-rotate-on-demand", "rotated before anything was encrypted under it",
        ondemand_key_id=key, ondemand_old_ciphertext=blob,
    )
    kms.rotate_key_on_demand(KeyId=key)  # a second rotation does not make the first one later
    assert_fails(kms, "06-rotate-on-demand", "rotated before anything was encrypted",
                 ondemand_key_id=key, ondemand_old_ciphertext=blob)


def test_06_cannot_rotate_fails_on_a_typed_in_error_code(kms):
    """Bug: the literal 'UnsupportedOperationException' passed without the call being made."""
    mac = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    assert_fails(
        kms, "06-cannot-rotate", "no record of kms.enable_key_rotation being refused",
        mac_key_id=mac, mac_rotation_error="UnsupportedOperationException",
    )


def test_06_cannot_rotate_passes_for_hmac_key_and_unsupported_operation(kms):
    mac = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    with pytest.raises(kms.exceptions.UnsupportedOperationException):
        kms.enable_key_rotation(KeyId=mac)
    assert_passes(
        kms, "06-cannot-rotate", mac_key_id=mac, mac_rotation_error="UnsupportedOperationException"
    )


def test_06_cannot_rotate_fails_for_symmetric_key_or_wrong_code(kms):
    key = new_key(kms)
    assert_fails(
        kms, "06-cannot-rotate", "not an HMAC key",
        mac_key_id=key, mac_rotation_error="UnsupportedOperationException",
    )
    mac = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    with pytest.raises(kms.exceptions.UnsupportedOperationException):
        kms.enable_key_rotation(KeyId=mac)
    assert_fails(
        kms, "06-cannot-rotate", "UnsupportedOperationException",
        mac_key_id=mac, mac_rotation_error=None,
    )


# --- lesson 05: data keys and envelope encryption -----------------------------------------------

MINUTES = b"Board minutes: merger approved"
MINUTES_CONTEXT = {"document_id": "minutes-7"}


def seal(kms, key_id, document, context, *, nonce=None, kms_context=True, aad=True, data_key=None):
    """The lesson's seal(), with switches for the mistakes students make."""
    if data_key is None:
        kwargs = {"EncryptionContext": context} if kms_context else {}
        data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", **kwargs)
    nonce = os.urandom(12) if nonce is None else nonce
    associated = json.dumps(context, sort_keys=True).encode() if aad else None
    return {
        "encrypted_data_key": data_key["CiphertextBlob"],
        "nonce": nonce,
        "ciphertext": AESGCM(data_key["Plaintext"]).encrypt(nonce, document, associated),
    }


def test_05_generate_data_key_passes(kms):
    key = new_key(kms)
    context = {"purpose": "lesson-05"}
    dk = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=context)
    assert len(dk["Plaintext"]) == 32  # AES_256 data key: 32 bytes (GenerateDataKey)
    assert_passes(
        kms, "05-generate-data-key",
        dk_key_id=key, dk_encrypted_data_key=dk["CiphertextBlob"], dk_plaintext_length=32,
    )


def test_05_generate_data_key_fails_without_context(kms):
    key = new_key(kms)
    dk = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    assert_fails(
        kms, "05-generate-data-key", "generated without the encryption context",
        dk_key_id=key, dk_encrypted_data_key=dk["CiphertextBlob"], dk_plaintext_length=32,
    )


def test_05_generate_data_key_fails_for_aes_128_and_wrong_length(kms):
    key = new_key(kms)
    ctx = {"purpose": "lesson-05"}
    dk = kms.generate_data_key(KeyId=key, KeySpec="AES_128", EncryptionContext=ctx)
    assert len(dk["Plaintext"]) == 16
    assert_fails(
        kms, "05-generate-data-key", "16 bytes, not 32",
        dk_key_id=key, dk_encrypted_data_key=dk["CiphertextBlob"], dk_plaintext_length=16,
    )
    dk = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=ctx)
    assert_fails(
        kms, "05-generate-data-key", "`dk_plaintext_length` is 256",
        dk_key_id=key, dk_encrypted_data_key=dk["CiphertextBlob"], dk_plaintext_length=256,
    )


def test_05_generate_data_key_fails_on_base64_text_and_other_key(kms):
    key, other = new_key(kms), new_key(kms)
    ctx = {"purpose": "lesson-05"}
    dk = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=ctx)
    assert_fails(
        kms, "05-generate-data-key", "`dk_encrypted_data_key` is a str; KMS returns bytes",
        dk_key_id=key, dk_encrypted_data_key=base64.b64encode(dk["CiphertextBlob"]).decode(),
        dk_plaintext_length=32,
    )
    assert_fails(
        kms, "05-generate-data-key", "does not decrypt under the given key",
        dk_key_id=other, dk_encrypted_data_key=dk["CiphertextBlob"], dk_plaintext_length=32,
    )


def test_05_seal_document_passes_with_fresh_nonce_and_data_key(kms):
    key = new_key(kms)
    assert_passes(
        kms, "05-seal-document", seal_key_id=key,
        sealed_first=seal(kms, key, MINUTES, MINUTES_CONTEXT),
        sealed_second=seal(kms, key, MINUTES, MINUTES_CONTEXT),
    )


@pytest.mark.parametrize(
    ("reused", "message"),
    [
        # Case C25: a constant nonce copied from a tutorial, used on every call.
        ("nonce", "same nonce"),
        ("data_key", "sealed with the same data key"),
    ],
)
def test_05_seal_document_fails_when_both_calls_share(kms, reused, message):
    key = new_key(kms)
    if reused == "nonce":
        shared = bytes(12)
    else:
        shared = kms.generate_data_key(
            KeyId=key, KeySpec="AES_256", EncryptionContext=MINUTES_CONTEXT
        )
    assert_fails(
        kms, "05-seal-document", message,
        seal_key_id=key,
        sealed_first=seal(kms, key, MINUTES, MINUTES_CONTEXT, **{reused: shared}),
        sealed_second=seal(kms, key, MINUTES, MINUTES_CONTEXT, **{reused: shared}),
    )


def test_05_seal_document_fails_on_one_data_key_encrypted_twice(kms):
    """Bug: the check compared the encrypted data keys, so one data key encrypted twice (two
    different blobs of the same key) passed as two fresh keys."""
    key = new_key(kms)
    shared = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=MINUTES_CONTEXT)
    again = kms.encrypt(KeyId=key, Plaintext=shared["Plaintext"],
                        EncryptionContext=MINUTES_CONTEXT)["CiphertextBlob"]
    first = seal(kms, key, MINUTES, MINUTES_CONTEXT, data_key=shared)
    second = seal(kms, key, MINUTES, MINUTES_CONTEXT,
                  data_key={"Plaintext": shared["Plaintext"], "CiphertextBlob": again})
    assert first["encrypted_data_key"] != second["encrypted_data_key"]
    assert_fails(kms, "05-seal-document", "sealed with the same data key",
                 seal_key_id=key, sealed_first=first, sealed_second=second)


def test_05_seal_document_fails_without_context_as_aad_or_in_kms(kms):
    key = new_key(kms)
    good = seal(kms, key, MINUTES, MINUTES_CONTEXT)
    assert_fails(
        kms, "05-seal-document", "without the encryption context as associated data",
        seal_key_id=key, sealed_first=seal(kms, key, MINUTES, MINUTES_CONTEXT, aad=False),
        sealed_second=good,
    )
    assert_fails(
        kms, "05-seal-document", "generated without the encryption context",
        seal_key_id=key, sealed_first=good,
        sealed_second=seal(kms, key, MINUTES, MINUTES_CONTEXT, kms_context=False),
    )


def test_05_seal_document_fails_on_the_wrong_context_or_document(kms):
    key = new_key(kms)
    good = seal(kms, key, MINUTES, MINUTES_CONTEXT)
    assert_fails(
        kms, "05-seal-document", "does not decrypt under the given key with the encryption context",
        seal_key_id=key, sealed_first=seal(kms, key, MINUTES, {"document_id": "minutes-8"}),
        sealed_second=good,
    )
    assert_fails(
        kms, "05-seal-document", "decrypts to b'Board minutes'",
        seal_key_id=key, sealed_first=seal(kms, key, b"Board minutes", MINUTES_CONTEXT),
        sealed_second=good,
    )


def test_05_seal_document_fails_on_wrong_shapes(kms):
    key = new_key(kms)
    good = seal(kms, key, MINUTES, MINUTES_CONTEXT)
    assert_fails(
        kms, "05-seal-document", "should be a dict",
        seal_key_id=key, sealed_first=good["ciphertext"], sealed_second=good,
    )
    text_nonce = dict(good, nonce=good["nonce"].hex())
    assert_fails(
        kms, "05-seal-document", "`sealed_second['nonce']` should be bytes",
        seal_key_id=key, sealed_first=good, sealed_second=text_nonce,
    )
    assert_fails(
        kms, "05-seal-document", "is 16 bytes",
        seal_key_id=key, sealed_first=good,
        sealed_second=seal(kms, key, MINUTES, MINUTES_CONTEXT, nonce=os.urandom(16)),
    )


DEFERRED_CONTEXT = {"job": "nightly-export"}


def deferred(kms, key, *, context=DEFERRED_CONTEXT, document=b"nightly export"):
    edk = kms.generate_data_key_without_plaintext(
        KeyId=key, KeySpec="AES_256", EncryptionContext=context
    )["CiphertextBlob"]
    plaintext_key = kms.decrypt(CiphertextBlob=edk, EncryptionContext=context)["Plaintext"]
    nonce = os.urandom(12)
    aad = json.dumps(DEFERRED_CONTEXT, sort_keys=True).encode()
    sealed = {"encrypted_data_key": edk, "nonce": nonce,
              "ciphertext": AESGCM(plaintext_key).encrypt(nonce, document, aad)}
    return edk, sealed


def test_05_deferred_data_key_passes(kms):
    key = new_key(kms)
    edk, sealed = deferred(kms, key)
    assert_passes(
        kms, "05-deferred-data-key",
        deferred_key_id=key, deferred_encrypted_data_key=edk, deferred_sealed=sealed,
    )


def test_05_deferred_data_key_fails_when_the_plaintext_came_at_once(kms):
    """Bug: a data key from generate_data_key (its plaintext returned at once) passed the
    exercise on generate_data_key_without_plaintext (issue 11 item 5)."""
    key = new_key(kms)
    edk = kms.generate_data_key(KeyId=key, KeySpec="AES_256",
                                EncryptionContext=DEFERRED_CONTEXT)["CiphertextBlob"]
    plaintext_key = kms.decrypt(CiphertextBlob=edk, EncryptionContext=DEFERRED_CONTEXT)["Plaintext"]
    nonce = os.urandom(12)
    aad = json.dumps(DEFERRED_CONTEXT, sort_keys=True).encode()
    sealed = {"encrypted_data_key": edk, "nonce": nonce,
              "ciphertext": AESGCM(plaintext_key).encrypt(nonce, b"nightly export", aad)}
    assert_fails(
        kms, "05-deferred-data-key", "no record of kms.generate_data_key_without_plaintext",
        deferred_key_id=key, deferred_encrypted_data_key=edk, deferred_sealed=sealed,
    )


def test_05_deferred_data_key_fails_when_sealed_with_another_data_key(kms):
    key = new_key(kms)
    edk, _ = deferred(kms, key)
    _, other_sealed = deferred(kms, key)
    assert_fails(
        kms, "05-deferred-data-key", "is not `deferred_encrypted_data_key`",
        deferred_key_id=key, deferred_encrypted_data_key=edk, deferred_sealed=other_sealed,
    )


def test_05_deferred_data_key_fails_on_wrong_context_or_document(kms):
    key = new_key(kms)
    edk, sealed = deferred(kms, key, context={"job": "weekly-export"})
    assert_fails(
        kms, "05-deferred-data-key", "does not decrypt",
        deferred_key_id=key, deferred_encrypted_data_key=edk, deferred_sealed=sealed,
    )
    edk, sealed = deferred(kms, key, document=b"daily export")
    assert_fails(
        kms, "05-deferred-data-key", "decrypts to b'daily export'",
        deferred_key_id=key, deferred_encrypted_data_key=edk, deferred_sealed=sealed,
    )
