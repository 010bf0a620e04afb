"""Who is calling: the AWS principal behind a sandbox request, and clients that act as one.

AWS identifies the caller of every request from the access key ID in its SigV4 ``Authorization``
header (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-signing-elements.html):
a long-term key made by IAM ``CreateAccessKey`` belongs to an IAM user; a temporary key made by
STS ``AssumeRole`` belongs to a role session (``arn:aws:sts::<account>:assumed-role/<role>/<session>``).
The sandbox does the same with moto's IAM and STS data. Any other access key ID (the setup
cell's fake ``testing`` credentials, or any made-up key) is the account's root user
(``arn:aws:iam::<account>:root``), so lessons written before principals existed keep full
access, as the account owner has on AWS
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html).

:func:`client_as` gives a lesson a boto3 client that acts as a given principal.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

ROOT_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html"
ARNS_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns"

_ACCOUNT = r"(?P<account>\d{12})"
_PARTITION = r"arn:(?P<partition>aws|aws-cn|aws-us-gov)"
#: IAM and STS principal ARN forms (IAM identifiers page, "IAM ARNs").
ROOT_ARN = re.compile(rf"^{_PARTITION}:iam::{_ACCOUNT}:root$")
USER_ARN = re.compile(rf"^{_PARTITION}:iam::{_ACCOUNT}:user/(?:[\w+=,.@-]+/)*(?P<name>[\w+=,.@-]+)$")
ROLE_ARN = re.compile(rf"^{_PARTITION}:iam::{_ACCOUNT}:role/(?:[\w+=,.@-]+/)*(?P<name>[\w+=,.@-]+)$")
SESSION_ARN = re.compile(
    rf"^{_PARTITION}:sts::{_ACCOUNT}:assumed-role/(?P<name>[\w+=,.@-]+)/(?P<session>[\w+=,.@-]+)$"
)
ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Principal:
    """The caller of one request.

    Attributes:
        arn: the caller's ARN as AWS reports it (``aws:userid``'s ARN form): ``...:root``,
            ``...:user/<name>`` or ``arn:aws:sts::<account>:assumed-role/<role>/<session>``.
        kind: ``"root"``, ``"user"`` or ``"session"`` (an assumed-role session).
        account: the 12-digit account ID.
        name: the user or role name ('' for root).
        role_arn: for a session, the role's IAM ARN (what ``aws:PrincipalArn`` is for a session).
        session_policy: for a session, the session policy passed to AssumeRole (JSON text), if any.
    """

    arn: str
    kind: str
    account: str
    name: str = ""
    role_arn: str = ""
    session_policy: str | None = field(default=None, compare=False)

    @property
    def principal_arn(self) -> str:
        """The value of the ``aws:PrincipalArn`` condition key: a session's role ARN, otherwise
        the caller's ARN (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn)."""
        return self.role_arn or self.arn

    @property
    def is_root(self) -> bool:
        return self.kind == "root"

    @property
    def principal_type(self) -> str:
        """``aws:PrincipalType``: Account, User or AssumedRole."""
        return {"root": "Account", "user": "User", "session": "AssumedRole"}[self.kind]


def root(account: str, partition: str = "aws") -> Principal:
    """The account's root user."""
    return Principal(arn=f"arn:{partition}:iam::{account}:root", kind="root", account=account)


def _iam(account: str, partition: str):
    from moto.iam.models import iam_backends

    return iam_backends[account][partition]


def _sts(account: str, partition: str):
    from moto.sts.models import sts_backends

    return sts_backends[account][partition]


def caller(ctx) -> Principal:
    """The principal that signed the request moto is handling (``ctx`` is moto's response
    object for it, e.g. ``KmsResponse``): an IAM user for a key from CreateAccessKey, a role
    session for a key from AssumeRole, else the account's root user (see the module docstring).
    """
    from moto.utilities.utils import get_partition

    account = ctx.current_account
    partition = get_partition(ctx.region)
    access_key = ctx.get_access_key()
    session = _sts(account, partition).get_assumed_role_from_access_key(access_key)
    if session is not None:
        role_name = session.role_arn.split("/")[-1]
        return Principal(
            arn=session.arn,
            kind="session",
            account=session.account_id,
            name=role_name,
            role_arn=session.role_arn,
            session_policy=session.policy or None,
        )
    user = _iam(account, partition).get_user_from_access_key_id(access_key)
    if user is not None:
        return Principal(arn=user.arn, kind="user", account=account, name=user.name)
    return root(account, partition)


