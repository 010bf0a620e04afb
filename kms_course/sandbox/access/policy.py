"""Policy documents: parse and validate them as KMS does, and evaluate their statements.

Validation follows the IAM policy grammar
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html) and the key
policy rules of PutKeyPolicy/CreateKey (https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html):
every problem is a ``MalformedPolicyDocumentException``. The message for a principal that does
not exist is AWS's own, "Policy contains a statement with one or more invalid principals."
(AWS does not document the messages for syntax errors; the sandbox's say what is wrong.)

Evaluation follows https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html:
a statement applies when its Principal (key policies only), Action, Resource and Condition all
match the request; an applicable Deny is an explicit deny, and an explicit deny wins.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kms_course.sandbox.access import conditions, principals
from kms_course.sandbox.access.principals import Principal

MALFORMED = "MalformedPolicyDocumentException"
INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."
GRAMMAR_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html"
VERSIONS = ("2012-10-17", "2008-10-17")
_TOP = {"Version", "Id", "Statement"}
_STATEMENT = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
              "NotResource", "Condition"}
_PRINCIPAL_TYPES = {"AWS", "Service", "Federated", "CanonicalUser"}
_ACTION = re.compile(r"^(\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+)$")
_SERVICE = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$")


def _malformed(message: str):
    from kms_course.sandbox.rules import KmsError

    return KmsError(MALFORMED, message)


@dataclass(frozen=True)
class Request:
    """What a policy is asked about: who, which action, which resource, in which context.

    Attributes:
        principal: the caller.
        action: e.g. ``"kms:Encrypt"``.
        resource: the key ARN, or ``"*"`` for operations on no key (CreateKey, ListKeys ...).
        context: condition keys (lower-case names) -> str or list of str.
    """

    principal: Principal
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """The statements of one policy that apply to a request.

    ``denied``: an applicable Deny. ``allowed``: an applicable Allow naming the caller itself
    (for key policies: "*", the caller's ARN, its role, or root for the root user).
    ``delegated``: an applicable Allow naming only the caller's account (key policies), which
    lets the caller's IAM policies decide.
    """

    denied: bool = False
    allowed: bool = False
    delegated: bool = False


# --- parsing and validation -------------------------------------------------------------------


def _strings(value: Any) -> list[str] | None:
    """``value`` as a non-empty list of strings, or None if it is not a string or such a list."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) for v in items):
        return None
    return items


def parse(text: Any, *, key_policy: bool, account: str, partition: str = "aws") -> dict:
    """The policy document ``text`` as a dict, validated.

    Args:
        text: the JSON text of the policy.
        key_policy: True for a key policy (each statement needs a Principal or NotPrincipal,
            and each principal must exist); False for an IAM identity policy (no Principal).
        account: the account whose users and roles principals are checked against.

    Raises:
        KmsError: MalformedPolicyDocumentException naming the first problem: not JSON, not an
            object, an unknown element, a missing or wrong Version/Statement/Effect/Action/
            Resource/Principal/Condition, or (key policies) a principal that does not exist.

    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
    https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
    """
    if not isinstance(text, str):
        raise _malformed("The policy must be a JSON text.")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise _malformed(f"The policy is not valid JSON: {error}.") from None
    if not isinstance(document, dict):
        raise _malformed("The policy must be a JSON object.")
    unknown = sorted(set(document) - _TOP)
    if unknown:
        raise _malformed(f"The policy contains an unknown element: {unknown[0]}.")
    if "Version" in document and document["Version"] not in VERSIONS:
        raise _malformed(f"The policy Version must be 2012-10-17 (got {document['Version']!r}).")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise _malformed("The policy must have a Statement: an object or a list of objects.")
    invalid_principal = False
    for number, statement in enumerate(statements, 1):
        invalid_principal |= _check_statement(statement, number, key_policy, account, partition)
    if invalid_principal:
        raise _malformed(INVALID_PRINCIPALS)
    return document


def _check_statement(statement: Any, number: int, key_policy: bool, account: str,
                     partition: str) -> bool:
    """Raise for a syntax problem; return True if a principal is invalid (reported last, as
    AWS reports it only for an otherwise well-formed policy)."""
    where = f"Statement {number}"
    if not isinstance(statement, dict):
        raise _malformed(f"{where} must be a JSON object.")
    unknown = sorted(set(statement) - _STATEMENT)
    if unknown:
        raise _malformed(f"{where} contains an unknown element: {unknown[0]}.")
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise _malformed(f"{where}: Sid must be a string.")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise _malformed(f"{where}: Effect must be Allow or Deny.")
    _exactly_one(statement, "Action", "NotAction", where)
    for name in ("Action", "NotAction"):
        if name in statement:
            actions = _strings(statement[name])
            if actions is None or not all(_ACTION.match(a) for a in actions):
                raise _malformed(f"{where}: {name} must be \"*\" or service:action strings "
                                 "such as kms:Encrypt.")
    _exactly_one(statement, "Resource", "NotResource", where)
    for name in ("Resource", "NotResource"):
        if name in statement and _strings(statement[name]) is None:
            raise _malformed(f"{where}: {name} must be a string or a list of strings.")
    if key_policy:
        _exactly_one(statement, "Principal", "NotPrincipal", where)
    elif "Principal" in statement or "NotPrincipal" in statement:
        raise _malformed(f"{where}: an identity policy cannot have a Principal element.")
    _check_condition(statement.get("Condition"), where)
    invalid = False
    for name in ("Principal", "NotPrincipal"):
        if name in statement:
            invalid |= not _principal_valid(statement[name], where, account, partition)
    return invalid


def _exactly_one(statement: dict, a: str, b: str, where: str) -> None:
    if (a in statement) == (b in statement):
        raise _malformed(f"{where} must have exactly one of {a} and {b}.")


def _principal_valid(value: Any, where: str, account: str, partition: str) -> bool:
    if value == "*":
        return True
    if not isinstance(value, dict) or not value:
        raise _malformed(f"{where}: Principal must be \"*\" or an object such as "
                         '{"AWS": "arn:aws:iam::111122223333:root"}.')
    valid = True
    for kind, entries in value.items():
        if kind not in _PRINCIPAL_TYPES:
            raise _malformed(f"{where}: unknown principal type {kind}.")
        names = _strings(entries)
        if names is None:
            raise _malformed(f"{where}: Principal {kind} must be a string or a list of strings.")
        for name in names:
            if kind == "AWS":
                valid &= name == "*" or principals.exists(name, account, partition)
            elif kind == "Service":
                valid &= bool(_SERVICE.match(name))
    return valid


def _check_condition(block: Any, where: str) -> None:
    if block is None:
        return
    if not isinstance(block, dict):
        raise _malformed(f"{where}: Condition must be an object of operators.")
    for operator, keys in block.items():
        if conditions.split_operator(operator) is None:
            raise _malformed(f"{where}: unknown condition operator {operator}.")
        if not isinstance(keys, dict) or not keys:
            raise _malformed(f"{where}: Condition operator {operator} must map condition keys "
                             "to values.")
        for key, wanted in keys.items():
            items = wanted if isinstance(wanted, list) else [wanted]
            if not items or not all(isinstance(v, (str, bool, int, float)) for v in items):
                raise _malformed(f"{where}: the value of {key} must be a string, a boolean, a "
                                 "number, or a list of them.")


# --- evaluation -------------------------------------------------------------------------------


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def action_matches(patterns: Any, action: str) -> bool:
    """Whether ``action`` (``"kms:Encrypt"``) matches one of the Action patterns; action names
    are case-insensitive and take ``*``/``?`` wildcards (``kms:*``, ``kms:Generate*``, ``*``).

    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
    """
    return any(conditions.wildcard(p, ignore_case=True).match(action) for p in _listed(patterns))


def resource_matches(patterns: Any, resource: str) -> bool:
    """Whether ``resource`` matches a Resource pattern. In a key policy ``"*"`` means the key the
    policy is attached to. https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html"""
    return any(p == "*" or conditions.wildcard(p).match(resource) for p in _listed(patterns))


def principal_match(value: Any, caller: Principal) -> str | None:
    """How a Principal element names ``caller``: ``"direct"`` (``"*"``, the caller's ARN, the
    role of a role session, or the root ARN/account ID when the caller is root), ``"account"``
    (the caller's account ID or root ARN: the account delegates to IAM policies), or None.

    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
    """
    if value == "*":
        return "direct"
    best = None
    for kind, entries in value.items():
        if kind != "AWS":
            continue  # service, federated and canonical principals never call the sandbox
        for name in _listed(entries):
            if name == "*" or name == caller.arn or (caller.role_arn and name == caller.role_arn):
                return "direct"
            root_arn = f"arn:aws:iam::{caller.account}:root"
            if name in (caller.account, root_arn) or (
                principals.ROOT_ARN.match(name) and name.endswith(f"::{caller.account}:root")
            ):
                if caller.is_root:
                    return "direct"
                best = "account"
    return best


def statement_applies(statement: dict, request: Request) -> str | None:
    """``"direct"``, ``"account"`` (see :func:`principal_match`; identity policies: always
    ``"direct"``) if the statement applies to ``request``, else None."""
    if "Action" in statement and not action_matches(statement["Action"], request.action):
        return None
    if "NotAction" in statement and action_matches(statement["NotAction"], request.action):
        return None
    if "Resource" in statement and not resource_matches(statement["Resource"], request.resource):
        return None
    if "NotResource" in statement and resource_matches(statement["NotResource"], request.resource):
        return None
    how = "direct"
    if "Principal" in statement:
        how = principal_match(statement["Principal"], request.principal)
        if how is None:
            return None
    elif "NotPrincipal" in statement:
        if principal_match(statement["NotPrincipal"], request.principal) is not None:
            return None
    if not conditions.block_matches(statement.get("Condition"), request.context):
        return None
    return how


def statements(document: dict) -> list[dict]:
    """The statements of a parsed policy document, as a list."""
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def evaluate(document: dict, request: Request) -> Outcome:
    """Which of the document's statements apply to ``request`` (see :class:`Outcome`)."""
    result = Outcome()
    for statement in statements(document):
        how = statement_applies(statement, request)
        if how is None:
            continue
        if statement["Effect"] == "Deny":
            result.denied = True
        elif how == "direct":
            result.allowed = True
        else:
            result.delegated = True
    return result


def load(text: str) -> dict:
    """A stored policy's document; a policy that is not JSON (stored by plain moto) applies to
    nothing."""
    try:
        document = json.loads(text)
    except (TypeError, ValueError):
        return {"Statement": []}
    return document if isinstance(document, dict) else {"Statement": []}
