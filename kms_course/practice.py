"""The hand-made document layout of lessons 05 and 10, and the capstone's practice bucket.

Public, unlike :mod:`kms_course.checks`: lesson cells import it, in the lab and in a grading jail
(which hides the checks). In the layout, a document's AES-256-GCM ciphertext is stored under
``mine/<doc_id>`` of :data:`PRACTICE_BUCKET`, its encrypted data key and nonce in the object's
user metadata as base64 text, and its encryption context ``{"doc_id", "owner"}`` is both passed to
GenerateDataKey and used as AES-GCM associated data (:func:`context_aad`).

Sources: GenerateDataKey https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html,
encryption context https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html,
S3 user metadata https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PRACTICE_BUCKET = "capstone-practice"
MINE_PREFIX = "mine/"
MEMO_ID, MEMO_OWNER = "memo-1", "carol"


def context_aad(encryption_context: Mapping[str, str]) -> bytes:
    """The AES-GCM associated data the lesson derives from an encryption context.

    Args:
        encryption_context: the str -> str pairs passed to KMS.

    Returns:
        ``json.dumps(encryption_context, sort_keys=True)`` as UTF-8 bytes: the same pairs give the
        same bytes whatever their order, as KMS treats the context as an unordered set.
    """
    return json.dumps(dict(encryption_context), sort_keys=True).encode("utf-8")


def document_context(doc_id: str, owner: str) -> dict[str, str]:
    """The encryption context of a document: ``{"doc_id": doc_id, "owner": owner}``."""
    return {"doc_id": doc_id, "owner": owner}



def prepare_practice(kms: Any, s3: Any) -> tuple[str, str]:
    """Create the practice bucket (if missing) and a practice KMS key, and plant the mystery memo.

    The memo ``mine/memo-1``, owned by ``carol``, holds 32 random hex characters, stored in the
    exercises' layout (module docstring), so it can only be read by decrypting it.

    Args:
        kms: the sandbox's boto3 KMS client.
        s3: a boto3 S3 client of the same sandbox (``kms_course.sandbox.client("s3")``).

    Returns:
        ``(bucket_name, key_id)``.
    """
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if PRACTICE_BUCKET not in existing:
        s3.create_bucket(Bucket=PRACTICE_BUCKET)
    key_id = kms.create_key(Description="capstone practice key")["KeyMetadata"]["KeyId"]
    memo = secrets.token_hex(16).encode("ascii")
    context = document_context(MEMO_ID, MEMO_OWNER)
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, memo, context_aad(context))
    s3.put_object(
        Bucket=PRACTICE_BUCKET,
        Key=MINE_PREFIX + MEMO_ID,
        Body=ciphertext,
        Metadata={
            "encrypted-data-key": base64.b64encode(data_key["CiphertextBlob"]).decode("ascii"),
            "nonce": base64.b64encode(nonce).decode("ascii"),
        },
    )
    del data_key
    return PRACTICE_BUCKET, key_id