def identity_policies(principal: Principal, partition: str = "aws") -> list[str]:
    """The IAM policy documents (JSON text) attached to ``principal``: a user's inline and managed
    policies and those of its groups; a role's inline and managed policies (for a session, the
    role's). Root has none (it is not governed by identity policies). A user or role deleted
    since has none.

    https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html
    """
    if principal.is_root:
        return []
    from moto.iam.exceptions import IAMException as IAMNotFoundException

    iam = _iam(principal.account, partition)
    documents: list[str] = []
    try:
        if principal.kind == "user":
            owner = iam.get_user(principal.name)
            groups = iam.get_groups_for_user(principal.name)
        else:
            owner = iam.get_role(principal.name)
            groups = []
    except IAMNotFoundException:
        return []
    for holder in (owner, *groups):
        documents.extend(_inline(holder))
        documents.extend(_managed_document(p) for p in holder.managed_policies.values())
    return documents


def _inline(holder) -> list[str]:
    out = []
    for document in holder.policies.values():
        out.append(document if isinstance(document, str) else document["policy_document"])
    return out


def _managed_document(policy) -> str:
    version = next((v for v in policy.versions if v.is_default), None)
    document = version.document if version is not None else policy.document
    return document if isinstance(document, str) else json.dumps(document)


def exists(arn: str, account: str, partition: str = "aws") -> bool:
    """Whether the principal ``arn`` exists as far as the sandbox can tell: users and roles of
    ``account`` must exist in its IAM (a role session's role too); root ARNs and account IDs
    always do; principals of other accounts are accepted (the sandbox cannot see them).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html (Policy: "The
    principals in the key policy must exist and be visible to KMS")
    """
    from moto.iam.exceptions import IAMException as IAMNotFoundException

    if ACCOUNT_ID.match(arn) or ROOT_ARN.match(arn):
        return True
    for pattern, getter in ((USER_ARN, "get_user"), (ROLE_ARN, "get_role"), (SESSION_ARN, "get_role")):
        match = pattern.match(arn)
        if match:
            if match["account"] != account:
                return True
            try:
                found = getattr(_iam(account, partition), getter)(match["name"])
            except IAMNotFoundException:
                return False
            return pattern is SESSION_ARN or found.arn == arn
    return False


def is_principal_arn(arn: Any) -> bool:
    """Whether ``arn`` has the form of an AWS principal ARN (root, user, role or role session)
    or is a 12-digit account ID. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html"""
    return isinstance(arn, str) and any(
        p.match(arn) for p in (ACCOUNT_ID, ROOT_ARN, USER_ARN, ROLE_ARN, SESSION_ARN)
    )


# --- clients that act as a principal -----------------------------------------------------------

_CREDENTIALS: dict[tuple[int, str], dict[str, str]] = {}
_CREDENTIALS_LOCK = threading.Lock()


class PrincipalError(ValueError):
    """:func:`client_as` was given something that is not a principal it can act as."""


