"""Grants as AWS KMS keeps them (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html,
grant-delete.html, using-grant-token.html, and the API references of CreateGrant, ListGrants,
ListRetirableGrants, RetireGrant, RevokeGrant and GrantConstraints)."""

from __future__ import annotations

import re

import pytest

from _access import ACCOUNT, ROOT, access_server_url, account, denied, error  # noqa: F401
from kms_course.sandbox.access import grants


def _reader_grant(account, **kwargs):
    key = account.key()
    reader = account.user("reader")
    grant = account.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=reader,
                                     Operations=kwargs.pop("Operations", ["Decrypt"]), **kwargs)
    return key, reader, grant


def test_grant_id_and_token_have_aws_shape(account):
    """API_CreateGrant.html: GrantId is 64 hex digits (example 0c237476b39f...); the token is
    base64 text like the example "AQpAM2RhZTk1..."."""
    _, _, grant = _reader_grant(account)
    assert re.fullmatch(r"[0-9a-f]{64}", grant["GrantId"])
    assert grant["GrantToken"].startswith("AQpA")
    assert grants.token_grant_id(grant["GrantToken"]) == grant["GrantId"]


def test_grant_allows_the_grantee_at_once_with_its_token(account):
    """using-grant-token.html: the token makes the grant usable at once."""
    key, reader, grant = _reader_grant(account)
    blob = account.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"doc")["CiphertextBlob"]
    reader_kms = account.as_(reader)
    assert reader_kms.decrypt(CiphertextBlob=blob,
                              GrantTokens=[grant["GrantToken"]])["Plaintext"] == b"doc"
    denied(lambda: reader_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))  # not granted


def test_grant_for_a_role_covers_its_sessions(account):
    key = account.key()
    role = account.role("app")
    account.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=role, Operations=["Encrypt"])
    account.as_(role).encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def test_a_bad_grant_token_is_refused(account):
    """InvalidGrantTokenException (API_Decrypt.html errors)."""
    key = account.key()
    assert error(lambda: account.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x",
                                             GrantTokens=["nope"]))[0] == (
        "InvalidGrantTokenException")


@pytest.mark.parametrize("key_args, operations", [
    ({}, ["Sign"]),
    ({}, ["GetPublicKey"]),
    ({"KeyUsage": "GENERATE_VERIFY_MAC", "KeySpec": "HMAC_256"}, ["Encrypt"]),
    ({"KeyUsage": "SIGN_VERIFY", "KeySpec": "ECC_NIST_P256"}, ["Decrypt"]),
    ({"KeyUsage": "SIGN_VERIFY", "KeySpec": "RSA_2048"}, ["GenerateDataKey"]),
])
def test_grant_operations_must_fit_the_key(account, key_args, operations):
    """grants.html, "Grant operations": a grant for an operation the key type does not support
    fails with ValidationException."""
    key = account.kms.create_key(**key_args)["KeyMetadata"]
    code, _ = error(lambda: account.kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=account.user("u"), Operations=operations))
    assert code == "ValidationException"


def test_grant_operations_that_fit_are_accepted(account):
    key = account.kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]
    account.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=account.user("u"),
                             Operations=["Sign", "Verify", "GetPublicKey", "DescribeKey"])


def test_constraints_only_on_symmetric_keys(account):
    """API_GrantConstraints.html: no encryption context constraint on asymmetric/HMAC keys."""
    key = account.kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]
    code, _ = error(lambda: account.kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=account.user("u"), Operations=["Sign"],
        Constraints={"EncryptionContextSubset": {"a": "b"}}))
    assert code == "ValidationException"


def test_encryption_context_equals_and_subset(account):
    """API_GrantConstraints.html: Equals needs exactly that context; Subset needs its pairs."""
    key = account.key()
    reader = account.user("reader")
    account.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=reader, Operations=["Encrypt"],
                             Constraints={"EncryptionContextEquals": {"doc": "1"}})
    account.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=reader,
                             Operations=["GenerateDataKey"],
                             Constraints={"EncryptionContextSubset": {"doc": "1"}})
    r = account.as_(reader)
    r.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"doc": "1"})
    denied(lambda: r.encrypt(KeyId=key["KeyId"], Plaintext=b"x",
                             EncryptionContext={"doc": "1", "more": "2"}))
    r.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256",
                        EncryptionContext={"doc": "1", "more": "2"})
    denied(lambda: r.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256",
                                       EncryptionContext={"doc": "2"}))


def test_list_grants_fields(account):
    """API_GrantListEntry.html: KeyId (ARN), GrantId, Name, CreationDate, GranteePrincipal,
    RetiringPrincipal, IssuingAccount, Operations, Constraints."""
    key = account.key()
    reader, janitor = account.user("reader"), account.user("janitor")
    grant = account.kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=reader, RetiringPrincipal=janitor, Name="read-docs",
        Operations=["Decrypt"], Constraints={"EncryptionContextSubset": {"app": "docs"}})
    listed = account.kms.list_grants(KeyId=key["KeyId"])
    assert listed["Truncated"] is False
    (entry,) = listed["Grants"]
    assert {k: v for k, v in entry.items() if k != "CreationDate"} == {
        "KeyId": key["Arn"], "GrantId": grant["GrantId"], "Name": "read-docs",
        "GranteePrincipal": reader, "RetiringPrincipal": janitor, "IssuingAccount": ROOT,
        "Operations": ["Decrypt"], "Constraints": {"EncryptionContextSubset": {"app": "docs"}}}
    assert entry["CreationDate"].year >= 2024
    assert account.kms.list_retirable_grants(RetiringPrincipal=janitor)["Grants"] == [entry]
    assert account.kms.list_grants(KeyId=key["KeyId"], GranteePrincipal=janitor)["Grants"] == []


