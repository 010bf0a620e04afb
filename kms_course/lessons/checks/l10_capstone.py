"""Checks of lesson 10, the capstone "secure document storage service"
(notebooks/10_capstone_document_store.ipynb); the practice bucket's layout and setup are in
:mod:`kms_course.lessons.practice`, which a graded kernel may import (this module it may not).

In the exercises the student stores documents in their own, hand-made layout (the raw steps of
lesson 05), in the practice bucket :data:`PRACTICE_BUCKET`:

* object ``mine/<doc_id>``: the body is the AES-256-GCM ciphertext (with its 16-byte tag); the
  object's user metadata holds ``encrypted-data-key`` and ``nonce``, each base64 text (S3 user
  metadata is text, at most 2 KB per object:
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html);
* the encryption context is ``{"doc_id": <doc_id>, "owner": <owner>}`` (the same pairs as
  :meth:`kms_course.envelope.docstore.DocumentStore.context`), passed to GenerateDataKey and used as AES-GCM
  associated data as ``json.dumps(context, sort_keys=True).encode("utf-8")``;
* sharing a document with a reader, an IAM role of the account (:data:`READER_ROLES`), is a
  KMS grant on the practice key for that role: the operation ``Decrypt`` only, constrained to the
  document's encryption context (``EncryptionContextEquals``, or ``EncryptionContextSubset``
  with the same pairs), so the reader decrypts that document's data key with its own credentials
  and no other; revoking is ``RevokeGrant`` (or ``RetireGrant``). The checks prove it by calling
  KMS *as the reader* (:func:`kms_course.lessons.practice.role_client`, session ``course-check``):
  the shared document decrypts, another is refused with AccessDeniedException, a revoked reader is
  refused; and from the trail that the student's own calls did the work (e.g. Dave decrypted in a
  session of his own);
* the audit exercise's answer, who decrypted ``ledger-9``, is computed from the sandbox's trail
  (:mod:`kms_course.sandbox.trail`), whose readers
  :func:`kms_course.lessons.practice.prepare_practice` draws at random on every run, so a list typed
  in from an earlier run does not pass.

Sources: GenerateDataKey https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html,
Decrypt https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html, encryption context
https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html, grants
https://docs.aws.amazon.com/kms/latest/developerguide/grants.html, grant constraints
https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html, retiring and
revoking grants https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html, the
Decrypt event in CloudTrail https://docs.aws.amazon.com/kms/latest/developerguide/ct-decrypt.html
and the userIdentity element
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_course.lessons.checks._common import (
    b64decode_text,
    calls,
    decrypt_or_fail,
    describe_answer_key,
    succeeded,
)
from kms_course.lessons.exercises import Answers, CheckFailed, exercise
from kms_course.lessons.practice import (  # noqa: F401  (the practice layout, public for the lesson)
    ANALYSTS,
    LEDGER_ID,
    LEDGER_OWNER,
    MEMO_ID,
    MEMO_OWNER,
    MINE_PREFIX,
    PRACTICE_BUCKET,
    READER_ROLES,
    context_aad,
    document_context,
    prepare_practice,
    role_arn,
    role_client,
)

LESSON = "10_capstone_document_store"
STORE_BUCKET = "capstone-docs"
STORE_ALIAS = "alias/capstone-docs"
#: The documents exercise 2 stores: doc_id -> (owner, body).
PUT_DOCUMENTS = {
    "contract-7": ("alice", b"Contract 7: delivery of 40 pallets by June"),
    "payroll-3": ("bob", b"Payroll March: 12 employees, total 61,200 EUR"),
}
MEMO_READER = "dave"
PLAN_ID, PLAN_OWNER, PLAN_READER, PLAN_REVOKED = "plan-2025", "erin", "frank", "grace"
PLAN_BODY = b"Quarterly plan: open the Lisbon office"
#: The role session the checks act in (so the trail tells their calls from the student's).
CHECK_SESSION = "course-check"
PREPARE_HINT = "run the cell that prepares the practice bucket (prepare_practice) first"


def _s3():
    from kms_course.sandbox.start import client

    return client("s3")


def _get_object(s3: Any, key: str, what: str) -> dict:
    try:
        return s3.get_object(Bucket=PRACTICE_BUCKET, Key=key)
    except s3.exceptions.NoSuchBucket:
        raise CheckFailed(
            f"There is no bucket {PRACTICE_BUCKET!r}: run the cell that prepares the practice "
            "bucket (prepare_practice) first."
        ) from None
    except s3.exceptions.NoSuchKey:
        raise CheckFailed(f"There is no object {key!r} in {PRACTICE_BUCKET!r}: {what}.") from None


def _metadata_bytes(metadata: dict, field: str, key: str) -> bytes:
    if field not in metadata:
        raise CheckFailed(
            f"Object {key!r} has no user metadata {field!r}: pass Metadata={{'encrypted-data-key': "
            "..., 'nonce': ...}} (base64 text) to put_object."
        )
    text = metadata[field]
    if len(text) >= 16 and all(c in "0123456789abcdef" for c in text):
        raise CheckFailed(
            f"The metadata {field!r} of {key!r} looks like hex text, not base64 text: store "
            "base64.b64encode(value).decode('ascii')."
        )
    try:
        return b64decode_text(text)
    except (binascii.Error, ValueError):
        raise CheckFailed(
            f"The metadata {field!r} of {key!r} is not base64 text: store "
            "base64.b64encode(value).decode('ascii')."
        ) from None


def open_mine(kms: Any, s3: Any, doc_id: str, owner: str) -> tuple[bytes, bytes, bytes]:
    """Open ``mine/<doc_id>`` of the practice bucket as its owner would.

    Returns:
        ``(document, data_key, encrypted_data_key)``, all bytes.

    Raises:
        CheckFailed: the object or its metadata is missing or malformed, KMS refuses the data key
            for the context ``{"doc_id", "owner"}``, or AES-GCM authentication fails.
    """
    key = MINE_PREFIX + doc_id
    obj = _get_object(s3, key, f"store it with put_document(..., {doc_id!r}, {owner!r}, ...)")
    metadata = obj.get("Metadata", {})
    encrypted_data_key = _metadata_bytes(metadata, "encrypted-data-key", key)
    nonce = _metadata_bytes(metadata, "nonce", key)
    context = document_context(doc_id, owner)
    data_key = decrypt_or_fail(
        kms,
        f"KMS refuses the data key of {key!r} with the encryption context {context}",
        "generate it with exactly that context.",
        CiphertextBlob=encrypted_data_key,
        EncryptionContext=context,
    )["Plaintext"]
    body = obj["Body"].read()
    try:
        document = AESGCM(data_key).decrypt(nonce, body, context_aad(context))
    except (InvalidTag, ValueError):
        raise CheckFailed(
            f"The body of {key!r} does not decrypt with its data key, nonce and the encryption "
            "context as associated data: store the AES-GCM ciphertext as the body and "
            "json.dumps(context, sort_keys=True).encode('utf-8') as the AAD."
        ) from None
    return document, data_key, encrypted_data_key


@exercise(
    "10-store-setup",
    lesson=LESSON,
    points=2,
    hint="s3.create_bucket(Bucket='capstone-docs'); kms.create_key(); "
    "kms.create_alias(AliasName='alias/capstone-docs', TargetKeyId=...).",
    answers=("cap_bucket", "cap_key_id"),
)
def _(kms: Any, answers: Answers) -> None:
    s3 = _s3()
    bucket = answers.get("cap_bucket")
    if bucket != STORE_BUCKET:
        raise CheckFailed(f"`cap_bucket` is {bucket!r}; the exercise asks for {STORE_BUCKET!r}.")
    names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if STORE_BUCKET not in names:
        raise CheckFailed(f"There is no bucket {STORE_BUCKET!r}: create it with s3.create_bucket.")
    meta = describe_answer_key(kms, answers, "cap_key_id")
    if meta.get("KeySpec") != "SYMMETRIC_DEFAULT" or meta.get("KeyUsage", "ENCRYPT_DECRYPT") != (
        "ENCRYPT_DECRYPT"
    ):
        raise CheckFailed(
            "Data keys come only from symmetric encryption keys: create the key with the "
            "defaults (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT)."
        )
    if meta["KeyState"] != "Enabled":
        raise CheckFailed(f"The key is {meta['KeyState']}: the store needs an Enabled key.")
    aliases = kms.list_aliases(KeyId=meta["KeyId"]).get("Aliases", [])
    if STORE_ALIAS not in {a["AliasName"] for a in aliases}:
        elsewhere = [a for a in kms.list_aliases().get("Aliases", [])
                     if a["AliasName"] == STORE_ALIAS and a.get("TargetKeyId")]
        if elsewhere:  # an earlier attempt made the alias, so create_alias now fails
            raise CheckFailed(
                f"{STORE_ALIAS} already points to another key, made by an earlier run of your "
                f"cell, so create_alias raises AlreadyExistsException: run kms.delete_alias("
                f"AliasName='{STORE_ALIAS}') once, then your cell again (or point the alias at "
                f"this key with kms.update_alias(AliasName='{STORE_ALIAS}', "
                "TargetKeyId=cap_key_id))."
            )
        raise CheckFailed(
            f"{STORE_ALIAS} does not point to `cap_key_id`: call kms.create_alias("
            f"AliasName='{STORE_ALIAS}', TargetKeyId=cap_key_id)."
        )


@exercise(
    "10-put-document",
    lesson=LESSON,
    points=4,
    hint="In put_document: generate_data_key with EncryptionContext={'doc_id': ..., 'owner': ...}, "
    "a fresh os.urandom(12) nonce, AESGCM(...).encrypt(nonce, body, aad), then s3.put_object(... "
    "Key='mine/' + doc_id, Body=ciphertext, Metadata={...base64 text...}).",
    answers=(),
)
def _(kms: Any, answers: Answers) -> None:
    s3 = _s3()
    seen_keys, seen_nonces = set(), set()
    for doc_id, (owner, expected) in PUT_DOCUMENTS.items():
        document, data_key, _encrypted_data_key = open_mine(kms, s3, doc_id, owner)
        if document != expected:
            raise CheckFailed(f"mine/{doc_id} decrypts to {document!r}, not {expected!r}.")
        head = s3.head_object(Bucket=PRACTICE_BUCKET, Key=MINE_PREFIX + doc_id)
        nonce = b64decode_text(head["Metadata"]["nonce"])
        if data_key in seen_keys:  # the keys themselves, however each copy was encrypted
            raise CheckFailed(
                "Both documents were encrypted with the same data key (their encrypted data keys "
                "decrypt to the same key): call generate_data_key inside put_document, once per "
                "document."
            )
        if nonce in seen_nonces:
            raise CheckFailed(
                "Both documents use the same nonce: make a fresh os.urandom(12) per call."
            )
        seen_keys.add(data_key)
        seen_nonces.add(nonce)


@exercise(
    "10-read-document",
    lesson=LESSON,
    points=3,
    hint="Read the object and its Metadata, base64-decode the encrypted data key and nonce, "
    "kms.decrypt with EncryptionContext={'doc_id': 'memo-1', 'owner': 'carol'}, then AES-GCM "
    "decrypt with the same context as AAD.",
    answers=("memo_text",),
)
def _(kms: Any, answers: Answers) -> None:
    text = answers.get("memo_text")
    memo, _data_key, _edk = open_mine(kms, _s3(), MEMO_ID, MEMO_OWNER)
    if isinstance(text, str):
        raise CheckFailed("`memo_text` is a str: keep the bytes that AESGCM.decrypt returns.")
    if text != memo:
        raise CheckFailed(
            "`memo_text` is not the memo's content: decrypt mine/memo-1 (its content is random, "
            "so only decrypting it gives the right bytes)."
        )


# --- acting as a reader ------------------------------------------------------------------------


def _as(role: str):
    """A KMS client acting as IAM role ``role`` of the practice (session :data:`CHECK_SESSION`)."""
    try:
        return role_client(role_arn(role), CHECK_SESSION)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchEntity", "NoSuchEntityException"):
            raise CheckFailed(f"The IAM role {role} does not exist: {PREPARE_HINT}.") from None
        raise


def _refused(call) -> str | None:
    """Run ``call()``; None if KMS answered AccessDeniedException, else what happened instead."""
    try:
        call()
    except ClientError as error:
        code = error.response["Error"]["Code"]
        return None if code == "AccessDeniedException" else code
    return "it succeeded"


def _root_ciphertext(kms: Any, key_arn: str, context: dict[str, str]) -> bytes:
    """A ciphertext of another document, made by the account (the setup cell's client)."""
    return kms.encrypt(KeyId=key_arn, Plaintext=b"another document",
                       EncryptionContext=context)["CiphertextBlob"]


def _principal(event: dict) -> str:
    """Who made a trail event: a role session's role ARN (``sessionContext.sessionIssuer``),
    else ``userIdentity.arn``."""
    identity = event.get("userIdentity") or {}
    issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
    return issuer.get("arn") or identity.get("arn", "")


def _session(event: dict) -> str:
    return (event.get("userIdentity") or {}).get("arn", "").rsplit("/", 1)[-1]


def _context_of(event: dict) -> dict | None:
    return (event.get("requestParameters") or {}).get("encryptionContext")


def _trail(key_arn: str, event_name: str) -> list[dict]:
    events = calls(key_arn, event_name)
    if events is None:
        raise CheckFailed(
            "This check reads the sandbox's trail, which the aws backend has not: on real AWS "
            "the same events are in CloudTrail (Event history). Do this exercise in the sandbox."
        )
    return events


# --- exercise 4: sharing by grant ----------------------------------------------------------------

SHARE_FIX = ("give capstone-dave one grant: Operations=['Decrypt'], Constraints="
             "{'EncryptionContextEquals': {'doc_id': 'memo-1', 'owner': 'carol'}}.")


def _memo_edk(s3: Any) -> bytes:
    key = MINE_PREFIX + MEMO_ID
    metadata = _get_object(s3, key, PREPARE_HINT).get("Metadata", {})
    return _metadata_bytes(metadata, "encrypted-data-key", key)


@exercise(
    "10-share-document",
    lesson=LESSON,
    points=3,
    hint="kms.create_grant(KeyId=practice_key_id, GranteePrincipal=dave_role, "
    "Operations=['Decrypt'], Constraints={'EncryptionContextEquals': {'doc_id': 'memo-1', "
    "'owner': 'carol'}}); then client_as(dave_role).decrypt(CiphertextBlob=<memo's encrypted "
    "data key>, EncryptionContext=..., GrantTokens=[<the GrantToken>]).",
    answers=("practice_key_id", "dave_grant_id", "dave_memo_text"),
)
def _(kms: Any, answers: Answers) -> None:
    s3 = _s3()
    meta = describe_answer_key(kms, answers, "practice_key_id")
    arn = meta["Arn"]
    memo, _data_key, _edk = open_mine(kms, s3, MEMO_ID, MEMO_OWNER)
    dave = role_arn(READER_ROLES[MEMO_READER])
    grant_id = answers.get("dave_grant_id")
    pages = kms.get_paginator("list_grants").paginate(KeyId=arn, GranteePrincipal=dave)
    grants = [g for page in pages for g in page.get("Grants", [])]
    grant = next((g for g in grants if g["GrantId"] == grant_id), None)
    if grant is None:
        raise CheckFailed(
            f"`dave_grant_id` ({grant_id!r}) is not a grant of capstone-dave on practice_key_id: "
            "store the GrantId of your create_grant response (GranteePrincipal=dave_role)."
        )
    if grant.get("Operations") != ["Decrypt"]:
        raise CheckFailed(f"The grant allows {grant.get('Operations')}: reading needs only "
                          "Operations=['Decrypt'].")
    memo_context = document_context(MEMO_ID, MEMO_OWNER)
    constraints = grant.get("Constraints") or {}
    if memo_context not in (constraints.get("EncryptionContextEquals"),
                            constraints.get("EncryptionContextSubset")):
        raise CheckFailed(
            f"The grant's constraints are {constraints!r}: without the memo's encryption context "
            f"as a constraint Dave could decrypt every document under the key; {SHARE_FIX}"
        )
    others = [g["GrantId"] for g in grants if g["GrantId"] != grant_id]
    leftover = (f" Dave also holds {len(others)} other grant(s) on the key, e.g. from an earlier "
                "run of your cell: revoke each with kms.revoke_grant(KeyId=practice_key_id, "
                f"GrantId=...) ({', '.join(others)})." if others else "")
    as_dave = _as(READER_ROLES[MEMO_READER])
    edk = _memo_edk(s3)
    try:
        as_dave.decrypt(CiphertextBlob=edk, KeyId=arn, EncryptionContext=memo_context)
    except ClientError as error:
        raise CheckFailed(f"As capstone-dave, KMS answers {error.response['Error']['Code']} for "
                          f"the memo's data key: {SHARE_FIX}") from None
    for other in (document_context("memo-2", MEMO_OWNER), document_context(MEMO_ID, "mallory")):
        blob = _root_ciphertext(kms, arn, other)
        outcome = _refused(lambda: as_dave.decrypt(CiphertextBlob=blob, KeyId=arn,
                                                   EncryptionContext=other))
        if outcome is not None:
            raise CheckFailed(f"As capstone-dave, decrypting another document ({other}) gave "
                              f"{outcome}, not AccessDeniedException: {SHARE_FIX}{leftover}")
    outcome = _refused(lambda: as_dave.encrypt(KeyId=arn, Plaintext=b"x",
                                               EncryptionContext=memo_context))
    if outcome is not None:
        raise CheckFailed(f"As capstone-dave, Encrypt gave {outcome}, not AccessDeniedException: "
                          f"a reader only decrypts.{leftover}")
    own = [e for e in succeeded(_trail(arn, "Decrypt"))
           if _principal(e) == dave and _session(e) != CHECK_SESSION
           and _context_of(e) == memo_context]
    if not own:
        raise CheckFailed("The trail shows no Decrypt of the memo's data key by capstone-dave: "
                          "decrypt it as Dave, with client_as(dave_role), not with your own "
                          "client.")
    text = answers.get("dave_memo_text")
    if text != memo:
        raise CheckFailed(
            "`dave_memo_text` is not the memo's content: as Dave, decrypt the memo's data key, "
            "then the memo with AES-GCM and the memo's context as AAD."
        )


# --- exercise 5: the packaged store, shared and revoked -------------------------------------------

STORE_FIX = ("share with the role ARNs (frank_role, grace_role), not the names, then "
             "store.revoke(plan-2025, grace_role).")


@exercise(
    "10-docstore",
    lesson=LESSON,
    points=3,
    hint="store = DocumentStore(kms, s3, practice_bucket, practice_key_id); store.put(...); "
    "store.share('plan-2025', frank_role); store.share('plan-2025', grace_role); frank_reads = "
    "store.get('plan-2025', frank_role); store.revoke('plan-2025', grace_role).",
    answers=("frank_reads",),
)
def _(kms: Any, answers: Answers) -> None:
    from kms_course import envelope
    from kms_course.envelope.docstore import DocumentAccessDenied, DocumentNotFound, DocumentStore

    _require_practice_bucket()
    s3 = _s3()
    store = DocumentStore(kms, s3, PRACTICE_BUCKET, key_id="")
    entry = {d["doc_id"]: d for d in store.list()}.get(PLAN_ID)
    if entry is None:
        raise CheckFailed(f"No document {PLAN_ID!r} in the store: store.put it first.")
    if entry["owner"] != PLAN_OWNER:
        raise CheckFailed(f"{PLAN_ID!r} is owned by {entry['owner']!r}, not {PLAN_OWNER!r}.")
    frank, grace = (role_arn(READER_ROLES[n]) for n in (PLAN_READER, PLAN_REVOKED))
    if frank not in entry["readers"]:
        named = " (you shared with the name 'frank')" if PLAN_READER in entry["readers"] else ""
        raise CheckFailed(f"{PLAN_ID!r} is not shared with capstone-frank's role ARN{named}: "
                          f"{STORE_FIX}")
    if grace in entry["readers"]:
        raise CheckFailed(f"{PLAN_ID!r} is still shared with capstone-grace: call "
                          "store.revoke('plan-2025', grace_role).")
    try:
        body = store.get(PLAN_ID, frank, kms=_as(READER_ROLES[PLAN_READER]))
    except DocumentAccessDenied as error:
        raise CheckFailed(f"As capstone-frank: {error}") from None
    except DocumentNotFound as error:
        raise CheckFailed(str(error)) from None
    if body != PLAN_BODY:
        raise CheckFailed(f"{PLAN_ID!r} holds {body!r}, not {PLAN_BODY!r}.")
    stored = s3.get_object(Bucket=PRACTICE_BUCKET, Key="docs/" + PLAN_ID)["Body"].read()
    key_arn = json.loads(envelope.to_json(stored))["key_arn"]
    context = document_context(PLAN_ID, PLAN_OWNER)
    try:
        envelope.decrypt(_as(READER_ROLES[PLAN_REVOKED]), stored, context)
        raise CheckFailed("capstone-grace can still decrypt plan-2025 with her own credentials: "
                          "revoke her grant with store.revoke('plan-2025', grace_role).")
    except envelope.WrongKey:
        pass  # AccessDeniedException: the grant is gone
    grace_grants = [e for e in succeeded(_trail(key_arn, "CreateGrant"))
                    if (e.get("requestParameters") or {}).get("granteePrincipal") == grace]
    ended = succeeded(_trail(key_arn, "RevokeGrant")) + succeeded(_trail(key_arn, "RetireGrant"))
    if not grace_grants or not any(e["eventTime"] >= grace_grants[-1]["eventTime"] for e in ended):
        raise CheckFailed("The trail shows no grant given to capstone-grace and revoked after: "
                          "share plan-2025 with grace_role, then revoke it.")
    other = document_context("plan-2026", PLAN_OWNER)
    blob = _root_ciphertext(kms, key_arn, other)
    as_frank = _as(READER_ROLES[PLAN_READER])
    outcome = _refused(lambda: as_frank.decrypt(CiphertextBlob=blob, KeyId=key_arn,
                                                EncryptionContext=other))
    if outcome is not None:
        raise CheckFailed(f"As capstone-frank, decrypting another document gave {outcome}, not "
                          "AccessDeniedException: a grant of the store should cover plan-2025 "
                          "only (remove any grant you gave frank by hand).")
    if answers.get("frank_reads") != PLAN_BODY:
        raise CheckFailed("`frank_reads` should be what store.get('plan-2025', frank_role) "
                          "returns.")


def _require_practice_bucket() -> None:
    names = {b["Name"] for b in _s3().list_buckets().get("Buckets", [])}
    if PRACTICE_BUCKET not in names:
        raise CheckFailed(
            f"There is no bucket {PRACTICE_BUCKET!r}: run the cell that prepares the practice "
            "bucket (prepare_practice) first."
        )


# --- exercise 6: who read the ledger -------------------------------------------------------------


def ledger_readers(key_arn: str) -> set[str]:
    """The principals the trail shows decrypting ledger-9's data key under ``key_arn``: role ARNs
    for role sessions, else ``userIdentity.arn``; refused calls and other contexts left out."""
    ledger = document_context(LEDGER_ID, LEDGER_OWNER)
    return {_principal(e) for e in succeeded(_trail(key_arn, "Decrypt"))
            if _context_of(e) == ledger}


@exercise(
    "10-who-read",
    lesson=LESSON,
    points=3,
    hint="trail(key_id=practice_key_id, event_name='Decrypt'): keep the events without "
    "'errorCode' whose requestParameters['encryptionContext'] is the ledger's context, and take "
    "userIdentity['sessionContext']['sessionIssuer']['arn'] of each; sorted(set(...)).",
    answers=("practice_key_id", "ledger_readers"),
)
def _(kms: Any, answers: Answers) -> None:
    meta = describe_answer_key(kms, answers, "practice_key_id")
    truth = ledger_readers(meta["Arn"])
    if not truth:
        raise CheckFailed(f"The trail of practice_key_id shows no Decrypt of {LEDGER_ID}: "
                          f"{PREPARE_HINT}.")
    given = answers.get("ledger_readers")
    if isinstance(given, (set, frozenset)):
        raise CheckFailed("`ledger_readers` is a set: store a list, e.g. sorted(readers) (the "
                          "grader reads lists).")
    if not isinstance(given, (list, tuple)) or not all(isinstance(a, str) for a in given):
        raise CheckFailed(f"`ledger_readers` is {type(given).__name__}: store a list of the "
                          "readers' IAM role ARNs (str).")
    given = set(given)
    if any(":assumed-role/" in a for a in given):
        raise CheckFailed(
            "`ledger_readers` holds role session ARNs (arn:aws:sts::...:assumed-role/...): give "
            "the roles' ARNs, userIdentity['sessionContext']['sessionIssuer']['arn']."
        )
    if given and not any(a.startswith("arn:") for a in given):
        raise CheckFailed("`ledger_readers` holds names: give the readers' IAM role ARNs, as the "
                          "trail's userIdentity names them.")
    if given == truth:
        return
    missing, extra = len(truth - given), len(given - truth)
    problems = []
    if missing:
        problems.append(f"misses {missing} principal(s) the trail shows decrypting the "
                        "ledger's data key")
    if extra:
        problems.append(f"names {extra} principal(s) that did not: a refused call (it has an "
                        "errorCode) or a Decrypt of another document (look at "
                        "requestParameters['encryptionContext']) is not a read")
    raise CheckFailed(
        "`ledger_readers` " + " and ".join(problems) + ". The readers are drawn at random each "
        "time the practice is prepared: read them from trail(key_id=practice_key_id, "
        "event_name='Decrypt'), never type them in."
    )
