"""Hints for the mistakes lesson 09 provokes: Verify and VerifyMac raise rather than answer False
(API_Verify, API_VerifyMac), and a RAW message to sign has at most 4096 bytes (API_Sign)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from kms_course.lessons.hints import hint_for


def _hint(call):
    with pytest.raises(ClientError) as info:
        call()
    return hint_for(info.value)


def test_a_bad_signature_a_bad_mac_and_a_long_raw_message_get_their_hints(kms):
    signer = kms.create_key(KeyUsage="SIGN_VERIFY",
                            KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    signature = kms.sign(KeyId=signer, Message=b"m",
                         SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    hint = _hint(lambda: kms.verify(KeyId=signer, Message=b"n", Signature=signature,
                                    SigningAlgorithm="ECDSA_SHA_256"))
    assert hint.startswith("Hint: Verify never answers SignatureValid False")
    hint = _hint(lambda: kms.sign(KeyId=signer, Message=bytes(4097),
                                  SigningAlgorithm="ECDSA_SHA_256"))
    assert hint.startswith("Hint: a RAW message to sign is at most 4096 bytes")
    assert "MessageType='DIGEST'" in hint

    mac_key = kms.create_key(KeyUsage="GENERATE_VERIFY_MAC",
                             KeySpec="HMAC_256")["KeyMetadata"]["KeyId"]
    hint = _hint(lambda: kms.verify_mac(KeyId=mac_key, Message=b"m", Mac=bytes(32),
                                        MacAlgorithm="HMAC_SHA_256"))
    assert hint.startswith("Hint: VerifyMac never answers MacValid False")


def test_a_digest_of_the_wrong_length_gets_no_long_message_hint(kms):
    signer = kms.create_key(KeyUsage="SIGN_VERIFY",
                            KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    assert _hint(lambda: kms.sign(KeyId=signer, Message=bytes(10), MessageType="DIGEST",
                                  SigningAlgorithm="ECDSA_SHA_256")) is None
