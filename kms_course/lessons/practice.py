"""The hand-made document layout of lessons 05 and 10, and the capstone's practice bucket.

The practice setup also creates the capstone's principals, IAM roles of the account
(:data:`READER_ROLES` for the sharing exercises, :data:`ANALYSTS` for the audit one), and stages
an audit: the document ``mine/ledger-9`` of ``henry`` is shared by grants with a random four of
the analysts, a random one to three of them read it (each with its own credentials), one analyst
without a grant is refused, and one reads another document. Only the sandbox's trail
(:mod:`kms_course.sandbox.trail`) tells who read the ledger, and the answer changes with every run.

Public, unlike :mod:`kms_course.lessons.checks`: lesson cells import it, in the lab and in a grading
jail (which hides the checks). In the layout, a document's AES-256-GCM ciphertext is stored under
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
import random
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PRACTICE_BUCKET = "capstone-practice"
MINE_PREFIX = "mine/"
MEMO_ID, MEMO_OWNER = "memo-1", "carol"
LEDGER_ID, LEDGER_OWNER = "ledger-9", "henry"
BRIEF_ID, BRIEF_OWNER = "brief-4", "henry"
#: The readers of the sharing exercises: short name -> IAM role name.
READER_ROLES = {"dave": "capstone-dave", "frank": "capstone-frank", "grace": "capstone-grace"}
#: The analysts of the audit exercise (IAM role names).
ANALYSTS = ("capstone-amir", "capstone-bea", "capstone-chen", "capstone-dara", "capstone-emil",
            "capstone-fumi")
#: The role session name the analysts read with (``userIdentity.arn`` ends with it).
ANALYST_SESSION = "ledger-review"
ROLE_TAG = {"Key": "kms-course", "Value": "created-by-course"}


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



_ACCOUNTS: dict[int, str] = {}


def _account() -> str:
    """The account ID of the setup cell's credentials (STS GetCallerIdentity), once per sandbox
    start."""
    from kms_course.sandbox import start as sandbox

    generation = getattr(sandbox, "_STATE").generation
    if generation not in _ACCOUNTS:
        _ACCOUNTS[generation] = sandbox.client("sts").get_caller_identity()["Account"]
    return _ACCOUNTS[generation]


def role_arn(role: str) -> str:
    """The ARN of IAM role ``role`` in the sandbox's (or your AWS) account."""
    return f"arn:aws:iam::{_account()}:role/{role}"


def practice_roles() -> dict[str, str]:
    """The readers' role ARNs: ``{"dave": ..., "frank": ..., "grace": ...}`` (made by
    :func:`prepare_practice`)."""
    return {name: role_arn(role) for name, role in READER_ROLES.items()}


def role_client(arn: str, session_name: str, service: str = "kms") -> Any:
    """A client of the sandbox acting as IAM role ``arn``, in a role session ``session_name``
    (STS AssumeRole, https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).

    Like :func:`kms_course.sandbox.access.client_as`, without its cache, and made from the default
    boto3 session (no new session's model files to load: a few milliseconds, not a few tenths of
    a second). Raises botocore's ClientError (NoSuchEntity) if the role does not exist.
    """
    from kms_course.sandbox import start as sandbox

    sandbox.client("iam").get_role(RoleName=arn.rsplit("/", 1)[-1])  # NoSuchEntity if missing
    credentials = sandbox.client("sts").assume_role(
        RoleArn=arn, RoleSessionName=session_name)["Credentials"]
    return sandbox.client(service, aws_access_key_id=credentials["AccessKeyId"],
                          aws_secret_access_key=credentials["SecretAccessKey"],
                          aws_session_token=credentials["SessionToken"])


def ensure_roles(names: tuple[str, ...]) -> None:
    """Create each IAM role (trusting principals of the account, no IAM policy) unless it exists
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html)."""
    from kms_course.sandbox import start as sandbox

    iam = sandbox.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{_account()}:root"},
        "Action": "sts:AssumeRole"}]})
    for name in names:
        try:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, Tags=[ROLE_TAG])
        except iam.exceptions.EntityAlreadyExistsException:
            pass


