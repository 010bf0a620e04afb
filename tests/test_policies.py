"""Key policies, IAM policies and their conditions, enforced as AWS KMS enforces them.

Pages: determining-access.html (how KMS combines key policy, IAM policies and grants),
key-policy-default.html, conditions-kms.html (kms: condition keys), the IAM pages on condition
operators (reference_policies_elements_condition_operators.html), on multivalued keys
(reference_policies_condition-logic-multiple-context-keys-or-values.html), on access-denied
messages (reference_policies_access-denied-error-messages.html), and the PutKeyPolicy, GetKeyPolicy
and ListKeyPolicies API references. All under https://docs.aws.amazon.com/.
"""

from __future__ import annotations

import json

import pytest

from _access import (  # noqa: F401
    ACCOUNT, ROOT, ROOT_STATEMENT, access_server_url, account, denied, error, policy,
)
from kms_course.sandbox.access import conditions

# --- evaluation: who may call ------------------------------------------------------------------


def test_key_policy_deny_beats_every_allow(account):
    """determining-access.html: an explicit deny in any policy wins; message ends "with an
    explicit deny in a resource-based policy" (access-denied error messages)."""
    alice = account.user("alice", "kms:*")
    key = account.key({"Effect": "Deny", "Principal": {"AWS": alice}, "Action": "kms:Encrypt",
                       "Resource": "*"})
    message = denied(lambda: account.as_(alice).encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    assert message == (f"User: {alice} is not authorized to perform: kms:Encrypt on resource: "
                       f"{key['Arn']} with an explicit deny in a resource-based policy")


def test_deny_for_everyone_also_stops_root(account):
    key = account.key({"Effect": "Deny", "Principal": "*", "Action": "kms:*crypt",
                       "Resource": "*"})
    assert "explicit deny" in denied(
        lambda: account.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    account.kms.describe_key(KeyId=key["KeyId"])  # not matched by kms:*crypt


def test_iam_deny_beats_the_key_policy_allow(account):
    """An explicit deny in an identity-based policy wins over a key policy naming the user."""
    alice = account.user("alice")
    account.iam.put_user_policy(UserName="alice", PolicyName="deny", PolicyDocument=policy(
        {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}))
    key = account.key({"Effect": "Allow", "Principal": {"AWS": alice}, "Action": "kms:*",
                       "Resource": "*"})
    message = denied(lambda: account.as_(alice).encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    assert message.endswith("with an explicit deny in an identity-based policy")


def test_key_policy_naming_the_user_needs_no_iam_policy(account):
    """determining-access.html: a key policy statement naming the principal is enough."""
    alice = account.user("alice")
    key = account.key({"Effect": "Allow", "Principal": {"AWS": alice}, "Action": "kms:Encrypt",
                       "Resource": "*"})
    assert account.as_(alice).encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]


def test_root_statement_delegates_so_no_iam_policy_means_denied(account):
    """key-policy-default.html: the account statement lets IAM policies decide; with none the
    message ends "because no identity-based policy allows the kms:Decrypt action"."""
    key = account.key()
    blob = account.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    alice = account.user("alice", "kms:Encrypt")
    message = denied(lambda: account.as_(alice).decrypt(CiphertextBlob=blob))
    assert message == (f"User: {alice} is not authorized to perform: kms:Decrypt on resource: "
                       f"{key['Arn']} because no identity-based policy allows the kms:Decrypt "
                       "action")


def test_without_the_root_statement_iam_policies_are_not_enough(account):
    """determining-access.html: unless the key policy allows the account, IAM policies alone
    cannot give access; message "because no resource-based policy allows"."""
    admin = account.user("admin")
    key = account.kms.create_key(BypassPolicyLockoutSafetyCheck=True, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": admin}, "Action": "kms:*", "Resource": "*"}
    ))["KeyMetadata"]
    alice = account.user("alice", "kms:*")
    message = denied(lambda: account.as_(alice).encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    assert message.endswith("because no resource-based policy allows the kms:Encrypt action")
    assert denied(lambda: account.kms.describe_key(KeyId=key["KeyId"])).startswith(f"User: {ROOT}")


def test_role_arn_in_the_key_policy_covers_its_sessions(account):
    role = account.role("app")
    key = account.key({"Effect": "Allow", "Principal": {"AWS": role}, "Action": "kms:Encrypt",
                       "Resource": "*"})
    assert account.as_(role).encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]


def test_account_id_form_of_the_principal_delegates_like_the_root_arn(account):
    key = account.key({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "kms:*",
                       "Resource": "*"})
    alice = account.as_(account.user("alice", "kms:Describe*"))
    assert alice.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]


def test_action_wildcards_and_case(account):
    """reference_policies_elements_action.html: wildcards, case-insensitive action names."""
    alice = account.user("alice")
    key = account.key({"Effect": "Allow", "Principal": {"AWS": alice},
                       "Action": ["KMS:generatedatakey*", "kms:Describe?ey"], "Resource": "*"})
    alice_kms = account.as_(alice)
    alice_kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    alice_kms.describe_key(KeyId=key["KeyId"])
    denied(lambda: alice_kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))


