"""A small encrypted document store on Amazon S3: the capstone's back end.

Each document is encrypted with :func:`kms_course.envelope.encrypt` under its own data key, with
the encryption context ``{"doc_id": <id>, "owner": <owner>}``, so a document's ciphertext only
decrypts as that document of that owner: copying one object's body over another's fails with
:class:`~kms_course.envelope.WrongEncryptionContext`. In production, key policies or IAM
policies can also require these pairs with the ``kms:EncryptionContext:`` condition keys
(https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-encryption-context).

Layout in the bucket:

* ``docs/<doc_id>``: the object body is the whole self-describing course envelope (key ARN,
  encrypted data key, nonce, encryption context, ciphertext). The encrypted data key is thus
  stored beside the data, in the same object. Object user metadata was not used: it is limited
  to 2 KB (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html), while an
  encrypted data key plus key ARN and context approach that, and a second place to keep in step
  would be one more way to lose a document.
* ``acl/<doc_id>.json``: ``{"owner": ..., "readers": [...]}``, the users allowed to read. It is
  the application's own access list (not an S3 ACL); :meth:`DocumentStore.get` checks it before
  calling KMS ``Decrypt``.

Documents stay readable after the KMS key is rotated: rotation keeps every earlier key material,
and Decrypt picks the right one from the encrypted data key
(https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html).
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from kms_course import envelope
from kms_course.errors import CourseError

__all__ = ["DocumentAccessDenied", "DocumentNotFound", "DocumentStore", "InvalidDocumentId"]

DOCS_PREFIX = "docs/"
ACL_PREFIX = "acl/"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


class DocumentNotFound(CourseError, KeyError):
    """No document with this ID in the store."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


class DocumentAccessDenied(CourseError, PermissionError):
    """The reader is neither the owner nor a user the document was shared with."""


class InvalidDocumentId(CourseError, ValueError):
    """A document ID or user name that is not 1-200 of ``A-Z a-z 0-9 . _ -``."""


def _check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidDocumentId(
            f"{what} must be 1-200 characters of A-Z, a-z, 0-9, '.', '_', '-', starting with a "
            f"letter or digit (got {value!r})."
        )
    return value


class DocumentStore:
    """Encrypted documents in one S3 bucket, one data key per document.

    Args:
        kms: a boto3 KMS client (e.g. ``start_sandbox()``).
        s3: a boto3 S3 client in the same backend (e.g. ``kms_course.sandbox.client("s3")``).
        bucket: name of an existing bucket.
        key_id: key ID, key ARN or alias of the symmetric encryption KMS key for new documents.
    """

    def __init__(self, kms: Any, s3: Any, bucket: str, key_id: str) -> None:
        self.kms, self.s3, self.bucket, self.key_id = kms, s3, bucket, key_id

    @staticmethod
    def context(doc_id: str, owner: str) -> dict[str, str]:
        """The encryption context of a document: ``{"doc_id": doc_id, "owner": owner}``."""
        return {"doc_id": doc_id, "owner": owner}

    def put(self, doc_id: str, owner: str, data: bytes) -> None:
        """Encrypt ``data`` (bytes, up to 64 MiB) and store it as ``doc_id`` owned by ``owner``.

        Replaces an earlier document with the same ID (and its list of readers).

        Raises:
            InvalidDocumentId: bad ``doc_id`` or ``owner``.
            kms_course.envelope.EnvelopeError: from :func:`kms_course.envelope.encrypt`
                (``NotBytes`` for a ``str``, ``TooLargeForMemory``, ``WrongKey``...).
        """
        _check_name(doc_id, "doc_id")
        _check_name(owner, "owner")
        blob = envelope.encrypt(self.kms, self.key_id, data, self.context(doc_id, owner))
        self.s3.put_object(
            Bucket=self.bucket,
            Key=DOCS_PREFIX + doc_id,
            Body=blob,
            ContentType="application/octet-stream",
        )
        self._write_acl(doc_id, {"owner": owner, "readers": []})

    def get(self, doc_id: str, reader: str) -> bytes:
        """The plaintext of ``doc_id``, if ``reader`` is its owner or it was shared with them.

        Raises:
            DocumentNotFound: no such document.
            DocumentAccessDenied: ``reader`` may not read it (checked before any KMS call).
            kms_course.envelope.EnvelopeError: the stored object was changed or swapped
                (``WrongEncryptionContext``, ``TamperedCiphertext``) or KMS refused the key.
        """
        _check_name(reader, "reader")
        acl = self._read_acl(doc_id)
        if reader != acl["owner"] and reader not in acl["readers"]:
            raise DocumentAccessDenied(
                f"{reader!r} may not read {doc_id!r}: ask its owner {acl['owner']!r} to share it."
            )
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=DOCS_PREFIX + doc_id)["Body"].read()
        except ClientError as error:
            raise self._not_found(doc_id, error) from error
        return envelope.decrypt(self.kms, body, self.context(doc_id, acl["owner"]))

    def list(self) -> list[dict[str, Any]]:
        """Every document: ``[{"doc_id": str, "owner": str, "readers": [str, ...]}]``, by ID."""
        documents = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=DOCS_PREFIX):
            for item in page.get("Contents", []):
                doc_id = item["Key"][len(DOCS_PREFIX) :]
                documents.append({"doc_id": doc_id, **self._read_acl(doc_id)})
        return sorted(documents, key=lambda d: d["doc_id"])

    def share(self, doc_id: str, with_user: str) -> None:
        """Allow ``with_user`` to read ``doc_id`` (idempotent).

        Raises:
            DocumentNotFound: no such document.
            InvalidDocumentId: bad user name.
        """
        _check_name(with_user, "with_user")
        acl = self._read_acl(doc_id)
        if with_user != acl["owner"] and with_user not in acl["readers"]:
            acl["readers"] = sorted([*acl["readers"], with_user])
            self._write_acl(doc_id, acl)

    def delete(self, doc_id: str) -> None:
        """Delete ``doc_id`` and its list of readers.

        Raises:
            DocumentNotFound: no such document.
        """
        self._read_acl(doc_id)
        self.s3.delete_object(Bucket=self.bucket, Key=DOCS_PREFIX + doc_id)
        self.s3.delete_object(Bucket=self.bucket, Key=f"{ACL_PREFIX}{doc_id}.json")

    # --- access lists ---------------------------------------------------------------------

    def _write_acl(self, doc_id: str, acl: dict) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=f"{ACL_PREFIX}{doc_id}.json",
            Body=json.dumps(acl, sort_keys=True).encode("utf-8"),
            ContentType="application/json",
        )

    def _read_acl(self, doc_id: str) -> dict:
        _check_name(doc_id, "doc_id")
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"{ACL_PREFIX}{doc_id}.json")
        except ClientError as error:
            raise self._not_found(doc_id, error) from error
        return json.loads(body["Body"].read())

    def _not_found(self, doc_id: str, error: ClientError) -> Exception:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return DocumentNotFound(f"No document {doc_id!r} in bucket {self.bucket!r}.")
        return error
