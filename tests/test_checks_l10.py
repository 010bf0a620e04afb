"""The checks of lesson 10, the capstone: each passes on a correct answer and fails, with a
message that names what was not done, on specific wrong answers; a correct answer (the master
solution) re-run after a wrong attempt passes (issue 11 item 2).

The ``kms`` fixture (tests/conftest.py) is the in-process moto sandbox, emptied before each test;
it enforces key policies and grants as AWS documents them (kms_course.sandbox.access): a grant with
``EncryptionContextEquals`` allows a request only with exactly those pairs, ``...Subset`` with at
least them (https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html), a
revoked grant allows nothing (https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html).
The trail's fields are CloudTrail's (https://docs.aws.amazon.com/kms/latest/developerguide/ct-decrypt.html,
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).
"""

from __future__ import annotations

import base64
import json
import os
import random

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_course.lessons import practice as cp
from kms_course.sandbox import start as sandbox
from kms_course.lessons.checks import l10_capstone as cap
from kms_course.lessons.solutions import solution_source
from _verdicts import assert_fails, assert_passes, new_key, verdict  # noqa: E402


def run_master(exercise_id: str, namespace: dict) -> dict:
    """Run the master notebook's solution of ``exercise_id`` in ``namespace``; return it."""
    exec(compile(solution_source(exercise_id), f"<master {exercise_id}>", "exec"), namespace)
    return namespace


@pytest.fixture
def s3(kms):
    return sandbox.client("s3")


@pytest.fixture
def practice(kms, s3):
    """The practice bucket, key, memo and readers' roles as prepare_practice makes them, without
    its audit (the audit tests stage their own, with a seed; one test runs the whole setup)."""
    s3.create_bucket(Bucket=cap.PRACTICE_BUCKET)
    cp.ensure_roles(tuple(cp.READER_ROLES.values()))
    key_id = new_key(kms, Description="capstone practice key")
    cp.plant_document(kms, s3, key_id, cp.MEMO_ID, cp.MEMO_OWNER, os.urandom(16).hex().encode())
    return cap.PRACTICE_BUCKET, key_id


def put_mine(kms, s3, key_id, doc_id, owner, body, *, data_key=None, nonce=None, b64=True,
             context=None):
    """The lesson's put_document, with switches for the mistakes students make."""
    context = context or {"doc_id": doc_id, "owner": owner}
    data_key = data_key or kms.generate_data_key(
        KeyId=key_id, KeySpec="AES_256", EncryptionContext=context
    )
    nonce = nonce or os.urandom(12)
    ciphertext = AESGCM(data_key["Plaintext"]).encrypt(
        nonce, body, json.dumps({"doc_id": doc_id, "owner": owner}, sort_keys=True).encode()
    )
    encode = (lambda b: base64.b64encode(b).decode()) if b64 else (lambda b: b.hex())
    s3.put_object(
        Bucket=cap.PRACTICE_BUCKET, Key="mine/" + doc_id, Body=ciphertext,
        Metadata={"encrypted-data-key": encode(data_key["CiphertextBlob"]), "nonce": encode(nonce)},
    )


def memo_plaintext(kms, s3) -> bytes:
    return cap.open_mine(kms, s3, cap.MEMO_ID, cap.MEMO_OWNER)[0]


def test_10_store_setup_rerun_after_a_partial_attempt_says_how_to_get_unstuck(kms, s3):
    """Bug: after a first attempt made the alias but not the bucket, the re-run's create_alias
    raised AlreadyExistsException and the check's advice was that very call."""
    first = new_key(kms)
    kms.create_alias(AliasName=cap.STORE_ALIAS, TargetKeyId=first)  # attempt 1 stopped here
    second = new_key(kms)  # the re-run: a new key, then create_alias fails
    with pytest.raises(kms.exceptions.AlreadyExistsException):
        kms.create_alias(AliasName=cap.STORE_ALIAS, TargetKeyId=second)
    s3.create_bucket(Bucket=cap.STORE_BUCKET)
    result = verdict(kms, "10-store-setup", cap_bucket=cap.STORE_BUCKET, cap_key_id=second)
    assert not result.passed
    assert "run kms.delete_alias(AliasName='alias/capstone-docs') once" in result.message
    kms.delete_alias(AliasName=cap.STORE_ALIAS)  # what the message says; then the cell again
    third = new_key(kms)
    kms.create_alias(AliasName=cap.STORE_ALIAS, TargetKeyId=third)
    assert_passes(kms, "10-store-setup", cap_bucket=cap.STORE_BUCKET, cap_key_id=third)


