"""Checks of lesson 10, the capstone "secure document storage service"
(notebooks/10_capstone_document_store.ipynb); the practice bucket's layout and setup are in
:mod:`kms_course.practice`, which a graded kernel may import (this module it may not).

In the exercises the student stores documents in their own, hand-made layout (the raw steps of
lesson 05), in the practice bucket :data:`PRACTICE_BUCKET`:

* object ``mine/<doc_id>``: the body is the AES-256-GCM ciphertext (with its 16-byte tag); the
  object's user metadata holds ``encrypted-data-key`` and ``nonce``, each base64 text (S3 user
  metadata is text, at most 2 KB per object:
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html);
* the encryption context is ``{"doc_id": <doc_id>, "owner": <owner>}`` (the same pairs as
  :meth:`kms_course.docstore.DocumentStore.context`), passed to GenerateDataKey and used as AES-GCM
  associated data as ``json.dumps(context, sort_keys=True).encode("utf-8")``;
* sharing with a reader stores ``shares/<doc_id>/<reader>``, the document's data key encrypted
  again with the context ``{"doc_id", "owner", "reader"}`` (ReEncrypt, or Decrypt then Encrypt):
  https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html

Sources: GenerateDataKey https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html,
Decrypt https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html, encryption context
https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kms_course.checks._common import b64decode_text, decrypt_or_fail, describe_answer_key
from kms_course.exercises import Answers, CheckFailed, exercise
from kms_course.practice import (  # noqa: F401  (the practice layout, public for the lesson)
    MEMO_ID,
    MEMO_OWNER,
    MINE_PREFIX,
    PRACTICE_BUCKET,
    context_aad,
    document_context,
    prepare_practice,
)

LESSON = "10_capstone_document_store"
STORE_BUCKET = "capstone-docs"
STORE_ALIAS = "alias/capstone-docs"
SHARES_PREFIX = "shares/"
#: The documents exercise 2 stores: doc_id -> (owner, body).
PUT_DOCUMENTS = {
    "contract-7": ("alice", b"Contract 7: delivery of 40 pallets by June"),
    "payroll-3": ("bob", b"Payroll March: 12 employees, total 61,200 EUR"),
}
MEMO_READER = "dave"
PLAN_ID, PLAN_OWNER, PLAN_READER = "plan-2025", "erin", "frank"
PLAN_BODY = b"Quarterly plan: open the Lisbon office"


def share_context(doc_id: str, owner: str, reader: str) -> dict[str, str]:
    """The encryption context of a share: the document's pairs plus ``"reader"``."""
    return {**document_context(doc_id, owner), "reader": reader}


def _s3():
    from kms_course.sandbox import client

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


@exercise(
    "10-share-document",
    lesson=LESSON,
    points=3,
    hint="kms.re_encrypt(CiphertextBlob=<memo's encrypted data key>, SourceEncryptionContext="
    "{'doc_id': 'memo-1', 'owner': 'carol'}, DestinationKeyId=practice_key_id, "
    "DestinationEncryptionContext={..., 'reader': 'dave'}), stored at shares/memo-1/dave.",
    answers=("dave_memo_text",),
)
def _(kms: Any, answers: Answers) -> None:
    s3 = _s3()
    memo, data_key, _edk = open_mine(kms, s3, MEMO_ID, MEMO_OWNER)
    key = f"{SHARES_PREFIX}{MEMO_ID}/{MEMO_READER}"
    shared = _get_object(s3, key, "store the re-encrypted data key there")["Body"].read()
    context = share_context(MEMO_ID, MEMO_OWNER, MEMO_READER)
    shared_key = decrypt_or_fail(
        kms,
        f"KMS refuses {key!r} with the encryption context {context}",
        "encrypt the data key again with exactly that context (raw bytes as the object body, not "
        "base64).",
        CiphertextBlob=shared,
        EncryptionContext=context,
    )["Plaintext"]
    if shared_key != data_key:
        raise CheckFailed(f"{key!r} holds a different key from the memo's data key.")
    text = answers.get("dave_memo_text")
    if text != memo:
        raise CheckFailed(
            "`dave_memo_text` is not the memo's content: as dave, decrypt the shared data key "
            "with dave's context, then the memo with the document's context as AAD."
        )


@exercise(
    "10-docstore",
    lesson=LESSON,
    points=3,
    hint="store = DocumentStore(kms, s3, practice_bucket, practice_key_id); store.put(...); "
    "store.share('plan-2025', 'frank'); frank_reads = store.get('plan-2025', 'frank').",
    answers=("frank_reads",),
)
def _(kms: Any, answers: Answers) -> None:
    from kms_course.docstore import DocumentNotFound, DocumentStore

    store = DocumentStore(kms, _s3(), PRACTICE_BUCKET, key_id="")
    _require_practice_bucket()
    entry = {d["doc_id"]: d for d in store.list()}.get(PLAN_ID)
    if entry is None:
        raise CheckFailed(f"No document {PLAN_ID!r} in the store: store.put it first.")
    if entry["owner"] != PLAN_OWNER:
        raise CheckFailed(f"{PLAN_ID!r} is owned by {entry['owner']!r}, not {PLAN_OWNER!r}.")
    if PLAN_READER not in entry["readers"]:
        raise CheckFailed(f"{PLAN_ID!r} is not shared with {PLAN_READER!r}: call store.share.")
    try:
        body = store.get(PLAN_ID, PLAN_READER)
    except DocumentNotFound as error:
        raise CheckFailed(str(error)) from None
    if body != PLAN_BODY:
        raise CheckFailed(f"{PLAN_ID!r} holds {body!r}, not {PLAN_BODY!r}.")
    if answers.get("frank_reads") != PLAN_BODY:
        raise CheckFailed("`frank_reads` should be what store.get('plan-2025', 'frank') returns.")


def _require_practice_bucket() -> None:
    names = {b["Name"] for b in _s3().list_buckets().get("Buckets", [])}
    if PRACTICE_BUCKET not in names:
        raise CheckFailed(
            f"There is no bucket {PRACTICE_BUCKET!r}: run the cell that prepares the practice "
            "bucket (prepare_practice) first."
        )
