"""Authorization of every KMS request, as AWS KMS decides it.

From "Determining access to AWS KMS keys"
(https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html) and the IAM
policy evaluation logic (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):

1. An explicit Deny that applies, in the key policy or in the caller's IAM policies (and session
   policy), denies the request.
2. The key policy allows it when an Allow statement names the caller itself (``"*"``, its user or
   role ARN, its role-session ARN, or the root user).
3. An Allow statement naming the caller's account (``"111122223333"`` or
   ``arn:aws:iam::111122223333:root``, as in the default key policy) delegates to IAM: the
   caller's IAM policies must allow the action on the key. The root user is not governed by IAM
   policies and needs no such allow.
4. A grant for the caller that includes the operation (and whose encryption context constraint
   is met) allows it.
5. Otherwise the request is denied. Operations on no key (CreateKey, ListKeys, ListAliases,
   GenerateRandom, ListRetirableGrants ...) are decided by IAM policies alone, and an alias by
   IAM policies alone (https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html).

A denial is AccessDeniedException worded as AWS words it
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_access-denied-error-messages.html):
``User: <caller ARN> is not authorized to perform: kms:<Action> on resource: <key ARN>`` followed
by ``because no resource-based policy allows the kms:<Action> action``, ``because no
identity-based policy allows the kms:<Action> action``, ``with an explicit deny in a
resource-based policy`` or ``with an explicit deny in an identity-based policy``.

Condition keys set for each request (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html):
``aws:PrincipalArn`` (a session's role ARN), ``aws:PrincipalAccount``, ``aws:PrincipalType``,
``aws:username`` (users), ``kms:CallerAccount``, ``kms:EncryptionContext:<key>``,
``kms:EncryptionContextKeys``, ``kms:EncryptionAlgorithm``, ``kms:GrantOperations``,
``kms:GranteePrincipal``, ``kms:RetiringPrincipal``, ``kms:GrantIsForAWSResource`` (false),
``kms:KeyOrigin``, ``kms:KeySpec``, ``kms:KeyUsage``, ``kms:RequestAlias``,
``kms:BypassPolicyLockoutSafetyCheck``. ``kms:ViaService`` is never present: no AWS service
calls the sandbox on anyone's behalf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kms_course.sandbox import rules
from kms_course.sandbox.access import grants as grant_rules
from kms_course.sandbox.access import policy, principals
from kms_course.sandbox.access.principals import Principal
from kms_course.sandbox.rules import KmsError

DETERMINING_ACCESS_DOC = "https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html"
DENIED_MESSAGES_DOC = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_access-denied-error-messages.html"
)
NO_RESOURCE_POLICY = "because no resource-based policy allows the {action} action"
NO_IDENTITY_POLICY = "because no identity-based policy allows the {action} action"
RESOURCE_DENY = "with an explicit deny in a resource-based policy"
IDENTITY_DENY = "with an explicit deny in an identity-based policy"

#: Operations on no KMS key: IAM policies alone decide (resource "*").
NO_KEY_OPERATIONS = frozenset({
    "CreateKey", "ListKeys", "ListAliases", "GenerateRandom", "ListRetirableGrants",
    "CreateCustomKeyStore", "DescribeCustomKeyStores", "ConnectCustomKeyStore",
    "DisconnectCustomKeyStore", "DeleteCustomKeyStore", "UpdateCustomKeyStore",
})
#: Decided by the grant itself, not by policies (grant-delete page).
SELF_AUTHORIZED = frozenset({"RetireGrant"})


@dataclass
class Decision:
    """The answer for one action on one resource: ``allowed``, else ``reason`` (one of the four
    AWS endings); ``grants``: the grants that allowed it when no policy did."""

    allowed: bool
    reason: str = ""
    grants: list = field(default_factory=list)


def denied(caller: Principal, action: str, resource: str, reason: str) -> KmsError:
    """AccessDeniedException in AWS's wording (see the module docstring)."""
    where = "" if resource == "*" else f" on resource: {resource}"
    return KmsError(
        "AccessDeniedException",
        f"User: {caller.arn} is not authorized to perform: {action}{where} "
        f"{reason.format(action=action)}",
    )


def principal_context(caller: Principal) -> dict[str, Any]:
    """The global condition keys about the caller (lower-case names)."""
    context: dict[str, Any] = {
        "aws:principalarn": caller.principal_arn,
        "aws:principalaccount": caller.account,
        "aws:principaltype": caller.principal_type,
        "kms:calleraccount": caller.account,
    }
    if caller.kind == "user":
        context["aws:username"] = caller.name
    return context