def client_as(principal_arn: str, service: str = "kms", *, session_name: str = "client-as",
              **kwargs: Any):
    """A new boto3 client for ``service`` whose requests are signed as ``principal_arn``.

    Args:
        principal_arn: an IAM user ARN (``arn:aws:iam::<account>:user/<name>``), role ARN
            (``...:role/<name>``), role-session ARN (``arn:aws:sts::<account>:assumed-role/<role>/<session>``),
            root ARN (``...:root``) or account ID. In the sandbox the user or role must exist
            (create it with the sandbox's IAM: ``sandbox.client("iam").create_user(...)``).
        service: the boto3 service name, default ``"kms"``.
        session_name: RoleSessionName for a role ARN (a session ARN carries its own), 2-64 chars.
        kwargs: passed on to ``boto3.Session.client`` (e.g. ``config=``).

    Returns:
        A boto3 client. A user acts with an access key from IAM ``CreateAccessKey``; a role acts
        with temporary credentials from STS ``AssumeRole``; root and an account ID use the setup
        cell's own credentials (the account's administrator in the sandbox).

    Raises:
        SandboxError: the sandbox is not running; or, in the ``aws`` backend, a user ARN (the
            course never makes access keys in a real account: use a named profile instead).
        PrincipalError: ``principal_arn`` is not a principal ARN or account ID.
        botocore.exceptions.ClientError: IAM or STS refused (e.g. NoSuchEntity: no such user).

    Credentials are made once per principal and sandbox run, and reused.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html,
    https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
    """
    import boto3

    from kms_course.sandbox import start as sandbox

    if not is_principal_arn(principal_arn):
        raise PrincipalError(
            f"{principal_arn!r} is not a principal: give an IAM user or role ARN, an assumed-role "
            "session ARN, a root ARN or a 12-digit account ID."
        )
    backend = sandbox.active_backend()
    if backend is None:
        raise sandbox.SandboxError("The sandbox is not running. " + sandbox.RUN_SETUP)
    region = sandbox.region()
    kwargs.setdefault("region_name", region)
    if ACCOUNT_ID.match(principal_arn) or ROOT_ARN.match(principal_arn):
        return sandbox.client(service, **kwargs)
    if USER_ARN.match(principal_arn) and backend not in sandbox.SANDBOX_BACKENDS:
        raise sandbox.SandboxError(
            "On real AWS the course never creates access keys: configure a named profile for "
            f"{principal_arn} and use boto3.Session(profile_name=...).client('{service}')."
        )
    generation = getattr(sandbox, "_STATE").generation
    with _CREDENTIALS_LOCK:
        creds = _CREDENTIALS.get((generation, principal_arn + "|" + session_name))
        if creds is None or not _still_valid(principal_arn, creds):
            creds = _make_credentials(principal_arn, session_name)
            _CREDENTIALS[(generation, principal_arn + "|" + session_name)] = creds
    return boto3.Session(**creds).client(service, **kwargs)


def _still_valid(arn: str, creds: dict[str, str]) -> bool:
    """Whether cached credentials still act as ``arn`` (after ``sandbox.reset()`` moto's IAM and
    STS data are gone, and the old access key would act as root)."""
    import boto3

    from kms_course.sandbox import start as sandbox

    if sandbox.active_backend() not in sandbox.SANDBOX_BACKENDS:
        return True
    sts = boto3.Session(**creds).client("sts", region_name=sandbox.region())
    try:
        seen = sts.get_caller_identity()["Arn"]
    except Exception:
        return False
    role = ROLE_ARN.match(arn)
    if role:
        return seen.startswith(f"arn:{role['partition']}:sts::{role['account']}:assumed-role/"
                               f"{role['name']}/")
    return seen == arn


def _make_credentials(arn: str, session_name: str) -> dict[str, str]:
    from kms_course.sandbox import start as sandbox

    user = USER_ARN.match(arn)
    if user:
        iam = sandbox.client("iam")
        name = user["name"]
        try:
            key = iam.create_access_key(UserName=name)["AccessKey"]
        except iam.exceptions.LimitExceededException:
            # Two keys already (IAM's limit): moto does not check signatures, so the ID suffices.
            key_id = iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["AccessKeyId"]
            key = {"AccessKeyId": key_id, "SecretAccessKey": "unused-by-the-sandbox"}
        return {"aws_access_key_id": key["AccessKeyId"],
                "aws_secret_access_key": key["SecretAccessKey"]}
    role = ROLE_ARN.match(arn) or SESSION_ARN.match(arn)
    if SESSION_ARN.match(arn):
        role_arn = f"arn:{role['partition']}:iam::{role['account']}:role/{role['name']}"
        if sandbox.active_backend() in sandbox.SANDBOX_BACKENDS:
            role_arn = sandbox.client("iam").get_role(RoleName=role["name"])["Role"]["Arn"]
        session_name = role["session"]
    else:
        role_arn = arn
        if sandbox.active_backend() in sandbox.SANDBOX_BACKENDS:
            sandbox.client("iam").get_role(RoleName=role["name"])  # NoSuchEntity if missing
    answer = sandbox.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)
    c = answer["Credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}
