"""Checks of lesson 08, "Key policies and grants: least privilege for the document store"
(notebooks/08_key_policies_and_grants.ipynb).

Every check proves a key policy or a grant by calling KMS *as each principal*
(:func:`kms_course.sandbox.access.client_as`): the principal the exercise names must succeed, and
the calls it must not make must fail with AccessDeniedException. Nothing printed is read.

The lesson's principals are four IAM roles of the account, which the lesson creates
(:data:`ROLES`); the checks find their ARNs from the account in the key's ARN. The document
store's encryption context always holds the pair :data:`STORE_CONTEXT`.

Sources:
* key administrators and key users, and the administrators' action list:
  https://docs.aws.amazon.com/kms/latest/developerguide/rbac.html and
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
* how KMS decides (key policy, IAM policies, grants):
  https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html
* the ``kms:EncryptionContext:<key>`` condition key:
  https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-encryption-context
* grants, their constraints, grant tokens and retiring:
  https://docs.aws.amazon.com/kms/latest/developerguide/grants.html,
  https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html,
  https://docs.aws.amazon.com/kms/latest/developerguide/using-grant-token.html,
  https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from kms_course.lessons.checks._common import describe_answer_key
from kms_course.lessons.exercises import Answers, CheckFailed, exercise

LESSON = "08_key_policies_and_grants"
ADMIN_ROLE, APP_ROLE, READER_ROLE, AUDITOR_ROLE = (
    "docstore-admin", "docstore-app", "docstore-reader", "docstore-auditor",
)
#: The IAM roles the lesson creates, in the order it creates them.
ROLES = (ADMIN_ROLE, APP_ROLE, READER_ROLE, AUDITOR_ROLE)
#: The pair every encryption context of the document store holds.
STORE_CONTEXT = {"store": "company-documents"}
#: Another store's pair: a policy for the document store must not cover it.
OTHER_CONTEXT = {"store": "hr-archive"}
CHECK_SESSION = "course-check"
GRANT_ID = re.compile(r"^[0-9a-f]{64}$")
SETUP_HINT = "run the lesson's cell that creates the roles (section 'Who is asking')"


def role_arn(key_arn: str, role: str) -> str:
    """The ARN of IAM role ``role`` in the account (and partition) of the key ``key_arn``."""
    parts = key_arn.split(":")
    return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"


def context(doc_id: str, pairs: dict[str, str] | None = None) -> dict[str, str]:
    """An encryption context of the store (or of ``pairs``' store) for document ``doc_id``."""
    return {**(STORE_CONTEXT if pairs is None else pairs), "doc_id": doc_id}


class Actor:
    """One principal seen by a check: a KMS client acting as it, and verdicts in its name."""

    def __init__(self, arn: str):
        from kms_course.sandbox.access import client_as

        self.arn = arn
        self.name = arn.rsplit("/", 1)[-1]
        try:
            self.kms = client_as(arn, session_name=CHECK_SESSION)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchEntity", "NoSuchEntityException"):
                raise CheckFailed(
                    f"The IAM role {self.name} does not exist: {SETUP_HINT}."
                ) from None
            raise

    def may(self, what: str, call: Callable[[Any], Any], fix: str) -> Any:
        """Run ``call(kms)`` as this principal; it must succeed.

        Raises:
            CheckFailed: KMS refused (``"<role> should be able to <what>, but ..."``).
        """
        try:
            return call(self.kms)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            raise CheckFailed(
                f"{self.name} should be able to {what}, but KMS answered {code}: {fix}"
            ) from None

    def may_not(self, what: str, call: Callable[[Any], Any], fix: str,
                undo: Callable[[], Any] | None = None) -> None:
        """Run ``call(kms)`` as this principal; KMS must answer AccessDeniedException.

        Args:
            undo: run when the call succeeded, to put the key back as it was (e.g. revoke a grant
                the call made).

        Raises:
            CheckFailed: the call succeeded, or failed for another reason than access.
        """
        try:
            call(self.kms)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "AccessDeniedException":
                return
            raise CheckFailed(
                f"When {self.name} tried to {what}, KMS answered {code}, not "
                f"AccessDeniedException: {fix}"
            ) from None
        if undo is not None:
            undo()
        raise CheckFailed(f"{self.name} could {what}; least privilege says it must not: {fix}")


ACCOUNT_FIX = ("keep the key policy statement that allows the account, 'Enable IAM User "
               "Permissions': without it your own client is shut out of the key.")


def _enabled_key(kms: Any, answers: Answers, name: str) -> dict[str, Any]:
    try:
        meta = describe_answer_key(kms, answers, name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "AccessDeniedException":
            raise
        raise CheckFailed(f"Your own client may not even describe the key in `{name}`: "
                          f"{ACCOUNT_FIX}") from None
    if meta["KeyState"] != "Enabled":
        raise CheckFailed(
            f"The key in `{name}` is {meta['KeyState']}: the exercise needs an enabled key."
        )
    if meta.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        raise CheckFailed(f"The key in `{name}` is not a symmetric encryption key: create one "
                          "with kms.create_key() and no KeySpec.")
    return meta


def _root_encrypts(kms: Any, meta: dict[str, Any], pairs: dict[str, str] | None,
                   plaintext: bytes, name: str) -> bytes:
    """A ciphertext made by the account's administrator (the setup cell's client)."""
    params = {"EncryptionContext": pairs} if pairs else {}
    try:
        return kms.encrypt(KeyId=meta["Arn"], Plaintext=plaintext, **params)["CiphertextBlob"]
    except ClientError as error:
        raise CheckFailed(
            f"Your own client (the account) cannot encrypt with the key in `{name}` "
            f"({error.response['Error']['Code']}): {ACCOUNT_FIX}"
        ) from None


# --- exercise 1: the key administrator ---------------------------------------------------------

ADMIN_FIX = ("give docstore-admin the administrator actions (rbac.html), none of the "
             "cryptographic ones.")


def _check_administration(kms: Any, admin: Actor, key_arn: str) -> None:
    key = {"KeyId": key_arn}
    admin.may("describe the key (kms:DescribeKey)", lambda c: c.describe_key(**key), ADMIN_FIX)
    policy = admin.may("read the key policy (kms:GetKeyPolicy)",
                       lambda c: c.get_key_policy(PolicyName="default", **key)["Policy"],
                       ADMIN_FIX)
    admin.may("change the key policy (kms:PutKeyPolicy)",
              lambda c: c.put_key_policy(PolicyName="default", Policy=policy, **key), ADMIN_FIX)
    admin.may("list the key's grants (kms:ListGrants)", lambda c: c.list_grants(**key), ADMIN_FIX)
    admin.may("read its rotation status (kms:GetKeyRotationStatus)",
              lambda c: c.get_key_rotation_status(**key), ADMIN_FIX)
    tag = {"TagKey": "checked-by", "TagValue": "lesson-08"}
    admin.may("tag the key (kms:TagResource)",
              lambda c: c.tag_resource(Tags=[tag], **key), ADMIN_FIX)
    try:
        admin.may("untag the key (kms:UntagResource)",
                  lambda c: c.untag_resource(TagKeys=[tag["TagKey"]], **key), ADMIN_FIX)
    finally:
        kms.untag_resource(TagKeys=[tag["TagKey"]], **key)
    admin.may("enable the key (kms:EnableKey)", lambda c: c.enable_key(**key), ADMIN_FIX)
    admin.may("disable the key (kms:DisableKey)", lambda c: c.disable_key(**key), ADMIN_FIX)
    try:
        admin.may("enable the key again (kms:EnableKey)", lambda c: c.enable_key(**key), ADMIN_FIX)
    finally:
        kms.enable_key(**key)
    admin.may("schedule the key's deletion (kms:ScheduleKeyDeletion)",
              lambda c: c.schedule_key_deletion(PendingWindowInDays=30, **key), ADMIN_FIX)
    try:
        admin.may("cancel the key's deletion (kms:CancelKeyDeletion)",
                  lambda c: c.cancel_key_deletion(**key), ADMIN_FIX)
    finally:
        if kms.describe_key(**key)["KeyMetadata"]["KeyState"] == "PendingDeletion":
            kms.cancel_key_deletion(**key)
        kms.enable_key(**key)


@exercise(
    "08-key-administrator",
    lesson=LESSON,
    points=3,
    hint="Start from the administrator statement of the lesson: kms:Create* also allows "
    "kms:CreateGrant. Name the actions the administrator needs one by one instead.",
    answers=("admin_key_id",),
)
def _(kms: Any, answers: Answers) -> None:
    meta = _enabled_key(kms, answers, "admin_key_id")
    arn = meta["Arn"]
    blob = _root_encrypts(kms, meta, context("q3-results"), b"admin check", "admin_key_id")
    admin = Actor(role_arn(arn, ADMIN_ROLE))
    _check_administration(kms, admin, arn)
    use = "the administrator manages the key but never uses it: no kms:Encrypt, kms:Decrypt, " \
          "kms:GenerateDataKey*, kms:ReEncrypt* or kms:* for docstore-admin."
    admin.may_not("encrypt (kms:Encrypt)", lambda c: c.encrypt(
        KeyId=arn, Plaintext=b"x", EncryptionContext=context("q3-results")), use)
    admin.may_not("generate a data key (kms:GenerateDataKey)", lambda c: c.generate_data_key(
        KeyId=arn, KeySpec="AES_256", EncryptionContext=context("q3-results")), use)
    admin.may_not("decrypt (kms:Decrypt)", lambda c: c.decrypt(
        CiphertextBlob=blob, KeyId=arn, EncryptionContext=context("q3-results")), use)

    def revoke_self_grants() -> None:
        for grant in kms.list_grants(KeyId=arn).get("Grants", []):
            if grant.get("GranteePrincipal") == admin.arn:
                kms.revoke_grant(KeyId=arn, GrantId=grant["GrantId"])

    admin.may_not(
        "give itself a grant to decrypt (kms:CreateGrant)",
        lambda c: c.create_grant(KeyId=arn, GranteePrincipal=admin.arn, Operations=["Decrypt"]),
        "kms:Create* includes kms:CreateGrant, a back door to using the key. List the Create "
        "action the administrator needs instead (none is needed here).",
        undo=revoke_self_grants,
    )


# --- exercise 2: the application role ----------------------------------------------------------

APP_FIX = ("allow docstore-app exactly kms:Encrypt and kms:GenerateDataKey, with the condition "
           "StringEquals kms:EncryptionContext:store = company-documents.")


@exercise(
    "08-application-role",
    lesson=LESSON,
    points=3,
    hint="One statement: Principal the docstore-app role ARN, Action [kms:Encrypt, "
    "kms:GenerateDataKey], Condition {'StringEquals': {'kms:EncryptionContext:store': "
    "'company-documents'}}; keep the account statement.",
    answers=("app_key_id",),
)
def _(kms: Any, answers: Answers) -> None:
    meta = _enabled_key(kms, answers, "app_key_id")
    arn = meta["Arn"]
    _root_encrypts(kms, meta, None, b"root check", "app_key_id")
    app = Actor(role_arn(arn, APP_ROLE))
    doc = context("contract-7")
    app.may("generate a data key for a document of the store",
            lambda c: c.generate_data_key(KeyId=arn, KeySpec="AES_256", EncryptionContext=doc),
            APP_FIX)
    blob = app.may("encrypt a document of the store",
                   lambda c: c.encrypt(KeyId=arn, Plaintext=b"contract", EncryptionContext=doc),
                   APP_FIX)["CiphertextBlob"]
    app.may_not("encrypt with no encryption context",
                lambda c: c.encrypt(KeyId=arn, Plaintext=b"x"),
                "the condition must require the pair store=company-documents.")
    app.may_not("encrypt for another store (store=hr-archive)",
                lambda c: c.encrypt(KeyId=arn, Plaintext=b"x",
                                    EncryptionContext=context("contract-7", OTHER_CONTEXT)),
                "compare kms:EncryptionContext:store with StringEquals to company-documents.")
    app.may_not("generate a data key without the store pair",
                lambda c: c.generate_data_key(KeyId=arn, KeySpec="AES_256",
                                              EncryptionContext={"doc_id": "contract-7"}),
                "the condition must apply to kms:GenerateDataKey too.")
    only = "the application role may only encrypt: allow exactly kms:Encrypt and " \
           "kms:GenerateDataKey (no wildcard such as kms:GenerateDataKey*)."
    app.may_not("decrypt (kms:Decrypt)",
                lambda c: c.decrypt(CiphertextBlob=blob, KeyId=arn, EncryptionContext=doc), only)
    app.may_not("generate a data key without plaintext (kms:GenerateDataKeyWithoutPlaintext)",
                lambda c: c.generate_data_key_without_plaintext(
                    KeyId=arn, KeySpec="AES_256", EncryptionContext=doc), only)
    app.may_not("re-encrypt (kms:ReEncrypt*)",
                lambda c: c.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=doc,
                                       DestinationKeyId=arn, DestinationEncryptionContext=doc),
                only)
    app.may_not("describe the key (kms:DescribeKey)", lambda c: c.describe_key(KeyId=arn), only)


# --- exercise 3: the reader --------------------------------------------------------------------

READER_FIX = ("allow docstore-reader kms:Decrypt only, when kms:EncryptionContext:store "
              "equals company-documents.")


@exercise(
    "08-reader-role",
    lesson=LESSON,
    points=3,
    hint="Reading a document means decrypting its data key: kms:Decrypt, with the same "
    "encryption context condition as the application's statement.",
    answers=("reader_key_id",),
)
def _(kms: Any, answers: Answers) -> None:
    meta = _enabled_key(kms, answers, "reader_key_id")
    arn = meta["Arn"]
    doc, other = context("q3-results"), context("salaries", OTHER_CONTEXT)
    mine = _root_encrypts(kms, meta, doc, b"Q3 revenue: 4.2 million", "reader_key_id")
    theirs = _root_encrypts(kms, meta, other, b"salaries", "reader_key_id")
    bare = _root_encrypts(kms, meta, None, b"no context", "reader_key_id")
    reader = Actor(role_arn(arn, READER_ROLE))
    out = reader.may("decrypt a document of the store",
                     lambda c: c.decrypt(CiphertextBlob=mine, KeyId=arn, EncryptionContext=doc),
                     READER_FIX)
    if out["Plaintext"] != b"Q3 revenue: 4.2 million":
        raise CheckFailed("The reader's decryption returned the wrong plaintext.")
    reader.may_not("decrypt a document of another store (store=hr-archive)",
                   lambda c: c.decrypt(CiphertextBlob=theirs, KeyId=arn, EncryptionContext=other),
                   "compare kms:EncryptionContext:store with StringEquals to company-documents.")
    reader.may_not("decrypt a ciphertext that has no encryption context",
                   lambda c: c.decrypt(CiphertextBlob=bare, KeyId=arn),
                   "the condition must require the pair store=company-documents.")
    only = "a reader only decrypts: allow kms:Decrypt and nothing else."
    reader.may_not("encrypt (kms:Encrypt)",
                   lambda c: c.encrypt(KeyId=arn, Plaintext=b"x", EncryptionContext=doc), only)
    reader.may_not("generate a data key (kms:GenerateDataKey)",
                   lambda c: c.generate_data_key(KeyId=arn, KeySpec="AES_256",
                                                 EncryptionContext=doc), only)
    reader.may_not("re-encrypt (kms:ReEncrypt*)",
                   lambda c: c.re_encrypt(CiphertextBlob=mine, SourceEncryptionContext=doc,
                                          DestinationKeyId=arn,
                                          DestinationEncryptionContext=doc), only)


# --- exercises 4 and 5: a grant given, then retired --------------------------------------------


def _grant_answers(kms: Any, answers: Answers) -> tuple[dict[str, Any], str, str]:
    meta = _enabled_key(kms, answers, "grant_key_id")
    grant_id = answers.get("audit_grant_id")
    if not isinstance(grant_id, str) or not GRANT_ID.match(grant_id):
        raise CheckFailed(f"`audit_grant_id` is {grant_id!r}: store the GrantId of the "
                          "create_grant response (64 hexadecimal digits).")
    token = answers.get("audit_grant_token")
    if not isinstance(token, str) or not token:
        raise CheckFailed(f"`audit_grant_token` is {token!r}: store the GrantToken of the "
                          "create_grant response (a str).")
    return meta, grant_id, token


def _grants(kms: Any, key_arn: str) -> list[dict[str, Any]]:
    grants: list[dict[str, Any]] = []
    for page in kms.get_paginator("list_grants").paginate(KeyId=key_arn):
        grants.extend(page.get("Grants", []))
    return grants


@exercise(
    "08-give-grant",
    lesson=LESSON,
    points=3,
    hint="kms.create_grant(KeyId=..., GranteePrincipal=<docstore-auditor ARN>, "
    "Operations=['Decrypt'], RetiringPrincipal=<the same ARN>, "
    "Constraints={'EncryptionContextSubset': {'store': 'company-documents'}}).",
    answers=("grant_key_id", "audit_grant_id", "audit_grant_token"),
)
def _(kms: Any, answers: Answers) -> None:
    meta, grant_id, token = _grant_answers(kms, answers)
    arn = meta["Arn"]
    auditor_arn = role_arn(arn, AUDITOR_ROLE)
    grant = next((g for g in _grants(kms, arn) if g["GrantId"] == grant_id), None)
    if grant is None:
        raise CheckFailed(
            "The key in `grant_key_id` has no grant with the ID in `audit_grant_id` (was it "
            "retired already? Exercise 5 retires it: give the grant again, then check both)."
        )
    if grant.get("GranteePrincipal") != auditor_arn:
        raise CheckFailed(f"The grant's grantee is {grant.get('GranteePrincipal')!r}, not the "
                          f"role {AUDITOR_ROLE} ({auditor_arn}).")
    if sorted(grant.get("Operations", [])) != ["Decrypt"]:
        raise CheckFailed(f"The grant allows {grant.get('Operations')}: the auditor only needs "
                          "Operations=['Decrypt'].")
    if grant.get("Constraints", {}).get("EncryptionContextSubset") != STORE_CONTEXT:
        raise CheckFailed(
            f"The grant's constraints are {grant.get('Constraints', {})!r}: use "
            "{'EncryptionContextSubset': {'store': 'company-documents'}}, so every document of "
            "the store (any doc_id) is covered and nothing else."
        )
    if grant.get("RetiringPrincipal") != auditor_arn:
        raise CheckFailed(f"The grant's retiring principal is {grant.get('RetiringPrincipal')!r}: "
                          f"make the auditor ({auditor_arn}) its retiring principal.")
    doc, other = context("contract-7"), context("salaries", OTHER_CONTEXT)
    mine = _root_encrypts(kms, meta, doc, b"audited", "grant_key_id")
    theirs = _root_encrypts(kms, meta, other, b"not audited", "grant_key_id")
    auditor = Actor(auditor_arn)
    tokens = {"GrantTokens": [token]}
    auditor.may("decrypt a document of the store with the grant token",
                lambda c: c.decrypt(CiphertextBlob=mine, KeyId=arn, EncryptionContext=doc,
                                    **tokens),
                "store the GrantToken of the create_grant response in `audit_grant_token`.")
    auditor.may_not("decrypt a document of another store",
                    lambda c: c.decrypt(CiphertextBlob=theirs, KeyId=arn,
                                        EncryptionContext=other, **tokens),
                    "constrain the grant with EncryptionContextSubset store=company-documents.")
    auditor.may_not("encrypt", lambda c: c.encrypt(KeyId=arn, Plaintext=b"x",
                                                   EncryptionContext=doc, **tokens),
                    "the grant (and no policy) may allow anything but Decrypt.")


def _require_retired_by_auditor(key_arn: str, grant_id: str, token: str) -> None:
    """The grant went by a RetireGrant that docstore-auditor made, by the sandbox's trail (not a
    RevokeGrant by the key's owner: the exercise is the retiring principal's retire; RetireGrant
    takes the grant token, or the key ID and grant ID:
    https://docs.aws.amazon.com/kms/latest/APIReference/API_RetireGrant.html).

    Raises:
        CheckFailed: the trail shows no such call (nothing is checked on real AWS: no trail).
    """
    from kms_course.sandbox import trail
    from kms_course.sandbox.start import SandboxError

    try:
        events = trail.trail(event_name="RetireGrant")
    except SandboxError:  # real AWS: CloudTrail, not the sandbox's trail
        return
    auditor = role_arn(key_arn, AUDITOR_ROLE)
    for event in events:
        identity = event.get("userIdentity") or {}
        issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn")
        params = event.get("requestParameters") or {}
        if event.get("errorCode") or (issuer or identity.get("arn")) != auditor:
            continue
        if params.get("grantToken") == token or params.get("grantId") == grant_id:
            return
    raise CheckFailed(
        "The grant is gone, but docstore-auditor did not retire it (the trail shows no "
        "RetireGrant of it by the auditor; a revoke by the key's owner is not the exercise): run "
        "the cell of the previous exercise again for a new grant, then retire it as the auditor "
        "with client_as(auditor_role).retire_grant(GrantToken=audit_grant_token)."
    )


@exercise(
    "08-retire-grant",
    lesson=LESSON,
    points=2,
    hint="As the auditor: client_as(<docstore-auditor ARN>).retire_grant(GrantToken="
    "audit_grant_token).",
    answers=("grant_key_id", "audit_grant_id", "audit_grant_token"),
)
def _(kms: Any, answers: Answers) -> None:
    meta, grant_id, token = _grant_answers(kms, answers)
    arn = meta["Arn"]
    if any(g["GrantId"] == grant_id for g in _grants(kms, arn)):
        raise CheckFailed("The grant in `audit_grant_id` is still listed by ListGrants: retire it "
                          "as the auditor with retire_grant(GrantToken=audit_grant_token).")
    _require_retired_by_auditor(arn, grant_id, token)
    doc = context("contract-7")
    blob = _root_encrypts(kms, meta, doc, b"audit over", "grant_key_id")
    Actor(role_arn(arn, AUDITOR_ROLE)).may_not(
        "still decrypt a document of the store",
        lambda c: c.decrypt(CiphertextBlob=blob, KeyId=arn, EncryptionContext=doc),
        "no grant or policy may still let the auditor decrypt: retire every grant it holds.",
    )
