"""kms_course.envelope.docstore with readers that are IAM principals: sharing is a KMS grant.

What AWS documents and these tests hold the store to: a grant with the operation ``Decrypt`` and
the constraint ``EncryptionContextEquals`` lets its grantee decrypt only ciphertexts whose
encryption context is exactly those pairs
(https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html); a revoked grant
allows nothing (https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html); a
CreateGrant retried with the same Name and parameters answers the same GrantId
(https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html, ``Name``). The
sandbox enforces grants (kms_course.sandbox.access), so each test asks KMS as the reader.
"""

from __future__ import annotations

import json
import re

import pytest

from kms_course import envelope
from kms_course.sandbox import start as sandbox
from kms_course.envelope.docstore import DocumentAccessDenied, DocumentStore, InvalidDocumentId
from kms_course.lessons.practice import role_client
from _sandbox_fixtures import kms_and_bucket  # noqa: E402

BUCKET = "kms-course-docstore-grants"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "sts:AssumeRole"}]})


kms, s3 = kms_and_bucket(BUCKET)


@pytest.fixture(scope="module")
def roles(kms):
    iam = sandbox.client("iam")
    return {name: iam.create_role(RoleName=f"grants-{name}", AssumeRolePolicyDocument=TRUST)
            ["Role"]["Arn"] for name in ("dave", "erin")}


@pytest.fixture(scope="module")
def store(kms, s3):
    key_id = kms.create_key(Description="docstore grant tests")["KeyMetadata"]["KeyId"]
    return DocumentStore(kms, s3, BUCKET, key_id)


def body(s3, doc_id: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=f"docs/{doc_id}")["Body"].read()


def kms_refuses(reader_arn: str, s3, doc_id: str, owner: str) -> bool:
    """Whether KMS answers AccessDeniedException when the reader itself decrypts the data key."""
    try:
        envelope.decrypt(role_client(reader_arn, "test"), body(s3, doc_id),
                         {"doc_id": doc_id, "owner": owner})
    except envelope.WrongKey as error:
        return error.__cause__.response["Error"]["Code"] == "AccessDeniedException"
    return False


def grants_of(kms, store, grantee: str) -> list[dict]:
    key_arn = kms.describe_key(KeyId=store.key_id)["KeyMetadata"]["Arn"]
    return kms.list_grants(KeyId=key_arn, GranteePrincipal=grantee)["Grants"]


def test_share_with_a_principal_is_a_decrypt_grant_for_that_document_only(kms, s3, store, roles):
    store.put("g-plan", "alice", b"the plan")
    store.put("g-other", "alice", b"another document")
    grant_id = store.share("g-plan", roles["dave"])
    assert re.fullmatch(r"[0-9a-f]{64}", grant_id)
    [grant] = grants_of(kms, store, roles["dave"])
    assert grant["GrantId"] == grant_id
    assert grant["Operations"] == ["Decrypt"]
    assert grant["Constraints"] == {
        "EncryptionContextEquals": {"doc_id": "g-plan", "owner": "alice"}}
    assert store.get("g-plan", roles["dave"]) == b"the plan"  # Decrypt signed as dave
    assert kms_refuses(roles["dave"], s3, "g-other", "alice")  # KMS itself refuses the rest
    with pytest.raises(DocumentAccessDenied):
        store.get("g-other", roles["dave"])
    assert store.share("g-plan", roles["dave"]) == grant_id  # a retry: the same grant
    assert len(grants_of(kms, store, roles["dave"])) == 1
    assert {d["doc_id"]: d["readers"] for d in store.list()}["g-plan"] == [roles["dave"]]
    store.delete("g-other")
    store.delete("g-plan")
    assert grants_of(kms, store, roles["dave"]) == []