def encryption_context_keys(context: dict[str, Any], pairs: Any) -> None:
    """Add ``kms:EncryptionContext:<key>`` and ``kms:EncryptionContextKeys`` for a request's
    encryption context (nothing when the request has none)."""
    if not isinstance(pairs, dict) or not pairs:
        return
    for name, value in pairs.items():
        context[f"kms:encryptioncontext:{str(name).lower()}"] = value
    context["kms:encryptioncontextkeys"] = list(pairs)


def key_context(context: dict[str, Any], key) -> None:
    context["kms:keyorigin"] = key.origin
    context["kms:keyspec"] = key.key_spec
    context["kms:keyusage"] = key.key_usage or "ENCRYPT_DECRYPT"


def _combined(documents: list[str], request: policy.Request) -> policy.Outcome:
    total = policy.Outcome()
    for text in documents:
        found = policy.evaluate(policy.load(text), request)
        total.denied |= found.denied
        total.allowed |= found.allowed
    return total


def identity_outcome(caller: Principal, request: policy.Request) -> tuple[bool, bool]:
    """(explicitly denied, allowed) by the caller's IAM policies and session policy. Root is
    allowed everything by identity (it has no IAM policies to consult)."""
    if caller.is_root:
        return False, True
    found = _combined(principals.identity_policies(caller), request)
    allowed = found.allowed
    deny = found.denied
    if caller.session_policy:
        session = _combined([caller.session_policy], request)
        deny |= session.denied
        allowed &= session.allowed
    return deny, allowed


def decide(caller: Principal, action: str, resource: str, context: dict[str, Any], *,
           key=None, key_policy: str | None = None, grant_operation: str | None = None,
           encryption_context: dict | None = None) -> Decision:
    """Whether ``caller`` may perform ``action`` on ``resource`` (see the module docstring).

    Args:
        key: the moto key whose policy and grants apply (None: IAM policies alone decide).
        key_policy: the key policy text to use instead of the key's own (the lock-out check).
        grant_operation: the grant operation a grant must list to allow this (None: grants
            cannot allow it).
        encryption_context: the request's encryption context, for grant constraints.
    """
    request = policy.Request(caller, action, resource, context)
    identity_deny, identity_allow = identity_outcome(caller, request)
    text = key_policy if key_policy is not None else (key.policy if key is not None else None)
    resource_outcome = policy.evaluate(policy.load(text), request) if text is not None else None
    if resource_outcome is not None and resource_outcome.denied:
        return Decision(False, RESOURCE_DENY)
    if identity_deny:
        return Decision(False, IDENTITY_DENY)
    if resource_outcome is None:
        return Decision(True) if identity_allow else Decision(False, NO_IDENTITY_POLICY)
    if resource_outcome.allowed or (resource_outcome.delegated and identity_allow):
        return Decision(True)
    if key is not None and grant_operation is not None:
        found = grant_rules.grants_for(key, caller, grant_operation, encryption_context)
        if found:
            return Decision(True, grants=found)
    return Decision(False, NO_IDENTITY_POLICY if resource_outcome.delegated else NO_RESOURCE_POLICY)


# --- what each request asks for ---------------------------------------------------------------


@dataclass
class Need:
    """One permission a request needs: ``action`` on ``key`` (or on ``resource`` with no key)."""

    action: str
    resource: str
    key: Any = None
    grant_operation: str | None = None
    encryption_context: dict | None = None


