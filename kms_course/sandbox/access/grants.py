"""Grants as AWS KMS keeps them: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant,
RevokeGrant, and the permissions a grant gives.

Sources: Grants in AWS KMS (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html),
Grant constraints (https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html),
Retiring and revoking grants (https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html),
Using a grant token (https://docs.aws.amazon.com/kms/latest/developerguide/using-grant-token.html),
and the API Reference pages of each operation.

* A GrantId is 64 lower-case hex digits; a GrantToken is URL-safe base64 text that begins with
  the grant's ID (the shape of the examples on the CreateGrant page).
* A grant is effective at once in the sandbox (AWS: within about five minutes, or at once when the
  grant token is passed in GrantTokens). A GrantTokens entry that is not a grant token is refused
  with InvalidGrantTokenException.
* Grants are stored in moto's ``Key.grants`` dict (grant ID -> :class:`Grant`), so they live,
  reset and persist (moto-server) with the key.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kms_course.sandbox import rules
from kms_course.sandbox.access import principals
from kms_course.sandbox.access.principals import Principal
from kms_course.sandbox.rules import KmsError

GRANTS_DOC = "https://docs.aws.amazon.com/kms/latest/developerguide/grants.html"
CONSTRAINTS_DOC = "https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html"
DELETE_DOC = "https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html"

#: Every GrantOperation value (CreateGrant, Operations).
GRANT_OPERATIONS = (
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac",
    "DeriveSharedSecret",
)
_ALWAYS = ("DescribeKey", "CreateGrant", "RetireGrant")
#: The grant operations each kind of key supports ("Grant operations" in Grants in AWS KMS).
OPERATIONS_BY_KEY_TYPE: dict[str, tuple[str, ...]] = {
    "SYMMETRIC_ENCRYPT_DECRYPT": (
        "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom",
        "ReEncryptTo", *_ALWAYS,
    ),
    "ASYMMETRIC_ENCRYPT_DECRYPT": (
        "Decrypt", "Encrypt", "GetPublicKey", "ReEncryptFrom", "ReEncryptTo", *_ALWAYS,
    ),
    "SIGN_VERIFY": ("Sign", "Verify", "GetPublicKey", *_ALWAYS),
    "GENERATE_VERIFY_MAC": ("GenerateMac", "VerifyMac", *_ALWAYS),
    "KEY_AGREEMENT": ("DeriveSharedSecret", "GetPublicKey", *_ALWAYS),
}
#: Operations that take an encryption context, the only ones a grant constraint applies to.
CONTEXT_OPERATIONS = frozenset({
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
})
_GRANT_ID = re.compile(r"^[0-9a-f]{64}$")
_TOKEN_PREFIX = b"\x01\x0a\x40"  # version, then a 64-byte field: the grant ID
_NAME = re.compile(r"^[a-zA-Z0-9:/_-]{1,256}$")


@dataclass
class Grant:
    """One grant, with the fields of a GrantListEntry (ListGrants)."""

    key_arn: str
    grant_id: str
    grantee: str
    operations: list[str]
    issuing_account: str
    creation_date: float
    name: str | None = None
    retiring: str | None = None
    constraints: dict[str, dict[str, str]] | None = None
    tokens: list[str] = field(default_factory=list)

    def entry(self) -> dict[str, Any]:
        """The GrantListEntry: KeyId (key ARN), GrantId, Name, CreationDate, GranteePrincipal,
        RetiringPrincipal, IssuingAccount, Operations, Constraints (absent members left out).

        https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantListEntry.html
        """
        body: dict[str, Any] = {
            "KeyId": self.key_arn,
            "GrantId": self.grant_id,
            "Name": self.name,
            "CreationDate": self.creation_date,
            "GranteePrincipal": self.grantee,
            "RetiringPrincipal": self.retiring,
            "IssuingAccount": self.issuing_account,
            "Operations": list(self.operations),
            "Constraints": self.constraints,
        }
        return {k: v for k, v in body.items() if v is not None}


# --- ids and tokens ---------------------------------------------------------------------------


def new_grant_id() -> str:
    """A new GrantId: 64 hex digits."""
    return hashlib.sha256(secrets.token_bytes(32)).hexdigest()


def new_token(grant_id: str) -> str:
    """A new GrantToken for ``grant_id``: URL-safe base64 of the version byte, the grant ID and
    an opaque part, like the token in the CreateGrant example (which begins "AQpA")."""
    opaque = secrets.token_bytes(160)
    raw = _TOKEN_PREFIX + grant_id.encode() + b"\x22" + bytes([len(opaque)]) + opaque
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def token_grant_id(token: Any) -> str | None:
    """The grant ID inside a grant token, or None if ``token`` is not a grant token."""
    if not isinstance(token, str) or not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if not raw.startswith(_TOKEN_PREFIX) or len(raw) < 67:
        return None
    grant_id = raw[3:67].decode("ascii", "replace")
    return grant_id if _GRANT_ID.match(grant_id) else None


def _invalid_token() -> KmsError:
    return KmsError("InvalidGrantTokenException", "The grant token is not valid.")


def check_grant_tokens(params: dict) -> None:
    """Every entry of GrantTokens must be a grant token, else InvalidGrantTokenException.

    https://docs.aws.amazon.com/kms/latest/developerguide/using-grant-token.html
    """
    for token in params.get("GrantTokens") or ():
        if token_grant_id(token) is None:
            raise _invalid_token()


# --- which grants allow a request ---------------------------------------------------------------


def key_type(key) -> str:
    """The row of :data:`OPERATIONS_BY_KEY_TYPE` for a moto key."""
    usage = key.key_usage or "ENCRYPT_DECRYPT"
    if usage == "ENCRYPT_DECRYPT":
        return "SYMMETRIC_ENCRYPT_DECRYPT" if key.key_spec == "SYMMETRIC_DEFAULT" else (
            "ASYMMETRIC_ENCRYPT_DECRYPT")
    return usage


def names(grantee: str, caller: Principal) -> bool:
    """Whether a grant's GranteePrincipal or RetiringPrincipal names ``caller``: its ARN, the
    role of a role session, or (for root) the account. https://docs.aws.amazon.com/kms/latest/developerguide/grants.html#terms-grant"""
    if grantee in (caller.arn, caller.role_arn or None):
        return True
    return caller.is_root and grantee in (caller.account, caller.arn)


