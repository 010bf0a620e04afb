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
* ``acl/<doc_id>.json``: ``{"owner": ..., "readers": [...], "sha256": ..., "version": ...}``, the
  users allowed to read and which body they may read. It is the application's own access list
  (not an S3 ACL); :meth:`DocumentStore.get` checks it before calling KMS ``Decrypt``.

**Readers that are IAM principals: grants.** A reader may be an application user name (the
service reads for them, after checking the access list) or the ARN of an IAM user or role. For a
principal, :meth:`~DocumentStore.share` also gives it a KMS *grant* on the document's key: the
operation ``Decrypt`` only, with the constraint ``EncryptionContextEquals`` = the document's
encryption context, so the principal can decrypt that document's data key with its own
credentials and no other document's; :meth:`~DocumentStore.get` then calls ``Decrypt`` *as the
reader*, so KMS, not the store, decides; :meth:`~DocumentStore.revoke` revokes the grant
(``RevokeGrant``). This is how AWS suggests giving one principal temporary, narrow use of a key
without editing the key policy (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html,
https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html,
https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html). Each grant gets a name
made from the bucket, document and reader, so a retried ``share`` returns the same grant instead
of a second one (CreateGrant, ``Name``:
https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html); the store only ever
revokes grants with such a name.
* ``staging/<doc_id>/<version>``: a new body while it is being put (normally gone again).