def _alias_arn(ctx, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:kms:{ctx.region}:{ctx.current_account}:{name}"


def _ciphertext_key(ctx, params: dict, id_member: str, blob_member: str):
    named = rules.find_key(ctx, params.get(id_member)) if params.get(id_member) else None
    if named is not None and named.key_spec != "SYMMETRIC_DEFAULT":
        return named
    try:
        return rules.ciphertext_key(ctx, rules.blob(params, blob_member))
    except KmsError:
        return None  # the operation's own rule answers InvalidCiphertextException
    except ValueError:
        return None


def _key_need(action: str, key, operation: str | None, context: dict | None = None) -> Need:
    grantable = operation if operation in grant_rules.GRANT_OPERATIONS else None
    return Need(action, key.arn, key, grantable, context)


def needs(ctx, operation: str, params: dict) -> list[Need]:
    """The permissions ``operation`` with ``params`` needs (empty for an unknown key: the
    operation itself then answers NotFoundException).

    https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html
    """
    action = f"kms:{operation}"
    if operation in NO_KEY_OPERATIONS:
        return [Need(action, "*")]
    if operation == "Decrypt":
        key = _ciphertext_key(ctx, params, "KeyId", "CiphertextBlob")
        return [_key_need(action, key, "Decrypt", params.get("EncryptionContext"))] if key else []
    if operation == "ReEncrypt":
        out = []
        source = _ciphertext_key(ctx, params, "SourceKeyId", "CiphertextBlob")
        if source is not None:
            out.append(_key_need("kms:ReEncryptFrom", source, "ReEncryptFrom",
                                 params.get("SourceEncryptionContext")))
        destination = rules.find_key(ctx, params.get("DestinationKeyId"))
        if destination is not None:
            out.append(_key_need("kms:ReEncryptTo", destination, "ReEncryptTo",
                                 params.get("DestinationEncryptionContext")))
        return out
    if operation in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
        name = params.get("AliasName") or ""
        out = [Need(action, _alias_arn(ctx, name))]
        current = rules.find_key(ctx, name) if operation != "CreateAlias" else None
        target = rules.find_key(ctx, params.get("TargetKeyId"))
        for key in (current, target):
            if key is not None and all(n.key is not key for n in out):
                out.append(_key_need(action, key, None))
        return out
    key = rules.find_key(ctx, params.get("KeyId"))
    if key is None:
        return []
    return [_key_need(action, key, operation, params.get("EncryptionContext"))]


def request_context(ctx, caller: Principal, params: dict, need: Need) -> dict[str, Any]:
    """The condition keys of one permission check (see the module docstring)."""
    context = principal_context(caller)
    encryption_context_keys(context, need.encryption_context)
    if need.key is not None:
        key_context(context, need.key)
    if params.get("EncryptionAlgorithm"):
        context["kms:encryptionalgorithm"] = params["EncryptionAlgorithm"]
    key_id = params.get("KeyId")
    if isinstance(key_id, str) and (key_id.startswith("alias/") or ":alias/" in key_id):
        context["kms:requestalias"] = key_id.split(":", 5)[-1]
    if need.action in ("kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"):
        context["kms:grantisforawsresource"] = "false"
    if need.action == "kms:CreateGrant":
        context["kms:grantoperations"] = list(params.get("Operations") or [])
        context["kms:granteeprincipal"] = params.get("GranteePrincipal")
        if params.get("RetiringPrincipal"):
            context["kms:retiringprincipal"] = params["RetiringPrincipal"]
    if need.action in ("kms:CreateKey", "kms:PutKeyPolicy"):
        bypass = params.get("BypassPolicyLockoutSafetyCheck")
        context["kms:bypasspolicylockoutsafetycheck"] = "true" if bypass else "false"
    if need.action == "kms:CreateKey":
        context["kms:keyspec"] = params.get("KeySpec") or "SYMMETRIC_DEFAULT"
        context["kms:keyusage"] = params.get("KeyUsage") or "ENCRYPT_DECRYPT"
        context["kms:keyorigin"] = params.get("Origin") or "AWS_KMS"
    return {k: v for k, v in context.items() if v is not None}


def caller_of(ctx) -> Principal:
    """The request's caller, found once per request."""
    found = getattr(ctx, "_kms_course_caller", None)
    if found is None:
        found = principals.caller(ctx)
        ctx._kms_course_caller = found
    return found


def authorize(ctx, operation: str, params: dict) -> None:
    """The check run before every KMS operation's rules (``rules.CHECKS``): AccessDeniedException
    unless the caller has every permission the request needs. Grants that allowed a CreateGrant
    are kept on ``ctx._kms_course_via_grants`` for the CreateGrant rule.

    Raises:
        KmsError: AccessDeniedException (see the module docstring), or
            InvalidGrantTokenException for a GrantTokens entry that is not a grant token.
    """
    grant_rules.check_grant_tokens(params)
    if operation in SELF_AUTHORIZED:
        return
    caller = caller_of(ctx)
    via: list = []
    for need in needs(ctx, operation, params):
        context = request_context(ctx, caller, params, need)
        decision = decide(caller, need.action, need.resource, context, key=need.key,
                          grant_operation=need.grant_operation,
                          encryption_context=need.encryption_context)
        if not decision.allowed:
            raise denied(caller, need.action, need.resource, decision.reason)
        via.extend(decision.grants)
    ctx._kms_course_via_grants = via


@rules.replace("CreateGrant")
def create_grant(ctx, params: dict) -> dict:
    """CreateGrant (see :func:`kms_course.sandbox.access.grants.create_grant`), with the caller and
    the grants its permission came from.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html
    """
    return grant_rules.create_grant(ctx, params, caller_of(ctx),
                                    getattr(ctx, "_kms_course_via_grants", []))


@rules.replace("RetireGrant")
def retire_grant(ctx, params: dict) -> dict:
    """RetireGrant, authorized by the grant itself (see
    :func:`kms_course.sandbox.access.grants.retire_grant`).

    https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html
    """
    return grant_rules.retire_grant(ctx, params, caller_of(ctx))
