"""kms_course.envelope.docstore under faults: every S3 or KMS call of put/share/delete fails in
turn.

The rule checked (issue 14, item 3): after any single failed call, the store holds either the
old version, readable by exactly the old readers, or the new version, readable by exactly the
new readers, never a mix; ``list()`` and ``delete()`` keep working; a damaged access list is a
:class:`~kms_course.envelope.docstore.CorruptedAccessList`.

Failures are injected with botocore's ``before-call`` event
(https://boto3.amazonaws.com/v1/documentation/api/latest/guide/events.html), which runs before
every API call of a client, paginated listings and ``head_object`` included.
"""

from __future__ import annotations

import contextlib
import itertools

import pytest
from botocore.exceptions import ClientError

from kms_course import envelope
from kms_course.sandbox import start as sandbox
from kms_course.envelope.docstore import (
    CorruptedAccessList,
    DocumentAccessDenied,
    DocumentNotFound,
    DocumentStore,
)
from _sandbox_fixtures import kms_and_bucket  # noqa: E402

BUCKET = "kms-course-docstore-faults"
OLD, NEW = b"version 1: the old text", b"version 2: the new text"
USERS = ("alice", "bob", "carol")
_ids = itertools.count()


class Injected(Exception):
    """The failure a test injects."""


kms, s3 = kms_and_bucket(BUCKET)


@pytest.fixture(scope="module")
def store(kms, s3):
    key_id = kms.create_key(Description="docstore fault tests")["KeyMetadata"]["KeyId"]
    return DocumentStore(kms, s3, BUCKET, key_id)


@contextlib.contextmanager
def calls(store, fail_at: int | None = None):
    """Record every S3 and KMS call ``(service, operation)``; make call ``fail_at`` raise."""
    seen: list[tuple[str, str]] = []

    def before_call(model, **_):
        seen.append((model.service_model.service_name, model.name))
        if fail_at is not None and len(seen) == fail_at:
            raise Injected(f"injected failure of call {fail_at}: {model.name}")

    clients = (store.s3, store.kms)
    for client in clients:
        client.meta.events.register("before-call", before_call, unique_id="fault-injection")
    try:
        yield seen
    finally:
        for client in clients:
            client.meta.events.unregister("before-call", unique_id="fault-injection")


def view(store, doc_id):
    """What each user gets from ``get``: the bytes, "denied" or "missing"; and the list entry."""
    seen = {}
    for user in USERS:
        try:
            seen[user] = store.get(doc_id, user)
        except DocumentAccessDenied:
            seen[user] = "denied"
        except DocumentNotFound:
            seen[user] = "missing"
    listed = [d for d in store.list() if d["doc_id"] == doc_id]
    return seen, listed


def objects_named(s3, doc_id):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        keys += [o["Key"] for o in page.get("Contents", []) if doc_id in o["Key"]]
    return sorted(keys)


def count_calls(store, action) -> int:
    with calls(store) as seen:
        action()
    return len(seen)


def each_failure_point(store, setup, action):
    """Yield ``(n, doc_id)`` after running ``setup(doc_id)`` then ``action(doc_id)`` with its
    ``n``-th call failing, for every call ``action`` makes."""
    probe = f"probe-{next(_ids)}"
    setup(probe)
    total = count_calls(store, lambda: action(probe))
    assert total >= 2  # the scenario really calls S3/KMS (share: read and write the list)
    with contextlib.suppress(DocumentNotFound):
        store.delete(probe)
    for n in range(1, total + 1):
        doc_id = f"doc-{next(_ids)}"
        setup(doc_id)
        with calls(store, fail_at=n), pytest.raises(Injected):
            action(doc_id)
        yield n, doc_id


def _entry(owner, readers):
    return [{"owner": owner, "readers": readers}]


def _without_id(listed):
    return [{k: v for k, v in d.items() if k != "doc_id"} for d in listed]


# --- put over an existing document ----------------------------------------------------------


