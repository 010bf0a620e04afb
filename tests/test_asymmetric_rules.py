"""Sign, Verify and the added key specs in the sandbox (kms_course/sandbox/rules/asymmetric.py),
against the documented behaviour of AWS KMS.

Sources: Sign / Verify (https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html,
API_Verify.html: RAW messages of at most 4096 bytes, a DIGEST as long as the algorithm's hash and
not hashed again, EXTERNAL_MU of 64 bytes for ML-DSA, ED25519_SHA_512 RAW only,
KMSInvalidSignatureException), the key spec reference
(https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html: PSS with a salt
as long as the digest; signing algorithms of each spec), GetPublicKey (DER SubjectPublicKeyInfo),
and FIPS 204 table 2 for ML-DSA's key and signature sizes.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.serialization import load_der_public_key

from kms_course.sandbox.trail import trail


def signing_key(kms, spec: str) -> str:
    return kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=spec)["KeyMetadata"]["KeyId"]


def error_code(call) -> str:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_a_digest_is_not_hashed_again(kms):
    """PKCS #1 v1.5 is deterministic: signing the SHA-256 digest as DIGEST gives the signature of
    the message itself, and Verify accepts it for the RAW message."""
    key = signing_key(kms, "RSA_2048")
    alg = "RSASSA_PKCS1_V1_5_SHA_256"
    raw = kms.sign(KeyId=key, Message=b"hello", SigningAlgorithm=alg)["Signature"]
    digest = kms.sign(KeyId=key, Message=hashlib.sha256(b"hello").digest(), MessageType="DIGEST",
                      SigningAlgorithm=alg)["Signature"]
    assert raw == digest
    assert kms.verify(KeyId=key, Message=b"hello", Signature=digest,
                      SigningAlgorithm=alg)["SignatureValid"] is True


@pytest.mark.parametrize("spec, alg, length", [
    ("ECC_NIST_P256", "ECDSA_SHA_256", 32),
    ("ECC_NIST_P384", "ECDSA_SHA_384", 48),
    ("ECC_NIST_P521", "ECDSA_SHA_512", 64),
])
def test_a_digest_must_have_the_algorithms_length(kms, spec, alg, length):
    key = signing_key(kms, spec)
    kms.sign(KeyId=key, Message=bytes(length), MessageType="DIGEST", SigningAlgorithm=alg)
    for wrong in (length - 1, length + 1):
        assert error_code(lambda: kms.sign(KeyId=key, Message=bytes(wrong), MessageType="DIGEST",
                                           SigningAlgorithm=alg)) == "ValidationException"


def test_a_raw_message_has_at_most_4096_bytes(kms):
    key = signing_key(kms, "ECC_NIST_P256")
    kms.sign(KeyId=key, Message=bytes(4096), SigningAlgorithm="ECDSA_SHA_256")
    assert error_code(lambda: kms.sign(KeyId=key, Message=bytes(4097),
                                       SigningAlgorithm="ECDSA_SHA_256")) == "ValidationException"


@pytest.mark.parametrize("alg, hash_", [("RSASSA_PSS_SHA_256", hashes.SHA256),
                                        ("RSASSA_PSS_SHA_512", hashes.SHA512)])
def test_pss_signatures_verify_offline_with_a_salt_as_long_as_the_digest(kms, alg, hash_):
    key = signing_key(kms, "RSA_2048")
    signature = kms.sign(KeyId=key, Message=b"m", SigningAlgorithm=alg)["Signature"]
    public = load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    pss = padding.PSS(mgf=padding.MGF1(hash_()), salt_length=hash_.digest_size)
    public.verify(signature, b"m", pss, hash_())


def test_a_bad_signature_raises_and_a_good_one_verifies_offline(kms):
    key = signing_key(kms, "ECC_SECG_P256K1")
    signature = kms.sign(KeyId=key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"]).verify(
        signature, b"m", ec.ECDSA(hashes.SHA256()))
    assert error_code(lambda: kms.verify(KeyId=key, Message=b"n", Signature=signature,
                                         SigningAlgorithm="ECDSA_SHA_256")) \
        == "KMSInvalidSignatureException"


def test_ed25519_keys_sign_raw_messages_only(kms):
    meta = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_EDWARDS25519")["KeyMetadata"]
    assert meta["KeySpec"] == meta["CustomerMasterKeySpec"] == "ECC_NIST_EDWARDS25519"
    assert meta["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    key = meta["KeyId"]
    signature = kms.sign(KeyId=key, Message=b"m", SigningAlgorithm="ED25519_SHA_512")["Signature"]
    assert len(signature) == 64  # RFC 8032
    response = kms.get_public_key(KeyId=key)
    assert response["KeySpec"] == "ECC_NIST_EDWARDS25519"
    public = load_der_public_key(response["PublicKey"])
    assert isinstance(public, ed25519.Ed25519PublicKey)
    public.verify(signature, b"m")
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["SigningAlgorithms"][0] == "ED25519_SHA_512"
    assert error_code(lambda: kms.sign(KeyId=key, Message=bytes(64), MessageType="DIGEST",
                                       SigningAlgorithm="ED25519_SHA_512")) == "ValidationException"
    assert error_code(lambda: kms.sign(KeyId=key, Message=bytes(64), MessageType="DIGEST",
                                       SigningAlgorithm="ED25519_PH_SHA_512")) \
        == "UnsupportedOperationException"
    kms.disable_key(KeyId=key)
    assert error_code(lambda: kms.sign(KeyId=key, Message=b"m",
                                       SigningAlgorithm="ED25519_SHA_512")) == "DisabledException"


@pytest.mark.parametrize("spec, public_bytes, signature_bytes", [
    ("ML_DSA_44", 1312, 2420), ("ML_DSA_65", 1952, 3309), ("ML_DSA_87", 2592, 4627),
])
def test_ml_dsa_keys_sign_raw_and_external_mu(kms, spec, public_bytes, signature_bytes):
    meta = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=spec)["KeyMetadata"]
    assert meta["SigningAlgorithms"] == ["ML_DSA_SHAKE_256"]
    key = meta["KeyId"]
    signature = kms.sign(KeyId=key, Message=b"m", SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    assert len(signature) == signature_bytes
    public = load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    assert len(public.public_bytes_raw()) == public_bytes
    public.verify(signature, b"m")
    mu = kms.sign(KeyId=key, Message=bytes(64), MessageType="EXTERNAL_MU",
                  SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    assert kms.verify(KeyId=key, Message=bytes(64), MessageType="EXTERNAL_MU", Signature=mu,
                      SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"] is True
    assert error_code(lambda: kms.sign(KeyId=key, Message=bytes(63), MessageType="EXTERNAL_MU",
                                       SigningAlgorithm="ML_DSA_SHAKE_256")) \
        == "ValidationException"


def test_external_mu_is_for_ml_dsa_only(kms):
    key = signing_key(kms, "ECC_NIST_P256")
    assert error_code(lambda: kms.sign(KeyId=key, Message=bytes(64), MessageType="EXTERNAL_MU",
                                       SigningAlgorithm="ECDSA_SHA_256")) == "ValidationException"


def test_the_trail_records_the_key_spec_asked_for(kms):
    key = signing_key(kms, "ECC_NIST_EDWARDS25519")
    (event,) = trail(key_id=key, event_name="CreateKey")
    assert event["requestParameters"]["keySpec"] == "ECC_NIST_EDWARDS25519"
    # a later key of another spec is not affected by the placeholder moto created this one with
    assert kms.describe_key(KeyId=signing_key(kms, "ECC_NIST_P256"))["KeyMetadata"]["KeySpec"] \
        == "ECC_NIST_P256"


@pytest.mark.parametrize("usage, spec", [("SIGN_VERIFY", "SM2"), ("ENCRYPT_DECRYPT", "SM2"),
                                         ("ENCAPSULATE_DECAPSULATE", "ML_KEM_768")])
def test_key_specs_the_sandbox_cannot_create_are_refused_saying_why(kms, usage, spec):
    with pytest.raises(kms.exceptions.UnsupportedOperationException) as caught:
        kms.create_key(KeyUsage=usage, KeySpec=spec)
    assert "offline sandbox" in caught.value.response["Error"]["Message"]


# --- issue 16 item 4: every key spec a lesson names works, or the lesson says why not -----------

NOT_IN_SANDBOX = {"SM2", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"}
USAGE = {"HMAC": "GENERATE_VERIFY_MAC", "ML_KEM": "ENCAPSULATE_DECAPSULATE",
         "SYMMETRIC": "ENCRYPT_DECRYPT"}


def _named_specs() -> dict[str, set[str]]:
    """KeySpec values (botocore's enum) that each lesson names, lesson stem -> specs."""
    import botocore.session
    import nbformat

    from tests.conftest import NOTEBOOKS

    enum = botocore.session.get_session().get_service_model("kms").shape_for("KeySpec").enum
    named = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        text = "\n".join(c.source for c in nbformat.read(path, 4).cells)
        # ML_DSA_44/65/87 and ML_KEM_512/768/1024 are written as one family
        text = re.sub(r"(ML_(?:DSA|KEM))_(\d+)((?:/\d+)+)",
                      lambda m: " ".join(f"{m[1]}_{n}" for n in [m[2], *m[3].split("/")[1:]]), text)
        text = text.replace("ML-DSA", "ML_DSA_44").replace("ML-KEM", "ML_KEM_512")
        named[path.stem] = {spec for spec in enum if re.search(rf"\b{spec}\b", text)}
    return named


def test_every_key_spec_a_lesson_names_works_in_the_sandbox(kms):
    named = set().union(*_named_specs().values())
    assert {"ECC_NIST_EDWARDS25519", "ML_DSA_44", "ML_DSA_87", "SM2"} <= named
    for spec in sorted(named - NOT_IN_SANDBOX):
        usage = USAGE.get(spec.split("_")[0], "SIGN_VERIFY")
        meta = kms.create_key(KeyUsage=usage, KeySpec=spec)["KeyMetadata"]
        assert meta["KeySpec"] == spec


def test_a_lesson_naming_a_spec_the_sandbox_refuses_says_so():
    import nbformat

    from tests.conftest import NOTEBOOKS

    for stem, specs in _named_specs().items():
        if not specs & NOT_IN_SANDBOX:
            continue
        text = " ".join("\n".join(c.source for c in nbformat.read(NOTEBOOKS / f"{stem}.ipynb",
                                                                   4).cells).split())
        sentences = re.split(r"(?<=[.!?])\s+", text)
        for family in {"SM2" if s == "SM2" else "ML_KEM" for s in specs & NOT_IN_SANDBOX}:
            said = [s for s in sentences if family in s and "sandbox" in s and "cannot" in s]
            assert said, f"{stem} names {family} but does not say the sandbox cannot create it"


def test_an_added_key_survives_the_course_servers_save_and_load(kms):
    """The moto-server backend saves keys with kms_course.sandbox.server's pickler; an Ed25519 key's
    seed (and so its public key) must come back unchanged."""
    import pickle

    from moto.kms.models import kms_backends

    from kms_course.sandbox.rules.asymmetric import public_key_der
    from kms_course.sandbox.server import _dumps

    key_id = signing_key(kms, "ECC_NIST_EDWARDS25519")
    key = kms_backends["123456789012"]["us-east-1"].keys[key_id]
    loaded = pickle.loads(_dumps(key))
    assert loaded.key_spec == "ECC_NIST_EDWARDS25519"
    assert public_key_der(loaded) == public_key_der(key) == kms.get_public_key(
        KeyId=key_id)["PublicKey"]


def test_dry_run_signs_nothing(kms):
    """Sign and Verify list DryRunOperationException: the request would have succeeded."""
    key = signing_key(kms, "ECC_NIST_P256")
    assert error_code(lambda: kms.sign(KeyId=key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256",
                                       DryRun=True)) == "DryRunOperationException"
    assert error_code(lambda: kms.sign(KeyId=key, Message=bytes(4097), DryRun=True,
                                       SigningAlgorithm="ECDSA_SHA_256")) == "ValidationException"


def test_an_ed25519_data_key_pair(kms):
    """ECC_NIST_EDWARDS25519 is a KeyPairSpec of GenerateDataKeyPair (botocore's DataKeyPairSpec):
    the private key is PKCS #8 DER, the public key SubjectPublicKeyInfo DER
    (API_GenerateDataKeyPair)."""
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    key = kms.create_key()["KeyMetadata"]["KeyId"]
    pair = kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_EDWARDS25519")
    private = load_der_private_key(pair["PrivateKeyPlaintext"], None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    load_der_public_key(pair["PublicKey"]).verify(private.sign(b"m"), b"m")
