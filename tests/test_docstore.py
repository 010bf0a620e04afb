"""Tests for kms_course.envelope.docstore: encrypted documents in S3, sharing, rotation."""

from __future__ import annotations

import json
import os

import pytest

from kms_course import envelope
from kms_course.sandbox import start as sandbox
from kms_course.envelope.docstore import (
    DocumentAccessDenied,
    DocumentNotFound,
    DocumentStore,
    InvalidDocumentId,
)
from _sandbox_fixtures import kms_and_bucket  # noqa: E402

BUCKET = "kms-course-docstore-test"


kms, s3 = kms_and_bucket(BUCKET)


@pytest.fixture(scope="module")
def key_id(kms):
    return kms.create_key(Description="docstore tests")["KeyMetadata"]["KeyId"]


@pytest.fixture
def store(kms, s3, key_id):
    store = DocumentStore(kms, s3, BUCKET, key_id)
    yield store
    for document in store.list():
        store.delete(document["doc_id"])


def _stored(s3, doc_id: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=f"docs/{doc_id}")["Body"].read()


def test_put_get_round_trip(store, s3):
    store.put("report-1", "alice", b"quarterly numbers")
    assert store.get("report-1", "alice") == b"quarterly numbers"
    body = _stored(s3, "report-1")
    assert body.startswith(b"KCEV") and b"quarterly numbers" not in body
    assert json.loads(envelope.to_json(body))["encryption_context"] == {
        "doc_id": "report-1",
        "owner": "alice",
    }


def test_each_document_has_its_own_data_key(store, s3, kms):
    store.put("a", "alice", b"same")
    store.put("b", "alice", b"same")
    ja, jb = (json.loads(envelope.to_json(_stored(s3, d))) for d in ("a", "b"))
    assert ja["envelope"] != jb["envelope"]
    assert ja["key_arn"] == jb["key_arn"]


def test_list(store):
    store.put("b-doc", "bob", b"1")
    store.put("a-doc", "alice", b"2")
    store.share("a-doc", "carol")
    assert store.list() == [
        {"doc_id": "a-doc", "owner": "alice", "readers": ["carol"]},
        {"doc_id": "b-doc", "owner": "bob", "readers": []},
    ]


def test_share_controls_reading(store):
    store.put("secret", "alice", b"for alice")
    with pytest.raises(DocumentAccessDenied, match="share"):
        store.get("secret", "bob")
    store.share("secret", "bob")
    store.share("secret", "bob")  # idempotent
    assert store.get("secret", "bob") == b"for alice"
    assert store.list()[0]["readers"] == ["bob"]


def test_delete(store):
    store.put("gone", "alice", b"x")
    store.delete("gone")
    with pytest.raises(DocumentNotFound):
        store.get("gone", "alice")
    with pytest.raises(DocumentNotFound):
        store.delete("gone")
    assert store.list() == []


def test_swapped_bodies_fail_context_check(store, s3):
    """The context binds the ciphertext to its document ID and owner."""
    store.put("mine", "alice", b"alice's")
    store.put("yours", "bob", b"bob's")
    s3.put_object(Bucket=BUCKET, Key="docs/yours", Body=_stored(s3, "mine"))
    with pytest.raises(envelope.WrongEncryptionContext):
        store.get("yours", "bob")


def test_readable_after_rotation(store, kms, key_id):
    data = os.urandom(1000)
    store.put("old", "alice", data)
    kms.rotate_key_on_demand(KeyId=key_id)
    assert store.get("old", "alice") == data
    store.put("new", "alice", b"after rotation")
    assert store.get("new", "alice") == b"after rotation"
    assert store.get("old", "alice") == data


def test_bad_input(store):
    with pytest.raises(envelope.NotBytes):
        store.put("text", "alice", "a str")
    with pytest.raises(InvalidDocumentId):
        store.put("../etc/passwd", "alice", b"x")
    with pytest.raises(InvalidDocumentId):
        store.get("ok", "")
    with pytest.raises(DocumentNotFound):
        store.get("never-stored", "alice")