def test_same_name_and_parameters_answer_the_same_grant(account):
    """API_CreateGrant.html (Name): an identical request with the same Name returns the same
    GrantId with a new token."""
    key = account.key()
    reader = account.user("reader")
    args = dict(KeyId=key["KeyId"], GranteePrincipal=reader, Operations=["Decrypt"], Name="n")
    first, second = account.kms.create_grant(**args), account.kms.create_grant(**args)
    assert first["GrantId"] == second["GrantId"]
    assert first["GrantToken"] != second["GrantToken"]


def test_list_grants_pages(account):
    key = account.key()
    reader = account.user("reader")
    for name in "abc":
        account.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=reader,
                                 Operations=["Decrypt"], Name=name)
    page = account.kms.list_grants(KeyId=key["KeyId"], Limit=2)
    assert (len(page["Grants"]), page["Truncated"]) == (2, True)
    rest = account.kms.list_grants(KeyId=key["KeyId"], Marker=page["NextMarker"])
    assert (len(rest["Grants"]), rest["Truncated"]) == (1, False)


def test_retire_by_token_and_who_may_retire(account):
    """grant-delete.html: the retiring principal, the grantee if the grant includes
    RetireGrant, and the account may retire a grant; nobody else."""
    key, reader, grant = _reader_grant(account)
    blob = account.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"doc")["CiphertextBlob"]
    denied(lambda: account.as_(reader).retire_grant(GrantToken=grant["GrantToken"]))
    account.kms.retire_grant(GrantToken=grant["GrantToken"])
    denied(lambda: account.as_(reader).decrypt(CiphertextBlob=blob))
    assert error(lambda: account.kms.retire_grant(GrantToken=grant["GrantToken"]))[0] == (
        "NotFoundException")


def test_grantee_with_retire_grant_and_retiring_principal_may_retire(account):
    key = account.key()
    reader, janitor = account.user("reader"), account.user("janitor")
    own = account.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=reader,
                                   Operations=["Decrypt", "RetireGrant"])
    account.as_(reader).retire_grant(KeyId=key["Arn"], GrantId=own["GrantId"])
    theirs = account.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=reader,
                                      RetiringPrincipal=janitor, Operations=["Decrypt"])
    account.as_(janitor).retire_grant(KeyId=key["KeyId"], GrantId=theirs["GrantId"])
    assert account.kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


@pytest.mark.parametrize("call, code", [
    (lambda kms, key: kms.retire_grant(GrantToken="not-a-token"), "InvalidGrantTokenException"),
    (lambda kms, key: kms.retire_grant(KeyId=key, GrantId="xyz"), "InvalidGrantIdException"),
    (lambda kms, key: kms.retire_grant(KeyId=key, GrantId="0" * 64), "NotFoundException"),
    (lambda kms, key: kms.revoke_grant(KeyId=key, GrantId="xyz"), "InvalidGrantIdException"),
    (lambda kms, key: kms.revoke_grant(KeyId=key, GrantId="0" * 64), "NotFoundException"),
])
def test_retire_and_revoke_errors(account, call, code):
    """API_RetireGrant.html / API_RevokeGrant.html errors."""
    key = account.key()
    assert error(lambda: call(account.kms, key["KeyId"]))[0] == code


def test_revoke_needs_kms_revoke_grant(account):
    """grant-delete.html: RevokeGrant is controlled by key policy and IAM policies."""
    key, reader, grant = _reader_grant(account)
    args = dict(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert "kms:RevokeGrant" in denied(lambda: account.as_(reader).revoke_grant(**args))
    account.as_(account.user("admin", "kms:RevokeGrant")).revoke_grant(**args)
    assert account.kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_grant_with_create_grant_may_only_pass_on_what_it_has(account):
    """API_GrantConstraints.html: a grant's CreateGrant permission makes grants that are
    equally or more strictly constrained."""
    key = account.key()
    reader = account.user("reader")
    account.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=reader,
                             Operations=["Decrypt", "CreateGrant"],
                             Constraints={"EncryptionContextSubset": {"app": "docs"}})
    r = account.as_(reader)
    other = account.user("other")
    r.create_grant(KeyId=key["KeyId"], GranteePrincipal=other, Operations=["Decrypt"],
                   Constraints={"EncryptionContextSubset": {"app": "docs", "doc": "1"}})
    denied(lambda: r.create_grant(KeyId=key["KeyId"], GranteePrincipal=other,
                                  Operations=["Decrypt"]))
    denied(lambda: r.create_grant(KeyId=key["KeyId"], GranteePrincipal=other,
                                  Operations=["Encrypt"],
                                  Constraints={"EncryptionContextSubset": {"app": "docs"}}))


def test_grantee_must_exist(account):
    """API_CreateGrant.html: GranteePrincipal is the ARN of an AWS principal."""
    key = account.key()
    code, _ = error(lambda: account.kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/ghost",
        Operations=["Decrypt"]))
    assert code == "InvalidArnException"