def test_iam_resource_must_name_the_key(account):
    key, other = account.key(), account.key()
    alice = account.as_(account.user("alice", "kms:Encrypt", resource=key["Arn"]))
    alice.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    denied(lambda: alice.encrypt(KeyId=other["KeyId"], Plaintext=b"x"))


def test_create_key_is_decided_by_iam_policies_alone(account):
    """CreateKey has no key: without an IAM allow the message has no resource."""
    alice = account.user("alice")
    message = denied(lambda: account.as_(alice).create_key())
    assert message == (f"User: {alice} is not authorized to perform: kms:CreateKey because no "
                       "identity-based policy allows the kms:CreateKey action")
    account.as_(account.user("maker", "kms:CreateKey")).create_key()


# --- conditions -------------------------------------------------------------------------------


def _app(account, condition: dict, action: str = "kms:Encrypt", name: str = "app"):
    role = account.role(name)
    key = account.key({"Effect": "Allow", "Principal": {"AWS": role}, "Action": action,
                       "Resource": "*", "Condition": condition})
    return key, account.as_(role)


def test_encryption_context_condition(account):
    """conditions-kms.html#conditions-kms-encryption-context: the request's context pair."""
    key, app = _app(account, {"StringEquals": {"kms:EncryptionContext:app": "docs"}})
    app.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"app": "docs"})
    denied(lambda: app.encrypt(KeyId=key["KeyId"], Plaintext=b"x",
                               EncryptionContext={"app": "Docs"}))
    denied(lambda: app.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))


def test_encryption_context_keys_for_all_values(account):
    """ForAllValues: every key of the request must be listed; an empty context passes
    (reference_policies_condition-logic-multiple-context-keys-or-values.html)."""
    key, app = _app(account, {"ForAllValues:StringEquals": {
        "kms:EncryptionContextKeys": ["app", "doc"]}})
    app.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"app": "a", "doc": "1"})
    app.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    denied(lambda: app.encrypt(KeyId=key["KeyId"], Plaintext=b"x",
                               EncryptionContext={"app": "a", "x": "1"}))


def test_encryption_context_keys_for_any_value_requires_one(account):
    key, app = _app(account, {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "doc*"}})
    app.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"document": "1"})
    denied(lambda: app.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))


def test_null_condition_requires_an_encryption_context(account):
    key, app = _app(account, {"Null": {"kms:EncryptionContextKeys": "false"}})
    app.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"a": "b"})
    denied(lambda: app.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))


def test_caller_account_and_principal_arn(account):
    """kms:CallerAccount is the caller's account; aws:PrincipalArn of a role session is the
    role ARN (reference_policies_condition-keys.html)."""
    role = account.role("app")
    key = account.key({"Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt",
                       "Resource": "*", "Condition": {
                           "StringEquals": {"kms:CallerAccount": ACCOUNT},
                           "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/ap*"}}})
    account.as_(role).encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    other = account.role("other")
    denied(lambda: account.as_(other).encrypt(KeyId=key["KeyId"], Plaintext=b"x"))


def test_via_service_is_absent_on_direct_calls(account):
    """kms:ViaService is set only when an AWS service calls KMS for the caller
    (conditions-kms.html#conditions-kms-via-service); IfExists passes when it is absent."""
    key, app = _app(account, {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}})
    denied(lambda: app.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    key, app = _app(account, {"StringEqualsIfExists": {
        "kms:ViaService": "s3.us-east-1.amazonaws.com"}}, name="app2")
    app.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


@pytest.mark.parametrize("operator, wanted, context, expected", [
    ("StringEquals", "a", {"k": "a"}, True),
    ("StringEquals", "a", {}, False),
    ("StringNotEquals", "a", {}, True),  # negated operators pass an absent key
    ("StringNotEquals", ["a", "b"], {"k": "b"}, False),
    ("StringEqualsIgnoreCase", "ABC", {"k": "abc"}, True),
    ("StringLike", "do?-*", {"k": "doc-42"}, True),
    ("StringLike", "doc", {"k": "DOC"}, False),  # values are case-sensitive
    ("StringEqualsIfExists", "a", {}, True),
    ("StringEqualsIfExists", "a", {"k": "b"}, False),
    ("Null", "true", {}, True),
    ("Null", "false", {}, False),
    ("Bool", True, {"k": "true"}, True),
    ("ForAllValues:StringEquals", ["a"], {"k": ["a", "a"]}, True),
    ("ForAllValues:StringEquals", ["a"], {}, True),
    ("ForAnyValue:StringEquals", ["a"], {}, False),
    ("ForAnyValue:StringNotEquals", ["a"], {"k": ["a", "b"]}, True),
])
def test_condition_operators(operator, wanted, context, expected):
    """reference_policies_elements_condition_operators.html and the multivalued-keys page."""
    assert conditions.operator_matches(operator, "K", wanted, context) is expected


def test_condition_key_names_are_case_insensitive():
    assert conditions.block_matches({"StringEquals": {"KMS:CallerAccount": ACCOUNT}},
                                    {"kms:calleraccount": ACCOUNT})


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "{not json",
    "[]",
    json.dumps({"Statement": []}),
    json.dumps({"Version": "2019-01-01", "Statement": [ROOT_STATEMENT]}),
    json.dumps({"Statement": [{**ROOT_STATEMENT, "Effect": "Permit"}]}),
    json.dumps({"Statement": [{k: v for k, v in ROOT_STATEMENT.items() if k != "Principal"}]}),
    json.dumps({"Statement": [{k: v for k, v in ROOT_STATEMENT.items() if k != "Action"}]}),
    json.dumps({"Statement": [{**ROOT_STATEMENT, "Actions": "kms:*"}]}),
    json.dumps({"Statement": [{**ROOT_STATEMENT, "Action": "Encrypt"}]}),
    json.dumps({"Statement": [{**ROOT_STATEMENT, "Condition": {"StringIs": {"a": "b"}}}]}),
])
def test_malformed_policies_are_refused(account, text):
    """PutKeyPolicy raises MalformedPolicyDocumentException for a policy that is not valid
    (API_PutKeyPolicy.html; grammar: reference_policies_grammar.html)."""
    key = account.key()
    code, _ = error(lambda: account.kms.put_key_policy(KeyId=key["KeyId"], Policy=text))
    assert code == "MalformedPolicyDocumentException"
    assert json.loads(account.kms.get_key_policy(KeyId=key["KeyId"])["Policy"])[
        "Statement"][0]["Principal"] == {"AWS": ROOT}