def constraints_met(constraints: dict | None, context: dict[str, str] | None) -> bool:
    """EncryptionContextEquals: the request's encryption context is exactly the constraint's;
    EncryptionContextSubset: it includes every pair of the constraint (case-sensitive).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html
    """
    if not constraints:
        return True
    context = context or {}
    equals = constraints.get("EncryptionContextEquals")
    if equals is not None and context != equals:
        return False
    subset = constraints.get("EncryptionContextSubset")
    if subset is not None and any(context.get(k) != v for k, v in subset.items()):
        return False
    return True


def grants_for(key, caller: Principal, operation: str, context: dict | None) -> list[Grant]:
    """The key's grants that allow ``caller`` the grant operation ``operation``: the grantee is
    the caller, the operation is listed and the encryption context constraints are met (for
    operations that take an encryption context)."""
    found = []
    for grant in getattr(key, "grants", {}).values():
        if not isinstance(grant, Grant) or operation not in grant.operations:
            continue
        if not names(grant.grantee, caller):
            continue
        if operation in CONTEXT_OPERATIONS and not constraints_met(grant.constraints, context):
            continue
        found.append(grant)
    return found


# --- CreateGrant ------------------------------------------------------------------------------


def _validation(message: str) -> KmsError:
    return KmsError("ValidationException", message)


def _check_principal(value: Any, member: str, account: str) -> str:
    if not principals.is_principal_arn(value) or not principals.exists(value, account):
        raise KmsError("InvalidArnException", f"{member} {value} is not a valid principal ARN.")
    return value


def _check_constraints(constraints: Any, key, operations: list[str]) -> dict | None:
    if constraints in (None, {}):
        return None
    if not isinstance(constraints, dict) or set(constraints) - {
        "EncryptionContextEquals", "EncryptionContextSubset"
    }:
        raise _validation("Constraints takes EncryptionContextEquals or EncryptionContextSubset.")
    if key_type(key) != "SYMMETRIC_ENCRYPT_DECRYPT":
        raise _validation(
            f"{key.arn} is a {key.key_spec} key: encryption context grant constraints are "
            "supported only on symmetric encryption KMS keys."
        )
    for name, pairs in constraints.items():
        if not isinstance(pairs, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in pairs.items()
        ):
            raise _validation(f"{name} must map encryption context keys to string values.")
    return constraints


def _as_strict(child: dict | None, parent: dict | None) -> bool:
    """A grant made with a constrained grant's CreateGrant permission must be equally or more
    strictly constrained (GrantConstraints page)."""
    if not parent:
        return True
    child = child or {}
    if "EncryptionContextEquals" in parent:
        return child.get("EncryptionContextEquals") == parent["EncryptionContextEquals"]
    subset = parent.get("EncryptionContextSubset", {})
    for kind in ("EncryptionContextEquals", "EncryptionContextSubset"):
        pairs = child.get(kind)
        if pairs is not None and all(pairs.get(k) == v for k, v in subset.items()):
            return True
    return False