def test_revoke_ends_the_grant_and_kms_refuses_the_reader(kms, s3, store, roles):
    store.put("g-memo", "carol", b"memo")
    store.share("g-memo", roles["erin"])
    assert store.get("g-memo", roles["erin"]) == b"memo"
    store.revoke("g-memo", roles["erin"])
    assert grants_of(kms, store, roles["erin"]) == []
    assert kms_refuses(roles["erin"], s3, "g-memo", "carol")
    with pytest.raises(DocumentAccessDenied):
        store.get("g-memo", roles["erin"])
    store.revoke("g-memo", roles["erin"])  # idempotent
    store.delete("g-memo")


def test_a_new_version_and_a_delete_revoke_the_readers_grants(kms, s3, store, roles):
    """Bug this prevents: the same owner gives the same encryption context, so an old grant
    would have opened the new version (at KMS, whatever the access list said)."""
    store.put("g-report", "alice", b"version 1")
    store.share("g-report", roles["erin"])
    store.put("g-report", "alice", b"version 2")
    assert grants_of(kms, store, roles["erin"]) == []
    assert kms_refuses(roles["erin"], s3, "g-report", "alice")
    store.share("g-report", roles["erin"])
    store.delete("g-report")
    assert grants_of(kms, store, roles["erin"]) == []


def test_a_failed_grant_leaves_the_reader_refused_and_sharing_again_completes(kms, store, roles):
    store.put("g-late", "alice", b"late")

    def fail(**_):
        raise RuntimeError("injected CreateGrant failure")

    kms.meta.events.register("before-call.kms.CreateGrant", fail, unique_id="fail-grant")
    try:
        with pytest.raises(RuntimeError, match="injected"):
            store.share("g-late", roles["dave"])
    finally:
        kms.meta.events.unregister("before-call.kms.CreateGrant", unique_id="fail-grant")
    with pytest.raises(DocumentAccessDenied, match="AccessDeniedException"):
        store.get("g-late", roles["dave"])  # listed, but KMS refuses: never more access
    store.share("g-late", roles["dave"])
    assert store.get("g-late", roles["dave"]) == b"late"
    store.delete("g-late")


def test_the_store_never_revokes_a_grant_it_did_not_make(kms, s3, store, roles):
    store.put("g-own", "alice", b"x")
    key_arn = kms.describe_key(KeyId=store.key_id)["KeyMetadata"]["Arn"]
    by_hand = kms.create_grant(
        KeyId=key_arn, GranteePrincipal=roles["dave"], Operations=["Decrypt"],
        Constraints={"EncryptionContextEquals": {"doc_id": "g-own", "owner": "alice"}},
    )["GrantId"]
    store.share("g-own", roles["dave"])
    store.revoke("g-own", roles["dave"])
    assert [g["GrantId"] for g in grants_of(kms, store, roles["dave"])] == [by_hand]
    kms.revoke_grant(KeyId=key_arn, GrantId=by_hand)
    store.delete("g-own")


def test_a_reader_arn_must_be_an_iam_user_or_role(store):
    store.put("g-bad", "alice", b"x")
    with pytest.raises(InvalidDocumentId, match="not an IAM user or role ARN"):
        store.share("g-bad", "arn:aws:iam::123456789012:root")
    store.delete("g-bad")


def test_get_right_after_share_passes_the_grant_token(kms, s3, store, roles):
    """On AWS a new grant may take minutes to work everywhere unless its token is passed
    (https://docs.aws.amazon.com/kms/latest/developerguide/using-grant-token.html)."""
    from kms_course.sandbox.trail import trail

    store.put("g-token", "alice", b"at once")
    store.share("g-token", roles["erin"])
    given = store._grant_tokens[("g-token", roles["erin"])]  # the CreateGrant response's token
    assert store.get("g-token", roles["erin"]) == b"at once"
    [event] = [e for e in trail(event_name="Decrypt")
               if e["userIdentity"].get("sessionContext", {}).get("sessionIssuer", {}).get("arn")
               == roles["erin"]
               and e["requestParameters"]["encryptionContext"]["doc_id"] == "g-token"]
    assert event["requestParameters"]["grantTokens"] == [given]
    assert "errorCode" not in event
    store.delete("g-token")