def test_put_with_a_new_owner_leaves_old_or_new_at_every_failure_point(store, s3):
    def setup(doc_id):
        store.put(doc_id, "alice", OLD)
        store.share(doc_id, "bob")

    old = ({"alice": OLD, "bob": OLD, "carol": "denied"}, _entry("alice", ["bob"]))
    new = ({"alice": "denied", "bob": "denied", "carol": NEW}, _entry("carol", []))
    outcomes = []
    for n, doc_id in each_failure_point(store, setup, lambda d: store.put(d, "carol", NEW)):
        seen, listed = view(store, doc_id)
        state = (seen, _without_id(listed))
        assert state in (old, new), f"failure at call {n} left {state}"
        outcomes.append(state == new)
        store.put(doc_id, "carol", NEW)  # a retry completes the change
        assert view(store, doc_id)[0] == new[0]
        store.delete(doc_id)
        assert objects_named(s3, doc_id) == []
    assert not outcomes[0] and outcomes[-1]  # the first failures keep the old, the last the new


def test_put_by_the_same_owner_never_shows_new_content_to_old_readers(store):
    def setup(doc_id):
        store.put(doc_id, "alice", OLD)
        store.share(doc_id, "bob")

    old = {"alice": OLD, "bob": OLD, "carol": "denied"}
    new = {"alice": NEW, "bob": "denied", "carol": "denied"}
    for n, doc_id in each_failure_point(store, setup, lambda d: store.put(d, "alice", NEW)):
        seen, _ = view(store, doc_id)
        assert seen in (old, new), f"failure at call {n} left {seen}"
        store.delete(doc_id)


# --- a new document -------------------------------------------------------------------------


def test_a_failed_put_of_a_new_document_never_breaks_list_or_delete(store, s3):
    new = {"alice": NEW, "bob": "denied", "carol": "denied"}
    missing = dict.fromkeys(USERS, "missing")
    points = each_failure_point(store, lambda d: None, lambda d: store.put(d, "alice", NEW))
    for n, doc_id in points:
        seen, listed = view(store, doc_id)  # list() works with whatever the failure left
        assert (seen, _without_id(listed)) in ((missing, []), (new, _entry("alice", []))), n
        if seen == missing:
            with pytest.raises(DocumentNotFound):
                store.delete(doc_id)  # ...and still removes the orphan body
        else:
            store.delete(doc_id)
        assert objects_named(s3, doc_id) == [], f"failure at call {n} left objects behind"


def test_an_orphan_body_from_before_is_ignored_and_removed(store, s3):
    """A body without access list, as the old put left when its access-list write failed."""
    blob = envelope.encrypt(store.kms, store.key_id, b"x", store.context("orphan", "alice"))
    s3.put_object(Bucket=BUCKET, Key="docs/orphan", Body=blob)
    assert "orphan" not in [d["doc_id"] for d in store.list()]
    with pytest.raises(DocumentNotFound):
        store.get("orphan", "alice")
    with pytest.raises(DocumentNotFound):
        store.delete("orphan")
    assert objects_named(s3, "orphan") == []


# --- share and delete -----------------------------------------------------------------------


def test_share_leaves_old_or_new_at_every_failure_point(store):
    old = {"alice": OLD, "bob": "denied", "carol": "denied"}
    new = {"alice": OLD, "bob": OLD, "carol": "denied"}
    points = each_failure_point(
        store, lambda d: store.put(d, "alice", OLD), lambda d: store.share(d, "bob")
    )
    for n, doc_id in points:
        seen, _ = view(store, doc_id)
        assert seen in (old, new), f"failure at call {n} left {seen}"
        store.delete(doc_id)


def test_delete_leaves_the_document_or_nothing_at_every_failure_point(store, s3):
    def setup(doc_id):
        store.put(doc_id, "alice", OLD)
        store.share(doc_id, "bob")

    old = ({"alice": OLD, "bob": OLD, "carol": "denied"}, _entry("alice", ["bob"]))
    gone = (dict.fromkeys(USERS, "missing"), [])
    for n, doc_id in each_failure_point(store, setup, lambda d: store.delete(d)):
        seen, listed = view(store, doc_id)
        assert (seen, _without_id(listed)) in (old, gone), f"failure at call {n} left {seen}"
        with contextlib.suppress(DocumentNotFound):
            store.delete(doc_id)  # a retry finishes the job, orphans included
        assert objects_named(s3, doc_id) == []