def prepare_practice(kms: Any, s3: Any) -> tuple[str, str]:
    """Create the practice bucket (if missing), a practice KMS key and the capstone's IAM roles
    (if missing), plant the mystery memo and the ledger, and stage the ledger's audit.

    The memo ``mine/memo-1``, owned by ``carol``, holds 32 random hex characters, stored in the
    exercises' layout (module docstring), so it can only be read by decrypting it. The ledger
    ``mine/ledger-9`` of ``henry`` is read by a random set of :data:`ANALYSTS` (module
    docstring; :func:`stage_ledger_audit`); not with the ``aws`` backend, which has no sandbox
    trail (nor the analysts' roles).

    Args:
        kms: the sandbox's boto3 KMS client.
        s3: a boto3 S3 client of the same sandbox (``kms_course.sandbox.start.client("s3")``).

    Returns:
        ``(bucket_name, key_id)``.
    """
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if PRACTICE_BUCKET not in existing:
        s3.create_bucket(Bucket=PRACTICE_BUCKET)
    from kms_course.sandbox import start as sandbox

    audit = sandbox.active_backend() != "aws"  # real AWS: no sandbox trail to audit with
    ensure_roles((*READER_ROLES.values(), *(ANALYSTS if audit else ())))
    key_id = kms.create_key(Description="capstone practice key")["KeyMetadata"]["KeyId"]
    plant_document(kms, s3, key_id, MEMO_ID, MEMO_OWNER, secrets.token_hex(16).encode("ascii"))
    if audit:
        ledger = plant_document(kms, s3, key_id, LEDGER_ID, LEDGER_OWNER,
                                b"Ledger 9: " + secrets.token_hex(8).encode("ascii"))
        brief = plant_document(kms, s3, key_id, BRIEF_ID, BRIEF_OWNER, b"Brief 4: the audit scope")
        stage_ledger_audit(kms, key_id, ledger, brief)
    return PRACTICE_BUCKET, key_id


def plant_document(kms: Any, s3: Any, key_id: str, doc_id: str, owner: str,
                   content: bytes) -> bytes:
    """Store ``content`` as ``mine/<doc_id>`` of ``owner`` in the exercises' layout; return the
    encrypted data key (bytes)."""
    context = document_context(doc_id, owner)
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, content, context_aad(context))
    s3.put_object(
        Bucket=PRACTICE_BUCKET,
        Key=MINE_PREFIX + doc_id,
        Body=ciphertext,
        Metadata={
            "encrypted-data-key": base64.b64encode(data_key["CiphertextBlob"]).decode("ascii"),
            "nonce": base64.b64encode(nonce).decode("ascii"),
        },
    )
    encrypted_data_key = data_key["CiphertextBlob"]
    del data_key
    return encrypted_data_key


def stage_ledger_audit(kms: Any, key_id: str, ledger_key: bytes, brief_key: bytes,
                       rng: random.Random | None = None) -> list[str]:
    """Share the ledger with four random analysts by grants (Decrypt, EncryptionContextEquals
    the ledger's context) and have one to three of them decrypt its data key as themselves; one
    analyst without a grant tries and is refused (AccessDeniedException), one other, given a
    grant for the brief, decrypts the brief's data key. Calls as the analysts go through
    :func:`role_client` (role sessions named :data:`ANALYST_SESSION`).

    Args:
        kms: the account's KMS client (the owner gives the grants).
        key_id: the practice key.
        ledger_key, brief_key: the encrypted data keys of the ledger and the brief.
        rng: the source of the random choices (default: the operating system's).

    Returns:
        The role ARNs that read the ledger, sorted (the audit exercise's answer).
    """
    rng = rng or random.SystemRandom()
    key_arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    ledger = document_context(LEDGER_ID, LEDGER_OWNER)
    brief = document_context(BRIEF_ID, BRIEF_OWNER)
    holders = rng.sample(ANALYSTS, 4)
    readers = rng.sample(holders, rng.randint(1, 3))
    refused, briefed = [a for a in ANALYSTS if a not in holders]
    tokens = {}
    for name in holders:
        tokens[name] = kms.create_grant(
            KeyId=key_arn, GranteePrincipal=role_arn(name), Operations=["Decrypt"],
            Constraints={"EncryptionContextEquals": ledger}, Name="ledger-9-review",
        )["GrantToken"]
    brief_token = kms.create_grant(
        KeyId=key_arn, GranteePrincipal=role_arn(briefed), Operations=["Decrypt"],
        Constraints={"EncryptionContextEquals": brief}, Name="brief-4-review",
    )["GrantToken"]
    for name in ANALYSTS:  # a fixed order: the trail does not give the choice away
        client = role_client(role_arn(name), ANALYST_SESSION)
        if name in readers:
            client.decrypt(CiphertextBlob=ledger_key, KeyId=key_arn, EncryptionContext=ledger,
                           GrantTokens=[tokens[name]])
        elif name == refused:
            try:
                client.decrypt(CiphertextBlob=ledger_key, KeyId=key_arn, EncryptionContext=ledger)
            except client.exceptions.ClientError:
                pass  # AccessDeniedException: no grant
        elif name == briefed:
            client.decrypt(CiphertextBlob=brief_key, KeyId=key_arn, EncryptionContext=brief,
                           GrantTokens=[brief_token])
    return sorted(role_arn(name) for name in readers)

