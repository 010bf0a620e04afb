"""``kms-course fidelity`` probes for signing, MACs and RSA encryption
(kms_course/sandbox/fidelity_asymmetric.py): the sandbox matches the documented outcome on each, and
the moto column shows moto 5.2.5's own answers (its fidelity reference, section 2.10)."""

from __future__ import annotations

import pytest

from kms_course.sandbox import fidelity


@pytest.fixture(scope="module")
def results():
    return {r.name: r for r in fidelity.evaluate(fidelity.SIGNING_AND_MACS)}


def test_the_probes_are_part_of_the_fidelity_table():
    names = [b.name for b in fidelity.BEHAVIOURS]
    assert all(b.name in names for b in fidelity.SIGNING_AND_MACS)
    assert len(fidelity.SIGNING_AND_MACS) == 8


def test_the_sandbox_matches_real_kms_on_every_signing_probe(results):
    assert [r.name for r in results.values() if not r.sandbox_matches] == []


def test_moto_alone_gets_digest_pss_length_and_new_key_specs_wrong(results):
    assert results["Verify the message of a signed DIGEST"].moto == "False"
    assert results["Sign a 10-byte DIGEST with ECDSA_SHA_256"].moto == "signed"
    assert results["Sign a 4097-byte RAW message"].moto == "ok"
    assert results["RSASSA_PSS_SHA_256 verifies offline with a 32-byte salt"].moto == \
        "InvalidSignature"
    assert results["ECC_NIST_EDWARDS25519 key signs (verified offline)"].moto == \
        "ValidationException"
    assert results["VerifyMac with a wrong MAC"].moto == "KMSInvalidMacException"
