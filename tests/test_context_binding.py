"""Encryption context bound exactly as AWS KMS binds it (kms_course.sandbox.context_binding), on
both sandbox backends.

AWS: Decrypt needs an exact, case-sensitive match of the encryption context used to encrypt
(its pairs in any order); anything else is InvalidCiphertextException
(https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html,
https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html). moto 5.2.5 joins keys and
values without separators, so {"ab": "c"} and {"a": "bc"} decrypted each other's ciphertext.
"""

from __future__ import annotations

import pytest

from kms_course.sandbox import context_binding, rules
from tests._time import box, code, time_server_url  # noqa: F401  (fixtures)

# Pairs of contexts that moto's encoding could not tell apart, and plain differences.
DIFFERENT = [
    ({"ab": "c"}, {"a": "bc"}),
    ({"a": "bcd"}, {"a": "b", "c": "d"}),
    ({"a": "b", "c": "d"}, {"ac": "bd"}),
    ({"k": ""}, {"": "k"}),
    ({"Dept": "eng"}, {"dept": "eng"}),
    ({"dept": "eng"}, {"dept": "Eng"}),
    ({"dept": "eng"}, {"dept": "eng", "x": "y"}),
    ({"dept": "eng"}, {}),
    ({"é": "1"}, {"e\u0301": "1"}),
]


@pytest.mark.parametrize("made, given", DIFFERENT)
def test_different_contexts_never_decrypt_each_other(box, made, given):
    kms = box.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    first = kms.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext=made)["CiphertextBlob"]
    second = kms.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext=given)["CiphertextBlob"]
    assert code(lambda: kms.decrypt(CiphertextBlob=first, EncryptionContext=given)) == \
        "InvalidCiphertextException"
    assert code(lambda: kms.decrypt(CiphertextBlob=second, EncryptionContext=made)) == \
        "InvalidCiphertextException"


def test_same_pairs_in_any_order_decrypt(box):
    kms = box.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"p",
                       EncryptionContext={"a": "1", "b": "2", "c": "3"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob,
                       EncryptionContext={"c": "3", "a": "1", "b": "2"})["Plaintext"] == b"p"


def test_data_keys_and_re_encrypt_are_bound_the_same_way(box):
    """GenerateDataKey and ReEncrypt (SourceEncryptionContext) use the same binding."""
    kms = box.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256",
                                     EncryptionContext={"ab": "c"})
    blob = data_key["CiphertextBlob"]
    assert code(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "bc"})) == \
        "InvalidCiphertextException"
    assert code(lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id,
                                       SourceEncryptionContext={"a": "bc"})) == \
        "InvalidCiphertextException"
    moved = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id,
                           SourceEncryptionContext={"ab": "c"},
                           DestinationEncryptionContext={"a": "bc"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=moved, EncryptionContext={"a": "bc"})["Plaintext"] == \
        data_key["Plaintext"]


def test_no_context_is_the_empty_context(box):
    """An empty context and no context are the same (no pairs)."""
    kms = box.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={})["Plaintext"] == b"p"


def test_associated_data_is_unambiguous():
    seen = {}
    for made, given in DIFFERENT:
        for context in (made, given):
            data = context_binding.associated_data(context)
            key = tuple(sorted(context.items()))
            assert seen.setdefault(data, key) == key, (context, seen[data])
    assert context_binding.associated_data({}) == b"" == context_binding.associated_data(None)
    with pytest.raises(TypeError):
        context_binding.associated_data({"a": 1})


def test_plain_moto_keeps_its_ambiguous_encoding(box):
    """The fidelity table's moto column measures moto's own binding (rules off)."""
    kms = box.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    rules.ENABLED = False
    try:
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"ab": "c"})["CiphertextBlob"]
        plain = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "bc"})["Plaintext"]
    finally:
        rules.ENABLED = True
    assert plain == b"p"