def test_principal_that_does_not_exist_is_refused_in_aws_words(account):
    """API_PutKeyPolicy.html: "The principals in the key policy must exist"."""
    key = account.key()
    ghost = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/ghost"},
             "Action": "kms:*", "Resource": "*"}
    assert error(lambda: account.kms.put_key_policy(
        KeyId=key["KeyId"], Policy=policy(ROOT_STATEMENT, ghost))) == (
        "MalformedPolicyDocumentException",
        "Policy contains a statement with one or more invalid principals.")
    code, _ = error(lambda: account.kms.create_key(Policy=policy(ROOT_STATEMENT, ghost)))
    assert code == "MalformedPolicyDocumentException"


def test_lockout_safety_check(account):
    """API_PutKeyPolicy.html / API_CreateKey.html: the policy must allow the caller to call
    PutKeyPolicy later, unless BypassPolicyLockoutSafetyCheck is true."""
    other = account.user("other")
    locked = policy({"Effect": "Allow", "Principal": {"AWS": other}, "Action": "kms:*",
                     "Resource": "*"})
    key = account.key()
    assert error(lambda: account.kms.put_key_policy(KeyId=key["KeyId"], Policy=locked)) == (
        "MalformedPolicyDocumentException",
        "The new key policy will not allow you to update the key policy in the future.")
    assert error(lambda: account.kms.create_key(Policy=locked))[0] == (
        "MalformedPolicyDocumentException")
    account.kms.put_key_policy(KeyId=key["KeyId"], Policy=locked,
                               BypassPolicyLockoutSafetyCheck=True)
    # Now only "other" may manage the key: the root user is locked out, as AWS warns.
    assert account.as_(other).get_key_policy(KeyId=key["KeyId"])["Policy"] == locked
    assert "no resource-based policy allows the kms:GetKeyPolicy action" in denied(
        lambda: account.kms.get_key_policy(KeyId=key["KeyId"]))


def test_lockout_check_counts_the_callers_iam_policies(account):
    """A user allowed PutKeyPolicy by IAM keeps access through the root statement."""
    admin = account.user("admin", "kms:*")
    key = account.key()
    account.as_(admin).put_key_policy(KeyId=key["KeyId"], Policy=policy(ROOT_STATEMENT))


# --- GetKeyPolicy, ListKeyPolicies, the default key policy ----------------------------------------


def test_default_key_policy(account):
    """key-policy-default.html: the default policy of a key made through the API."""
    key = account.key()
    got = account.kms.get_key_policy(KeyId=key["KeyId"])
    assert got["PolicyName"] == "default"
    assert json.loads(got["Policy"]) == {"Version": "2012-10-17", "Id": "key-default-1",
                                         "Statement": [ROOT_STATEMENT]}


def test_list_key_policies(account):
    """API_ListKeyPolicies.html: the only policy name is default."""
    key = account.key()
    got = account.kms.list_key_policies(KeyId=key["KeyId"])
    assert (got["PolicyNames"], got["Truncated"]) == (["default"], False)


def test_get_key_policy_needs_permission(account):
    key = account.key()
    alice = account.as_(account.user("alice", "kms:Encrypt"))
    assert "kms:GetKeyPolicy" in denied(lambda: alice.get_key_policy(KeyId=key["KeyId"]))