def test_a_put_that_failed_after_its_commit_is_read_from_staging(store, s3):
    """The access list names the new body before docs/<id> holds it: readers get the new one."""
    store.put("late", "alice", OLD)
    store.share("late", "bob")
    with calls(store) as seen:
        store.put("late", "carol", NEW)
    put_docs = [i for i, c in enumerate(seen, 1) if c == ("s3", "PutObject")][2]
    store.put("late", "alice", OLD)
    with calls(store, fail_at=put_docs), pytest.raises(Injected):
        store.put("late", "carol", NEW)  # fails writing docs/late, after the commit
    assert any(k.startswith("staging/late/") for k in objects_named(s3, "late"))
    assert store.get("late", "carol") == NEW
    with pytest.raises(DocumentAccessDenied):
        store.get("late", "bob")
    store.delete("late")
    assert objects_named(s3, "late") == []


# --- damaged access lists -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not an object"),
        (b'{"owner": 5, "readers": []}', "owner 5"),
        (b'{"owner": "alice", "readers": "bob"}', "readers"),
        (b'{"owner": "alice", "readers": [], "sha256": "x", "version": "y"}', "checksum"),
    ],
)
def test_a_damaged_access_list_is_a_typed_error(store, s3, content, problem):
    store.put("damaged", "alice", OLD)
    s3.put_object(Bucket=BUCKET, Key="acl/damaged.json", Body=content)
    for action in (lambda: store.get("damaged", "alice"), store.list,
                   lambda: store.share("damaged", "bob")):
        with pytest.raises(CorruptedAccessList, match=problem) as caught:
            action()
        assert "'damaged'" in str(caught.value) and "delete(doc_id)" in str(caught.value)
        assert isinstance(caught.value, ValueError)
    store.delete("damaged")  # works without reading the damaged list
    assert objects_named(s3, "damaged") == [] and store.list() == []


def test_access_lists_of_the_earlier_layout_still_work(store, s3):
    """Stores written before access lists named their body: owner and readers only."""
    blob = envelope.encrypt(store.kms, store.key_id, OLD, store.context("legacy", "alice"))
    s3.put_object(Bucket=BUCKET, Key="docs/legacy", Body=blob)
    s3.put_object(
        Bucket=BUCKET, Key="acl/legacy.json", Body=b'{"owner": "alice", "readers": ["bob"]}'
    )
    assert store.get("legacy", "bob") == OLD
    assert [d for d in store.list() if d["doc_id"] == "legacy"] == [
        {"doc_id": "legacy", "owner": "alice", "readers": ["bob"]}
    ]
    store.put("legacy", "alice", NEW)
    assert store.get("legacy", "alice") == NEW
    store.delete("legacy")


def test_a_swapped_body_is_still_refused(store, s3):
    """The capstone's demonstration: copying one document's body over another's."""
    store.put("mine", "alice", OLD)
    store.put("yours", "bob", NEW)
    s3.copy_object(
        Bucket=BUCKET, Key="docs/yours", CopySource={"Bucket": BUCKET, "Key": "docs/mine"}
    )
    with pytest.raises(envelope.WrongEncryptionContext):
        store.get("yours", "bob")
    store.delete("mine")
    store.delete("yours")


def test_other_s3_errors_are_not_reported_as_missing(store, s3):
    store.put("err", "alice", OLD)

    def deny(**_):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")

    s3.meta.events.register("before-call.s3.GetObject", deny, unique_id="deny")
    try:
        with pytest.raises(ClientError, match="AccessDenied"):
            store.get("err", "alice")
    finally:
        s3.meta.events.unregister("before-call.s3.GetObject", unique_id="deny")
    store.delete("err")