def test_10_store_setup_passes_and_fails_without_alias(kms, s3):
    key = new_key(kms)
    s3.create_bucket(Bucket=cap.STORE_BUCKET)
    assert_fails(
        kms, "10-store-setup", "does not point to `cap_key_id`",
        cap_bucket=cap.STORE_BUCKET, cap_key_id=key,
    )
    kms.create_alias(AliasName=cap.STORE_ALIAS, TargetKeyId=key)
    assert_passes(kms, "10-store-setup", cap_bucket=cap.STORE_BUCKET, cap_key_id=key)


def test_10_store_setup_fails_on_wrong_bucket_name_or_hmac_key(kms, s3):
    key = new_key(kms)
    assert_fails(
        kms, "10-store-setup", "the exercise asks for 'capstone-docs'",
        cap_bucket="capstone", cap_key_id=key,
    )
    s3.create_bucket(Bucket=cap.STORE_BUCKET)
    mac = new_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    assert_fails(
        kms, "10-store-setup", "symmetric encryption keys",
        cap_bucket=cap.STORE_BUCKET, cap_key_id=mac,
    )


def test_10_put_document_passes_on_two_documents(kms, s3, practice):
    _, key = practice
    for doc_id, (owner, body) in cap.PUT_DOCUMENTS.items():
        put_mine(kms, s3, key, doc_id, owner, body)
    assert_passes(kms, "10-put-document")


def test_10_put_document_fails_on_shared_data_key_and_fixed_nonce(kms, s3, practice):
    _, key = practice
    (id1, (owner1, body1)), (id2, (owner2, body2)) = cap.PUT_DOCUMENTS.items()
    fixed = bytes(12)
    put_mine(kms, s3, key, id1, owner1, body1, nonce=fixed)
    put_mine(kms, s3, key, id2, owner2, body2, nonce=fixed)
    assert_fails(kms, "10-put-document", "same nonce")


def test_10_put_document_fails_on_one_data_key_encrypted_twice(kms, s3, practice):
    """Bug: one plaintext data key, encrypted again under each document's context, gave two
    different encrypted data keys, and the check compared only those."""
    _, key = practice
    (id1, (owner1, body1)), (id2, (owner2, body2)) = cap.PUT_DOCUMENTS.items()
    shared = kms.generate_data_key(KeyId=key, KeySpec="AES_256",
                                   EncryptionContext={"doc_id": id1, "owner": owner1})
    put_mine(kms, s3, key, id1, owner1, body1, data_key=shared)
    again = kms.encrypt(KeyId=key, Plaintext=shared["Plaintext"],
                        EncryptionContext={"doc_id": id2, "owner": owner2})["CiphertextBlob"]
    put_mine(kms, s3, key, id2, owner2, body2,
             data_key={"Plaintext": shared["Plaintext"], "CiphertextBlob": again})
    assert_fails(kms, "10-put-document", "encrypted with the same data key")


def test_10_put_document_fails_when_context_misses_the_owner(kms, s3, practice):
    _, key = practice
    (id1, (owner1, body1)), (id2, (owner2, body2)) = cap.PUT_DOCUMENTS.items()
    put_mine(kms, s3, key, id1, owner1, body1, context={"doc_id": id1})
    put_mine(kms, s3, key, id2, owner2, body2)
    assert_fails(kms, "10-put-document", "KMS refuses the data key of 'mine/contract-7'")


def test_10_put_document_fails_on_hex_metadata_or_swapped_bodies(kms, s3, practice):
    _, key = practice
    (id1, (owner1, body1)), (id2, (owner2, body2)) = cap.PUT_DOCUMENTS.items()
    put_mine(kms, s3, key, id1, owner1, body1, b64=False)
    put_mine(kms, s3, key, id2, owner2, body2)
    assert_fails(kms, "10-put-document", "looks like hex text, not base64 text")
    put_mine(kms, s3, key, id1, owner1, body1)
    s3.copy_object(Bucket=cap.PRACTICE_BUCKET, Key="mine/" + id1,
                   CopySource={"Bucket": cap.PRACTICE_BUCKET, "Key": "mine/" + id2},
                   MetadataDirective="COPY")
    assert_fails(kms, "10-put-document", "KMS refuses the data key of 'mine/contract-7'")