def create_grant(ctx, params: dict, caller: Principal, via: list[Grant]) -> dict:
    """CreateGrant: Operations must be GrantOperation values the key supports (ValidationException
    otherwise); Constraints only on symmetric encryption keys; GranteePrincipal and
    RetiringPrincipal must be principals that exist (InvalidArnException). A grant with the same
    Name and the same parameters as an existing one answers that grant's GrantId with a new
    token. ``via``: the grants whose CreateGrant permission the caller uses (none when a policy
    allowed it): the new grant must then be no broader than one of them.

    Returns ``{"GrantToken": str, "GrantId": str}``.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html
    https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
    """
    key = rules.key_id_or_arn_only(ctx, params.get("KeyId"))
    if key.key_state == "PendingDeletion":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is pending deletion.")
    account = ctx.current_account
    grantee = _check_principal(params.get("GranteePrincipal"), "GranteePrincipal", account)
    retiring = params.get("RetiringPrincipal")
    if retiring is not None:
        _check_principal(retiring, "RetiringPrincipal", account)
    operations = params.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise _validation("Operations must list at least one grant operation.")
    for op in operations:
        if op not in GRANT_OPERATIONS:
            raise rules._enum_error(op, "operations", GRANT_OPERATIONS)
    allowed = OPERATIONS_BY_KEY_TYPE[key_type(key)]
    refused = [op for op in operations if op not in allowed]
    if refused:
        raise _validation(
            f"{key.arn} ({key.key_usage}, {key.key_spec}) does not support the grant "
            f"operation{'s' if len(refused) > 1 else ''} {', '.join(refused)}; this key supports: "
            f"{', '.join(allowed)}."
        )
    constraints = _check_constraints(params.get("Constraints"), key, operations)
    name = params.get("Name")
    if name is not None and not _NAME.match(str(name)):
        raise _validation("Name must be 1-256 characters a-z, A-Z, 0-9, :, /, _ and -.")
    if via and not any(
        set(operations) <= set(g.operations) and _as_strict(constraints, g.constraints)
        for g in via
    ):
        raise KmsError(
            "AccessDeniedException",
            f"User: {caller.arn} is not authorized to perform: kms:CreateGrant on resource: "
            f"{key.arn}: a grant can create only grants with the same or fewer operations and "
            "an equally strict encryption context constraint.",
        )
    if params.get("DryRun"):
        raise KmsError("DryRunOperationException",
                       "The request would have succeeded, but the DryRun option is set.")
    for grant in key.grants.values():
        if (isinstance(grant, Grant) and name is not None and grant.name == name
                and grant.grantee == grantee and grant.retiring == retiring
                and sorted(grant.operations) == sorted(operations)
                and grant.constraints == constraints):
            token = new_token(grant.grant_id)
            grant.tokens.append(token)
            return {"GrantToken": token, "GrantId": grant.grant_id}
    grant = Grant(
        key_arn=key.arn,
        grant_id=new_grant_id(),
        grantee=grantee,
        operations=list(operations),
        issuing_account=f"arn:aws:iam::{account}:root",
        creation_date=datetime.now(timezone.utc).timestamp(),
        name=name,
        retiring=retiring,
        constraints=constraints,
    )
    token = new_token(grant.grant_id)
    grant.tokens.append(token)
    key.grants[grant.grant_id] = grant
    return {"GrantToken": token, "GrantId": grant.grant_id}


# --- listing ----------------------------------------------------------------------------------


def _page(entries: list[dict], params: dict) -> dict:
    limit = params.get("Limit") or 50
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        raise _validation("Limit must be between 1 and 100.")
    start = 0
    marker = params.get("Marker")
    if marker is not None:
        if not (isinstance(marker, str) and marker.isdigit() and int(marker) <= len(entries)):
            raise KmsError("InvalidMarkerException", "The Marker is not valid.")
        start = int(marker)
    page = entries[start:start + limit]
    body: dict[str, Any] = {"Grants": page, "Truncated": start + limit < len(entries)}
    if body["Truncated"]:
        body["NextMarker"] = str(start + limit)
    return body


