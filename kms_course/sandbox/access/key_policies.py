"""Key policies as AWS KMS keeps them: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies, the Policy
of CreateKey, the default key policy and the lock-out safety check.

* The only key policy name is ``default`` (PolicyName is optional); ListKeyPolicies answers
  ``["default"]``.
* A key created without a policy gets the default key policy, whose one statement
  "Enable IAM User Permissions" gives the account (``arn:aws:iam::<account>:root``) ``kms:*``:
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html.
* A policy given to CreateKey or PutKeyPolicy is validated
  (:func:`kms_course.sandbox.access.policy.parse`), and, unless BypassPolicyLockoutSafetyCheck is
  true, must allow the caller to call PutKeyPolicy on the key later, else
  MalformedPolicyDocumentException "The new key policy will not allow you to update the key policy
  in the future." (https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html; the
  message as KMS answers it, e.g.
  https://dev.classmethod.jp/articles/tsnote-kms-The-new-key-policy-will-not-allow-you-to-update-the-key-policy-in-the-future/).
"""

from __future__ import annotations

import json

from kms_course.sandbox import rules
from kms_course.sandbox.access import authorize, policy
from kms_course.sandbox.rules import KmsError

DEFAULT_POLICY_DOC = "https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html"
LOCKOUT = "The new key policy will not allow you to update the key policy in the future."
POLICY_NAME = "default"


def default_policy(account: str, partition: str = "aws") -> str:
    """The default key policy KMS gives a key created through the API without a policy (JSON).

    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
    """
    return json.dumps({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }],
    })


def _policy_name(params: dict) -> None:
    name = params.get("PolicyName", POLICY_NAME)
    if name != POLICY_NAME:
        raise KmsError("NotFoundException", f"No such policy exists: {name} (the only key "
                                            "policy name is default)")


def check_new_policy(ctx, params: dict, resource: str, key=None) -> None:
    """Validate ``params["Policy"]`` and run the lock-out safety check (see the module docstring).

    Raises:
        KmsError: MalformedPolicyDocumentException.
    """
    text = params.get("Policy")
    policy.parse(text, key_policy=True, account=ctx.current_account)
    if params.get("BypassPolicyLockoutSafetyCheck"):
        return
    caller = authorize.caller_of(ctx)
    need = authorize.Need("kms:PutKeyPolicy", resource, key)
    context = authorize.request_context(ctx, caller, {}, need)
    decision = authorize.decide(caller, "kms:PutKeyPolicy", resource, context, key_policy=text)
    if not decision.allowed:
        raise KmsError(policy.MALFORMED, LOCKOUT)


@rules.before("CreateKey")
def create_key_policy(ctx, params: dict) -> None:
    """A Policy given to CreateKey is validated and must pass the lock-out safety check.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html
    """
    if params.get("Policy") is not None:
        check_new_policy(ctx, params, "*")


@rules.after("CreateKey")
def create_key_default_policy(ctx, params: dict, body: dict) -> dict:
    """A key created without a Policy has the default key policy.

    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
    """
    if params.get("Policy") is None:
        key = rules.find_key(ctx, body["KeyMetadata"]["KeyId"])
        if key is not None:
            key.policy = default_policy(ctx.current_account)
    return body


@rules.replace("PutKeyPolicy")
def put_key_policy(ctx, params: dict) -> dict:
    """PutKeyPolicy: KeyId is a key ID or key ARN; PolicyName ``default``; the Policy is
    validated and lock-out checked (unless BypassPolicyLockoutSafetyCheck), then replaces the
    key policy.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
    """
    key = rules.key_id_or_arn_only(ctx, params.get("KeyId"))
    _policy_name(params)
    check_new_policy(ctx, params, key.arn, key)
    key.policy = params["Policy"]
    return {}


@rules.replace("GetKeyPolicy")
def get_key_policy(ctx, params: dict) -> dict:
    """GetKeyPolicy answers Policy (the JSON text) and PolicyName (``default``).

    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html
    """
    key = rules.key_id_or_arn_only(ctx, params.get("KeyId"))
    _policy_name(params)
    return {"Policy": key.policy, "PolicyName": POLICY_NAME}


@rules.replace("ListKeyPolicies")
def list_key_policies(ctx, params: dict) -> dict:
    """ListKeyPolicies answers PolicyNames ``["default"]`` and Truncated false.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeyPolicies.html
    """
    rules.key_id_or_arn_only(ctx, params.get("KeyId"))
    return {"PolicyNames": [POLICY_NAME], "Truncated": False}