def test_10_read_document_passes_only_with_the_decrypted_memo(kms, s3, practice):
    memo = memo_plaintext(kms, s3)
    assert len(memo) == 32
    assert_passes(kms, "10-read-document", memo_text=memo)
    assert_fails(kms, "10-read-document", "is a str", memo_text=memo.decode())
    assert_fails(kms, "10-read-document", "not the memo's content", memo_text=b"memo")


# --- exercise 4: sharing by grant -----------------------------------------------------------------

MEMO = {"doc_id": "memo-1", "owner": "carol"}


def lesson_namespace(kms, s3, practice_setup) -> dict:
    bucket, key = practice_setup
    roles = cp.practice_roles()
    return {"kms": kms, "s3": s3, "practice_bucket": bucket, "practice_key_id": key,
            "dave_role": roles["dave"], "frank_role": roles["frank"],
            "grace_role": roles["grace"]}


def grant_dave(kms, key, **overrides) -> dict:
    params = {"KeyId": key, "GranteePrincipal": cp.practice_roles()["dave"],
              "Operations": ["Decrypt"], "Constraints": {"EncryptionContextEquals": MEMO}}
    params.update(overrides)
    return kms.create_grant(**{k: v for k, v in params.items() if v is not None})


def read_memo_with(client, s3, token=None) -> bytes:
    obj = s3.get_object(Bucket=cap.PRACTICE_BUCKET, Key="mine/memo-1")
    tokens = {"GrantTokens": [token]} if token else {}
    data_key = client.decrypt(
        CiphertextBlob=base64.b64decode(obj["Metadata"]["encrypted-data-key"]),
        EncryptionContext=MEMO, **tokens)["Plaintext"]
    return AESGCM(data_key).decrypt(base64.b64decode(obj["Metadata"]["nonce"]), obj["Body"].read(),
                                    json.dumps(MEMO, sort_keys=True).encode())


def as_dave():
    return cp.role_client(cp.practice_roles()["dave"], "client-as")


def test_10_share_document_passes_with_a_decrypt_grant_for_the_memo_read_as_dave(kms, s3, practice):
    _, key = practice
    grant = grant_dave(kms, key)
    text = read_memo_with(as_dave(), s3, grant["GrantToken"])
    assert text == memo_plaintext(kms, s3)
    assert_passes(kms, "10-share-document", practice_key_id=key, dave_grant_id=grant["GrantId"],
                  dave_memo_text=text)
    assert_fails(kms, "10-share-document", "`dave_memo_text` is not", practice_key_id=key,
                 dave_grant_id=grant["GrantId"], dave_memo_text=b"?")
    assert_fails(kms, "10-share-document", "is not a grant of capstone-dave", practice_key_id=key,
                 dave_grant_id="0" * 64, dave_memo_text=text)
    kms.revoke_grant(KeyId=key, GrantId=grant["GrantId"])
    subset = grant_dave(kms, key, Constraints={"EncryptionContextSubset": MEMO})  # also exact
    assert_passes(kms, "10-share-document", practice_key_id=key, dave_grant_id=subset["GrantId"],
                  dave_memo_text=text)


def test_10_share_document_fails_on_an_unconstrained_or_wider_grant(kms, s3, practice):
    _, key = practice
    text = memo_plaintext(kms, s3)
    wide = grant_dave(kms, key, Constraints=None)
    read_memo_with(as_dave(), s3, wide["GrantToken"])
    assert_fails(kms, "10-share-document", "without the memo's encryption context",
                 practice_key_id=key, dave_grant_id=wide["GrantId"], dave_memo_text=text)
    more = grant_dave(kms, key, Operations=["Decrypt", "Encrypt"])
    assert_fails(kms, "10-share-document", "reading needs only Operations=['Decrypt']",
                 practice_key_id=key, dave_grant_id=more["GrantId"], dave_memo_text=text)


def test_10_share_document_fails_when_the_memo_was_read_with_the_owners_client(kms, s3, practice):
    _, key = practice
    grant = grant_dave(kms, key)
    assert_fails(kms, "10-share-document", "no Decrypt of the memo's data key by capstone-dave",
                 practice_key_id=key, dave_grant_id=grant["GrantId"],
                 dave_memo_text=read_memo_with(kms, s3))