@rules.replace("ListGrants")
def list_grants(ctx, params: dict) -> dict:
    """ListGrants: the key's grants as GrantListEntry objects, optionally only the one GrantId or
    only those of one GranteePrincipal; pages of Limit (1-100, default 50) with NextMarker and
    Truncated. The key is given by key ID or key ARN.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_ListGrants.html
    """
    key = rules.key_id_or_arn_only(ctx, params.get("KeyId"))
    grant_id = params.get("GrantId")
    if grant_id is not None and not _GRANT_ID.match(str(grant_id)):
        raise KmsError("InvalidGrantIdException", f"Grant ID {grant_id} is not valid.")
    grantee = params.get("GranteePrincipal")
    entries = [
        g.entry() for g in key.grants.values()
        if isinstance(g, Grant)
        and (grant_id is None or g.grant_id == grant_id)
        and (grantee is None or g.grantee == grantee)
    ]
    return _page(entries, params)


@rules.replace("ListRetirableGrants")
def list_retirable_grants(ctx, params: dict) -> dict:
    """ListRetirableGrants: every grant in the account and Region whose RetiringPrincipal is the
    given principal (an ARN); same entries and paging as ListGrants.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_ListRetirableGrants.html
    """
    retiring = params.get("RetiringPrincipal")
    if not principals.is_principal_arn(retiring):
        raise KmsError("InvalidArnException", f"RetiringPrincipal {retiring} is not a valid ARN.")
    entries = [
        g.entry()
        for key in ctx.kms_backend.keys.values()
        for g in key.grants.values()
        if isinstance(g, Grant) and g.retiring == retiring
    ]
    return _page(entries, params)


# --- retiring and revoking ------------------------------------------------------------------------


def _find(key, grant_id: Any) -> Grant:
    if not isinstance(grant_id, str) or not _GRANT_ID.match(grant_id):
        raise KmsError("InvalidGrantIdException", f"Grant ID {grant_id} is not valid.")
    grant = key.grants.get(grant_id)
    if not isinstance(grant, Grant):
        raise KmsError("NotFoundException", f"Grant ID {grant_id} not found for {key.arn}.")
    return grant


def may_retire(grant: Grant, caller: Principal) -> bool:
    """The retiring principal, the grantee if the grant includes RetireGrant, and the account
    the grant was created in (its root user) may retire a grant. https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html"""
    if grant.retiring and names(grant.retiring, caller):
        return True
    if "RetireGrant" in grant.operations and names(grant.grantee, caller):
        return True
    return caller.is_root and grant.issuing_account == caller.arn


def retire_grant(ctx, params: dict, caller: Principal) -> dict:
    """RetireGrant by GrantToken, or by KeyId (key ID or ARN) and GrantId.

    Raises (as KmsError): InvalidGrantTokenException for a GrantToken that is not a grant token;
    NotFoundException for a grant that does not exist (any more); InvalidGrantIdException for a
    GrantId that is not a grant ID; ValidationException when neither form is given;
    AccessDeniedException when the caller may not retire it (see :func:`may_retire`).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_RetireGrant.html
    """
    token, grant_id = params.get("GrantToken"), params.get("GrantId")
    if token is not None:
        found_id = token_grant_id(token)
        if found_id is None:
            raise _invalid_token()
        keys = ctx.kms_backend.keys.values()
        owner = next((k for k in keys if isinstance(k.grants.get(found_id), Grant)), None)
        if owner is None:
            raise KmsError("NotFoundException", "The grant for this grant token does not exist.")
        key, grant = owner, owner.grants[found_id]
    elif grant_id is not None and params.get("KeyId"):
        key = rules.key_id_or_arn_only(ctx, params.get("KeyId"))
        grant = _find(key, grant_id)
    else:
        raise _validation("RetireGrant needs a GrantToken, or both a KeyId and a GrantId.")
    if not may_retire(grant, caller):
        raise KmsError(
            "AccessDeniedException",
            f"User: {caller.arn} is not authorized to perform: kms:RetireGrant on resource: "
            f"{key.arn} because the grant names it neither as retiring principal nor as grantee "
            "with the RetireGrant operation",
        )
    if params.get("DryRun"):
        raise KmsError("DryRunOperationException",
                       "The request would have succeeded, but the DryRun option is set.")
    del key.grants[grant.grant_id]
    return {}


@rules.replace("RevokeGrant")
def revoke_grant(ctx, params: dict) -> dict:
    """RevokeGrant: KeyId (key ID or key ARN) and GrantId; InvalidGrantIdException for a GrantId
    that is not a grant ID, NotFoundException for one the key does not have. Who may revoke is
    decided by the key policy and IAM policies (kms:RevokeGrant), checked before this runs.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_RevokeGrant.html
    """
    key = rules.key_id_or_arn_only(ctx, params.get("KeyId"))
    grant = _find(key, params.get("GrantId"))
    if params.get("DryRun"):
        raise KmsError("DryRunOperationException",
                       "The request would have succeeded, but the DryRun option is set.")
    del key.grants[grant.grant_id]
    return {}