**What a failure leaves.** Each S3 ``PutObject`` or ``DeleteObject`` replaces or removes one
object whole (S3 is strongly consistent, https://aws.amazon.com/s3/consistency/), so the access
list, one object, is the commit point of every change, and any single failed call leaves either
the old version readable by the old readers or the new one by the new readers, never a mix:

* ``put``: (1) the new body is written to ``staging/<doc_id>/<version>``; (2) the access list is
  replaced by one naming the new owner, no readers, the body's SHA-256 and ``version``: from
  here on the new version is the document; (3) the body is written to ``docs/<doc_id>``;
  (4) staging copies are deleted. Until (3) succeeds, :meth:`~DocumentStore.get` finds the new
  body in staging (``docs/<doc_id>``'s SHA-256 differs from the access list's).
* ``share``: one write of the access list; for a principal, then ``CreateGrant`` (a failed
  grant leaves the reader listed but refused by KMS; sharing again completes it).
* ``revoke``: for a principal, ``RevokeGrant`` first (KMS refuses the reader from then on, even if
  the list update fails), then one write of the access list.
* ``put`` over a document shared with principals revokes their grants just before its commit (the
  same owner gives the same encryption context, so an old grant would open the new version): a
  put failing in between leaves the old version, which those principals must be given again.
* ``delete``: the grants of its principals are revoked, then the access list is deleted (the
  document is gone for everyone), then the bodies. A body without an access list (an *orphan*)
  is never listed or read, and the next ``put`` or ``delete`` of its ID removes it.

Documents stay readable after the KMS key is rotated: rotation keeps every earlier key material,
and Decrypt picks the right one from the encrypted data key
(https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from botocore.exceptions import ClientError

from kms_course import envelope
from kms_course.sandbox.access.principals import ROLE_ARN, USER_ARN
from kms_course.errors import CourseError

__all__ = [
    "CorruptedAccessList",
    "DocumentAccessDenied",
    "DocumentNotFound",
    "DocumentStore",
    "InvalidDocumentId",
]

DOCS_PREFIX = "docs/"
ACL_PREFIX = "acl/"
STAGING_PREFIX = "staging/"
_ACL_SUFFIX = ".json"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_VERSION = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class DocumentNotFound(CourseError, KeyError):
    """No document with this ID in the store."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


class DocumentAccessDenied(CourseError, PermissionError):
    """The reader is neither the owner nor a user the document was shared with."""


class InvalidDocumentId(CourseError, ValueError):
    """A document ID or user name that is not 1-200 of ``A-Z a-z 0-9 . _ -`` (a reader may also
    be an IAM user or role ARN)."""


class CorruptedAccessList(CourseError, ValueError):
    """A document's access list (``acl/<doc_id>.json``) is not one this store wrote."""


def _check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidDocumentId(
            f"{what} must be 1-200 characters of A-Z, a-z, 0-9, '.', '_', '-', starting with a "
            f"letter or digit (got {value!r})."
        )
    return value


def is_principal(reader: Any) -> bool:
    """Whether ``reader`` is an IAM user or role ARN (a reader that gets a KMS grant)."""
    return isinstance(reader, str) and bool(USER_ARN.match(reader) or ROLE_ARN.match(reader))


def _check_reader(value: Any, what: str) -> str:
    if is_principal(value):
        return value
    if isinstance(value, str) and value.startswith("arn:"):
        raise InvalidDocumentId(
            f"{what} {value!r} is an ARN but not an IAM user or role ARN: give "
            "arn:aws:iam::<account>:user/<name> or arn:aws:iam::<account>:role/<name>, or a "
            "user name of the application."
        )
    return _check_name(value, what)


def _error_code(error: BaseException | None) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "")
    return ""


def _is_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


class DocumentStore:
    """Encrypted documents in one S3 bucket, one data key per document.

    Every change is ordered so that a failure of any one S3 or KMS call leaves the store
    consistent (see the module docstring): the old version for the old readers or the new one
    for the new readers.

    Args:
        kms: a boto3 KMS client (e.g. ``start_sandbox()``).
        s3: a boto3 S3 client in the same backend (e.g. ``kms_course.sandbox.start.client("s3")``).
        bucket: name of an existing bucket.
        key_id: key ID, key ARN or alias of the symmetric encryption KMS key for new documents.
    """

    def __init__(self, kms: Any, s3: Any, bucket: str, key_id: str) -> None:
        self.kms, self.s3, self.bucket, self.key_id = kms, s3, bucket, key_id
        self._grant_tokens: dict[tuple[str, str], str] = {}  # (doc_id, reader) -> GrantToken

    @staticmethod
    def context(doc_id: str, owner: str) -> dict[str, str]:
        """The encryption context of a document: ``{"doc_id": doc_id, "owner": owner}``."""
        return {"doc_id": doc_id, "owner": owner}

    def put(self, doc_id: str, owner: str, data: bytes) -> None:
        """Encrypt ``data`` (bytes, up to 64 MiB) and store it as ``doc_id`` owned by ``owner``.

        Replaces an earlier document with the same ID and its list of readers (the new version
        has none). If any call fails, the error is raised and the store holds either the old
        document, readable by its old readers, or the new one (module docstring).

        Raises:
            InvalidDocumentId: bad ``doc_id`` or ``owner``.
            kms_course.envelope.EnvelopeError: from :func:`kms_course.envelope.encrypt`
                (``NotBytes`` for a ``str``, ``TooLargeForMemory``, ``WrongKey``...).
            botocore.exceptions.ClientError: an S3 call failed (the store stays consistent).
        """
        _check_name(doc_id, "doc_id")
        _check_name(owner, "owner")
        blob = envelope.encrypt(self.kms, self.key_id, data, self.context(doc_id, owner))
        version = secrets.token_hex(16)
        self._put(self._staging_key(doc_id, version), blob, "application/octet-stream")
        self._revoke_all_grants(doc_id)  # the new version has no readers (module docstring)
        acl = {
            "owner": owner,
            "readers": [],
            "sha256": hashlib.sha256(blob).hexdigest(),
            "version": version,
        }
        self._write_acl(doc_id, acl)  # the commit point
        self._put(DOCS_PREFIX + doc_id, blob, "application/octet-stream")
        self._remove_staging(doc_id)

    def get(self, doc_id: str, reader: str, *, kms: Any = None) -> bytes:
        """The plaintext of ``doc_id``, if ``reader`` is its owner or it was shared with them.

        Args:
            doc_id: the document's ID.
            reader: a user name, or an IAM user or role ARN the document was shared with.
            kms: for a principal ``reader``, a KMS client acting as it (default:
                ``kms_course.client_as(reader)``): its ``Decrypt`` is authorized by the
                principal's grant, not by the store. Not used for a user name (the store's own
                client decrypts).

        Raises:
            DocumentNotFound: no such document.
            DocumentAccessDenied: ``reader`` may not read it (checked before any KMS call), or
                KMS refused the principal (AccessDeniedException: no grant, or it was revoked).
            CorruptedAccessList: its access list is damaged.
            kms_course.envelope.EnvelopeError: the stored object was changed or swapped
                (``WrongEncryptionContext``, ``TamperedCiphertext``) or KMS refused the key.
        """
        _check_reader(reader, "reader")
        for _ in range(3):  # a put may commit between reading the access list and the body
            acl = self._read_acl(doc_id)
            if reader != acl["owner"] and reader not in acl["readers"]:
                raise DocumentAccessDenied(
                    f"{reader!r} may not read {doc_id!r}: ask its owner {acl['owner']!r} to "
                    "share it."
                )
            body, matches = self._body(doc_id, acl)
            if matches or self._read_acl(doc_id) == acl:
                break
        context = self.context(doc_id, acl["owner"])
        if not is_principal(reader):
            return envelope.decrypt(self.kms, body, context)
        if kms is None:
            from kms_course.sandbox.access import client_as

            kms = client_as(reader)
            token = self._grant_tokens.get((doc_id, reader))
            if token:  # a grant this store just gave: usable at once with its token

                def add_token(params: dict, **_: Any) -> None:
                    params.setdefault("GrantTokens", [token])

                kms.meta.events.register("before-parameter-build.kms.Decrypt", add_token)
        try:
            return envelope.decrypt(kms, body, context)
        except envelope.WrongKey as error:
            if _error_code(error.__cause__) != "AccessDeniedException":
                raise
            raise DocumentAccessDenied(
                f"KMS refused {reader} the data key of {doc_id!r} (AccessDeniedException): it "
                f"holds no grant for it (share it again with share({doc_id!r}, reader))."
            ) from None

    def list(self) -> list[dict[str, Any]]:
        """Every document: ``[{"doc_id": str, "owner": str, "readers": [str, ...]}]``, by ID.

        A document is one with an access list; bodies without one (orphans of a failed put or
        delete) are not listed.

        Raises:
            CorruptedAccessList: a document's access list is damaged (the message names it).
        """
        documents = []
        for key in self._keys(ACL_PREFIX):
            name = key[len(ACL_PREFIX) :]
            if not name.endswith(_ACL_SUFFIX) or not _ID.fullmatch(name[: -len(_ACL_SUFFIX)]):
                continue  # not written by this store
            doc_id = name[: -len(_ACL_SUFFIX)]
            try:
                acl = self._read_acl(doc_id)
            except DocumentNotFound:
                continue  # deleted meanwhile
            documents.append({"doc_id": doc_id, "owner": acl["owner"], "readers": acl["readers"]})
        return sorted(documents, key=lambda d: d["doc_id"])

    def share(self, doc_id: str, with_user: str) -> str | None:
        """Allow ``with_user`` to read ``doc_id`` (idempotent); one write of the access list.

        For an IAM user or role ARN, also gives that principal a KMS grant on the document's key:
        ``Operations=["Decrypt"]``, ``Constraints={"EncryptionContextEquals": <the document's
        context>}`` (module docstring), so it may decrypt this document's data key and no other.
        On real AWS a new grant can take a few minutes to be effective everywhere unless its
        grant token is passed (https://docs.aws.amazon.com/kms/latest/developerguide/using-grant-token.html):
        this store object remembers the token, and :meth:`get` without ``kms=`` passes it; another
        process may see the reader refused for those minutes.

        Args:
            doc_id: the document's ID.
            with_user: a user name of the application, or an IAM user or role ARN.

        Returns:
            The grant's ``GrantId`` (str) for a principal; None for a user name.

        Raises:
            DocumentNotFound: no such document.
            InvalidDocumentId: bad user name or ARN.
            CorruptedAccessList: its access list is damaged.
            botocore.exceptions.ClientError: KMS refused the grant (e.g. AccessDeniedException:
                the store's client may not call kms:CreateGrant on the key).
        """
        _check_reader(with_user, "with_user")
        acl = self._read_acl(doc_id)
        if with_user != acl["owner"] and with_user not in acl["readers"]:
            acl["readers"] = sorted([*acl["readers"], with_user])
            self._write_acl(doc_id, acl)
        if not is_principal(with_user):
            return None
        body, _ = self._body(doc_id, acl)
        grant = self.kms.create_grant(
            KeyId=self._key_arn(body),
            GranteePrincipal=with_user,
            Operations=["Decrypt"],
            Constraints={"EncryptionContextEquals": self.context(doc_id, acl["owner"])},
            Name=self._grant_name(doc_id, with_user),
        )
        self._grant_tokens[(doc_id, with_user)] = grant["GrantToken"]
        return grant["GrantId"]

    def revoke(self, doc_id: str, reader: str) -> None:
        """Take back ``reader``'s right to read ``doc_id`` (idempotent).

        For an IAM principal, first revokes (``RevokeGrant``) every grant :meth:`share` gave it
        for this document, so KMS refuses it from then on, then removes it from the access list.
        A copy of the plaintext the reader already made is, of course, not taken back.

        Raises:
            DocumentNotFound: no such document.
            InvalidDocumentId: bad user name or ARN.
            CorruptedAccessList: its access list is damaged.
            botocore.exceptions.ClientError: KMS refused (e.g. AccessDeniedException: the store's
                client may not call kms:ListGrants or kms:RevokeGrant on the key).
        """
        _check_reader(reader, "reader")
        acl = self._read_acl(doc_id)
        self._grant_tokens.pop((doc_id, reader), None)
        if is_principal(reader):
            self._revoke_grants(doc_id, acl, [reader])
        if reader in acl["readers"]:
            acl["readers"] = [r for r in acl["readers"] if r != reader]
            self._write_acl(doc_id, acl)

    def delete(self, doc_id: str) -> None:
        """Delete ``doc_id``, its list of readers and every stored copy of its body.

        The access list goes first: after that the document is gone for every reader, even if
        removing a body then fails (the next ``put`` or ``delete`` of ``doc_id`` removes it).
        Works on a document whose access list is damaged, and removes orphan bodies of a
        ``doc_id`` that has no access list before raising :class:`DocumentNotFound`.

        Raises:
            DocumentNotFound: no such document.
            InvalidDocumentId: bad ``doc_id``.
        """
        _check_name(doc_id, "doc_id")
        exists = self._exists(self._acl_key(doc_id))
        if exists:
            self._revoke_all_grants(doc_id)
            self.s3.delete_object(Bucket=self.bucket, Key=self._acl_key(doc_id))  # the commit
        self.s3.delete_object(Bucket=self.bucket, Key=DOCS_PREFIX + doc_id)
        self._remove_staging(doc_id)
        if not exists:
            raise DocumentNotFound(f"No document {doc_id!r} in bucket {self.bucket!r}.")

    # --- bodies ---------------------------------------------------------------------------

    @staticmethod
    def _staging_key(doc_id: str, version: str) -> str:
        return f"{STAGING_PREFIX}{doc_id}/{version}"

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def _get(self, key: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if _is_missing(error):
                return None
            raise

    def _exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _is_missing(error):
                return False
            raise
        return True

    def _keys(self, prefix: str) -> list[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def _body(self, doc_id: str, acl: dict) -> tuple[bytes, bool]:
        """``(body, matches)``: the body the access list names, ``docs/<doc_id>`` if its
        SHA-256 matches, else the staged copy of a put that failed after its commit; else
        ``docs/<doc_id>`` as it is, ``matches`` false (decrypt then says what is wrong)."""
        body = self._get(DOCS_PREFIX + doc_id)
        if "sha256" not in acl:  # written before access lists named their body
            matches = body is not None
        else:
            matches = body is not None and hashlib.sha256(body).hexdigest() == acl["sha256"]
            if not matches:
                staged = self._get(self._staging_key(doc_id, acl["version"]))
                if staged is not None and hashlib.sha256(staged).hexdigest() == acl["sha256"]:
                    return staged, True
        if body is None:
            raise DocumentNotFound(
                f"Document {doc_id!r} has an access list but no body in bucket {self.bucket!r}: "
                "it was removed outside this store; put it again or delete it."
            )
        return body, matches

    def _remove_staging(self, doc_id: str) -> None:
        """Delete the staged bodies of ``doc_id`` (after a put's commit, or on delete)."""
        for key in self._keys(f"{STAGING_PREFIX}{doc_id}/"):
            self.s3.delete_object(Bucket=self.bucket, Key=key)

    # --- grants ---------------------------------------------------------------------------

    def _grant_name(self, doc_id: str, reader: str) -> str:
        """The grant's Name: ``docstore-`` and 40 hex digits of SHA-256(bucket/doc_id/reader)."""
        digest = hashlib.sha256(f"{self.bucket}/{doc_id}/{reader}".encode("utf-8")).hexdigest()
        return "docstore-" + digest[:40]

    @staticmethod
    def _key_arn(body: bytes) -> str:
        """The key ARN stored in a document's envelope (the key its data key is encrypted under)."""
        return json.loads(envelope.to_json(body))["key_arn"]

    def _revoke_grants(self, doc_id: str, acl: dict, readers: list[str]) -> None:
        """Revoke the grants :meth:`share` gave ``readers`` (principal ARNs) for ``doc_id``."""
        try:
            body, _ = self._body(doc_id, acl)
        except DocumentNotFound:
            return
        key_arn = self._key_arn(body)
        for reader in readers:
            name = self._grant_name(doc_id, reader)
            paginator = self.kms.get_paginator("list_grants")
            for page in paginator.paginate(KeyId=key_arn, GranteePrincipal=reader):
                for grant in page.get("Grants", []):
                    if grant.get("Name") != name:
                        continue  # not made by this store: never touched
                    try:
                        self.kms.revoke_grant(KeyId=key_arn, GrantId=grant["GrantId"])
                    except ClientError as error:
                        if _error_code(error) != "NotFoundException":  # revoked meanwhile
                            raise

    def _revoke_all_grants(self, doc_id: str) -> None:
        """Revoke the grants of every principal reader of ``doc_id`` (none: no KMS call)."""
        for known in [k for k in self._grant_tokens if k[0] == doc_id]:
            del self._grant_tokens[known]
        try:
            acl = self._read_acl(doc_id)
        except (DocumentNotFound, CorruptedAccessList):
            return
        principals = [r for r in acl["readers"] if is_principal(r)]
        if principals:
            self._revoke_grants(doc_id, acl, principals)

    # --- access lists ---------------------------------------------------------------------

    @staticmethod
    def _acl_key(doc_id: str) -> str:
        return f"{ACL_PREFIX}{doc_id}{_ACL_SUFFIX}"

    def _write_acl(self, doc_id: str, acl: dict) -> None:
        body = json.dumps(acl, sort_keys=True).encode("utf-8")
        self._put(self._acl_key(doc_id), body, "application/json")

    def _read_acl(self, doc_id: str) -> dict:
        _check_name(doc_id, "doc_id")
        raw = self._get(self._acl_key(doc_id))
        if raw is None:
            raise DocumentNotFound(f"No document {doc_id!r} in bucket {self.bucket!r}.")
        try:
            acl = json.loads(raw.decode("utf-8"))
            problem = _acl_problem(acl)
        except (UnicodeDecodeError, ValueError):
            problem = "it is not JSON text"
        if problem:
            raise CorruptedAccessList(
                f"The access list of document {doc_id!r} (s3://{self.bucket}/"
                f"{self._acl_key(doc_id)}) is damaged: {problem}. Its owner is also recorded in "
                f"the body's encryption context (envelope.to_json of docs/{doc_id}); "
                "delete(doc_id) removes the document so it can be put again."
            )
        return acl


def _acl_problem(acl: Any) -> str:
    """What is wrong with a parsed access list, or ``""``."""
    if not isinstance(acl, dict):
        return f"it is a JSON {type(acl).__name__}, not an object"
    owner, readers = acl.get("owner"), acl.get("readers")
    if not isinstance(owner, str) or not _ID.fullmatch(owner):
        return f"its owner {owner!r} is not a user name"
    if not isinstance(readers, list) or not all(
        isinstance(r, str) and (_ID.fullmatch(r) or is_principal(r)) for r in readers
    ):
        return f"its readers {readers!r} are not a list of user names or IAM ARNs"
    if "sha256" in acl or "version" in acl:  # written by put; older access lists have neither
        if not (isinstance(acl.get("sha256"), str) and _SHA256.fullmatch(acl["sha256"])):
            return "its body checksum (sha256) is malformed"
        if not (isinstance(acl.get("version"), str) and _VERSION.fullmatch(acl["version"])):
            return "its version is malformed"
    return ""