def test_10_share_document_master_rerun_after_a_wrong_attempt_passes(kms, s3, practice):
    """Issue 11 item 2: a first attempt left Dave an unconstrained grant; the correct cell run
    again must pass, and a correct grant beside the old one gets a message naming what to do."""
    _, key = practice
    wrong = grant_dave(kms, key, Constraints=None)
    right = grant_dave(kms, key, Name="memo-1-dave")
    text = read_memo_with(as_dave(), s3, right["GrantToken"])
    result = verdict(kms, "10-share-document", practice_key_id=key, dave_grant_id=right["GrantId"],
                     dave_memo_text=text)
    assert not result.passed
    assert "other grant(s)" in result.message and wrong["GrantId"] in result.message
    assert "kms.revoke_grant(KeyId=practice_key_id" in result.message
    ns = run_master("10-share-document", lesson_namespace(kms, s3, practice))
    assert_passes(kms, "10-share-document", **{k: ns[k] for k in (
        "practice_key_id", "dave_grant_id", "dave_memo_text")})


# --- exercise 5: the packaged store, shared and revoked ----------------------------------------


def plan_store(kms, s3, key):
    from kms_course.envelope.docstore import DocumentStore

    store = DocumentStore(kms, s3, cap.PRACTICE_BUCKET, key)
    store.put(cap.PLAN_ID, cap.PLAN_OWNER, cap.PLAN_BODY)
    return store


def test_10_docstore_passes_after_the_master_and_again_after_a_wrong_attempt(kms, s3, practice):
    _, key = practice
    store = plan_store(kms, s3, key)  # attempt 1: names instead of principals
    store.share(cap.PLAN_ID, "frank")
    assert_fails(kms, "10-docstore", "you shared with the name 'frank'", frank_reads=cap.PLAN_BODY)
    ns = run_master("10-docstore", lesson_namespace(kms, s3, practice))
    assert ns["frank_reads"] == cap.PLAN_BODY
    assert_passes(kms, "10-docstore", frank_reads=ns["frank_reads"])
    assert_fails(kms, "10-docstore", "`frank_reads` should be", frank_reads=b"?")
    store.put(cap.PLAN_ID, "mallory", cap.PLAN_BODY)
    assert_fails(kms, "10-docstore", "owned by 'mallory'", frank_reads=cap.PLAN_BODY)


def test_10_docstore_fails_until_grace_was_shared_and_revoked(kms, s3, practice):
    _, key = practice
    roles = cp.practice_roles()
    store = plan_store(kms, s3, key)
    store.share(cap.PLAN_ID, roles["frank"])
    assert_fails(kms, "10-docstore", "no grant given to capstone-grace and revoked",
                 frank_reads=cap.PLAN_BODY)
    store.share(cap.PLAN_ID, roles["grace"])
    assert_fails(kms, "10-docstore", "still shared with capstone-grace", frank_reads=cap.PLAN_BODY)
    store.revoke(cap.PLAN_ID, roles["grace"])
    assert_passes(kms, "10-docstore", frank_reads=cap.PLAN_BODY)


def test_10_docstore_fails_when_frank_holds_a_wider_grant_by_hand(kms, s3, practice):
    _, key = practice
    roles = cp.practice_roles()
    store = plan_store(kms, s3, key)
    store.share(cap.PLAN_ID, roles["frank"])
    store.share(cap.PLAN_ID, roles["grace"])
    store.revoke(cap.PLAN_ID, roles["grace"])
    assert_passes(kms, "10-docstore", frank_reads=cap.PLAN_BODY)
    kms.create_grant(KeyId=key, GranteePrincipal=roles["frank"], Operations=["Decrypt"])
    assert_fails(kms, "10-docstore", "decrypting another document gave it succeeded",
                 frank_reads=cap.PLAN_BODY)


def test_10_docstore_without_the_practice_bucket_says_to_prepare_it(kms):
    assert_fails(kms, "10-docstore", "prepare_practice", frank_reads=cap.PLAN_BODY)


# --- exercise 6: who read the ledger -------------------------------------------------------------


def staged_audit(kms, s3, seed: int) -> tuple[str, list[str]]:
    """A new practice key with the ledger and the brief, its audit staged with ``seed``:
    ``(key_id, the role ARNs that read the ledger)`` as the staging itself reports them."""
    cp.ensure_roles(cp.ANALYSTS)
    key = new_key(kms)
    ledger = cp.plant_document(kms, s3, key, cp.LEDGER_ID, cp.LEDGER_OWNER, b"l")
    brief = cp.plant_document(kms, s3, key, cp.BRIEF_ID, cp.BRIEF_OWNER, b"b")
    return key, cp.stage_ledger_audit(kms, key, ledger, brief, rng=random.Random(seed))


def test_10_who_read_passes_with_the_readers_the_audit_made(kms, s3, practice):
    key, readers = staged_audit(kms, s3, seed=3)
    assert 1 <= len(readers) <= 3
    assert_passes(kms, "10-who-read", practice_key_id=key, ledger_readers=readers)
    ns = run_master("10-who-read", {"practice_key_id": key})
    assert ns["ledger_readers"] == readers
    _, prepared_key = cap.prepare_practice(kms, s3)  # the lesson's setup cell stages one too
    ns = run_master("10-who-read", {"practice_key_id": prepared_key})
    assert_passes(kms, "10-who-read", practice_key_id=prepared_key,
                  ledger_readers=ns["ledger_readers"])


def test_10_who_read_refuses_decoys_and_wrong_forms(kms, s3, practice):
    key, readers = staged_audit(kms, s3, seed=3)
    analysts = [cp.role_arn(a) for a in cp.ANALYSTS]
    decoy = next(a for a in analysts if a not in readers)
    answers = {"practice_key_id": key}
    assert_fails(kms, "10-who-read", "names 1 principal(s) that did not",
                 ledger_readers=sorted([*readers, decoy]), **answers)
    assert_fails(kms, "10-who-read", f"misses {len(readers)} principal(s)", ledger_readers=[],
                 **answers)
    assert_fails(kms, "10-who-read", "misses 1 principal(s)",
                 ledger_readers=readers[1:], **answers)
    assert_fails(kms, "10-who-read", "is a set", ledger_readers=set(readers), **answers)
    sessions = [a.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/ledger-review"
                for a in readers]
    assert_fails(kms, "10-who-read", "role session ARNs", ledger_readers=sessions, **answers)
    assert_fails(kms, "10-who-read", "holds names",
                 ledger_readers=[a.rsplit("/", 1)[-1] for a in readers], **answers)
    assert_fails(kms, "10-who-read", "a list of the readers' IAM role ARNs",
                 ledger_readers="capstone-amir", **answers)


def test_10_who_read_refuses_a_list_typed_in_from_an_earlier_run(kms, s3, practice):
    first_key, first = staged_audit(kms, s3, seed=1)
    second_key, second = staged_audit(kms, s3, seed=2)
    assert first != second  # the seeds draw different readers (a precondition of this test)
    assert_passes(kms, "10-who-read", practice_key_id=first_key, ledger_readers=first)
    assert_fails(kms, "10-who-read", "never type them in", practice_key_id=second_key,
                 ledger_readers=first)


def test_10_who_read_counts_a_later_read_by_the_account(kms, s3, practice):
    """The answer is the trail as it is when checked: a read by your own client counts too."""
    key, readers = staged_audit(kms, s3, seed=3)
    obj = s3.get_object(Bucket=cap.PRACTICE_BUCKET, Key="mine/ledger-9")
    kms.decrypt(CiphertextBlob=base64.b64decode(obj["Metadata"]["encrypted-data-key"]),
                EncryptionContext={"doc_id": "ledger-9", "owner": "henry"})
    root = f"arn:aws:iam::{kms.describe_key(KeyId=key)['KeyMetadata']['AWSAccountId']}:root"
    assert_fails(kms, "10-who-read", "misses 1", practice_key_id=key, ledger_readers=readers)
    assert_passes(kms, "10-who-read", practice_key_id=key, ledger_readers=sorted([*readers, root]))


def test_10_who_read_without_the_audit_says_to_prepare_it(kms):
    key = new_key(kms)
    assert_fails(kms, "10-who-read", "shows no Decrypt of ledger-9", practice_key_id=key,
                 ledger_readers=[])
