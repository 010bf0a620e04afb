"""The checks of lesson 08 (key policies and grants): each passes on a least-privilege answer and
fails, naming the mistake, when a role may do too much or too little; and a check that tried a
forbidden call leaves the key as it found it.

What the checks expect comes from the AWS pages cited in
kms_course/lessons/checks/l08_key_policies.py: the administrators' action list of
https://docs.aws.amazon.com/kms/latest/developerguide/rbac.html (in which kms:Create* covers
kms:CreateGrant), the kms:EncryptionContext:<key> condition key of
https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html (a request without the
pair does not meet StringEquals:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html), EncryptionContextSubset/Equals of https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html,
and RetireGrant by the retiring principal,
https://docs.aws.amazon.com/kms/latest/APIReference/API_RetireGrant.html.
"""

from __future__ import annotations

import json

import pytest

from kms_course.sandbox import start as sandbox
from kms_course.sandbox.access import client_as
from kms_course.lessons.checks import l08_key_policies as lesson
from _verdicts import assert_fails, assert_passes  # noqa: E402

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ARN = {name: f"arn:aws:iam::{ACCOUNT}:role/{name}" for name in lesson.ROLES}
ACCOUNT_STATEMENT = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                     "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
RBAC_ADMIN_ACTIONS = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
    "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
]
SAFE_ADMIN_ACTIONS = [a for a in RBAC_ADMIN_ACTIONS if a != "kms:Create*"]
STORE_CONDITION = {"StringEquals": {"kms:EncryptionContext:store": "company-documents"}}


@pytest.fixture
def roles(kms):
    """The lesson's four IAM roles, trusted by the account (as the lesson's cell makes them)."""
    iam = sandbox.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}]})
    for name in lesson.ROLES:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    return ARN


def statement(role: str, actions, condition=None) -> dict:
    out = {"Effect": "Allow", "Principal": {"AWS": ARN[role]}, "Action": actions, "Resource": "*"}
    if condition:
        out["Condition"] = condition
    return out


def key_with(kms, *statements) -> str:
    policy = json.dumps({"Version": "2012-10-17", "Statement": [ACCOUNT_STATEMENT, *statements]})
    return kms.create_key(Policy=policy)["KeyMetadata"]["KeyId"]


# --- exercise 1: the key administrator --------------------------------------------------------


def test_admin_without_create_passes_and_leaves_the_key_as_it_was(kms, roles):
    key = key_with(kms, statement(lesson.ADMIN_ROLE, SAFE_ADMIN_ACTIONS))
    assert_passes(kms, "08-key-administrator", admin_key_id=key)
    meta = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled"
    assert kms.list_resource_tags(KeyId=key)["Tags"] == []
    assert kms.list_grants(KeyId=key)["Grants"] == []


def test_admin_with_create_wildcard_fails_on_the_grant_back_door_then_revokes_it(kms, roles):
    key = key_with(kms, statement(lesson.ADMIN_ROLE, RBAC_ADMIN_ACTIONS))
    assert_fails(kms, "08-key-administrator", "kms:Create* includes kms:CreateGrant",
                 admin_key_id=key)
    assert kms.list_grants(KeyId=key)["Grants"] == []


def test_admin_who_may_use_the_key_fails(kms, roles):
    key = key_with(kms, statement(lesson.ADMIN_ROLE, [*SAFE_ADMIN_ACTIONS, "kms:Encrypt"]))
    assert_fails(kms, "08-key-administrator", "docstore-admin could encrypt", admin_key_id=key)


def test_admin_with_kms_star_fails(kms, roles):
    key = key_with(kms, statement(lesson.ADMIN_ROLE, "kms:*"))
    assert_fails(kms, "08-key-administrator", "could encrypt", admin_key_id=key)


def test_admin_who_cannot_cancel_a_deletion_fails_and_the_key_is_rescued(kms, roles):
    actions = [a for a in SAFE_ADMIN_ACTIONS if a != "kms:CancelKeyDeletion"]
    key = key_with(kms, statement(lesson.ADMIN_ROLE, actions))
    assert_fails(kms, "08-key-administrator", "cancel the key's deletion", admin_key_id=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"


def test_admin_who_cannot_enable_fails_and_the_key_stays_enabled(kms, roles):
    actions = [a for a in SAFE_ADMIN_ACTIONS if a != "kms:Enable*"]
    key = key_with(kms, statement(lesson.ADMIN_ROLE, actions))
    assert_fails(kms, "08-key-administrator", "enable the key", admin_key_id=key)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"


def test_admin_not_in_the_policy_fails_with_the_access_denied_code(kms, roles):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    assert_fails(kms, "08-key-administrator",
                 "docstore-admin should be able to describe the key (kms:DescribeKey), but KMS "
                 "answered AccessDeniedException", admin_key_id=key)


def test_admin_check_says_when_the_roles_are_missing(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    assert_fails(kms, "08-key-administrator", "The IAM role docstore-admin does not exist",
                 admin_key_id=key)


def test_admin_check_needs_an_enabled_key_and_the_variable(kms, roles):
    key = key_with(kms, statement(lesson.ADMIN_ROLE, SAFE_ADMIN_ACTIONS))
    kms.disable_key(KeyId=key)
    assert_fails(kms, "08-key-administrator", "is Disabled", admin_key_id=key)
    assert_fails(kms, "08-key-administrator", "`admin_key_id` is not defined yet")


# --- exercise 2: the application role ---------------------------------------------------------

APP_ACTIONS = ["kms:Encrypt", "kms:GenerateDataKey"]


def test_app_with_exact_actions_and_the_store_condition_passes(kms, roles):
    key = key_with(kms, statement(lesson.APP_ROLE, APP_ACTIONS, STORE_CONDITION))
    assert_passes(kms, "08-application-role", app_key_id=key)


def test_app_without_condition_fails_on_a_request_without_context(kms, roles):
    key = key_with(kms, statement(lesson.APP_ROLE, APP_ACTIONS))
    assert_fails(kms, "08-application-role", "could encrypt with no encryption context",
                 app_key_id=key)


def test_app_condition_on_the_wrong_value_fails(kms, roles):
    key = key_with(kms, statement(lesson.APP_ROLE, APP_ACTIONS, {
        "StringEquals": {"kms:EncryptionContext:store": "hr-archive"}}))
    assert_fails(kms, "08-application-role",
                 "should be able to generate a data key for a document of the store",
                 app_key_id=key)


def test_app_condition_that_only_requires_the_key_fails_for_another_store(kms, roles):
    key = key_with(kms, statement(lesson.APP_ROLE, APP_ACTIONS, {
        "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "store"}}))
    assert_fails(kms, "08-application-role", "could encrypt for another store", app_key_id=key)


def test_app_with_data_key_wildcard_fails(kms, roles):
    key = key_with(kms, statement(lesson.APP_ROLE, ["kms:Encrypt", "kms:GenerateDataKey*"],
                                  STORE_CONDITION))
    assert_fails(kms, "08-application-role", "GenerateDataKeyWithoutPlaintext", app_key_id=key)


def test_app_that_may_also_decrypt_fails(kms, roles):
    key = key_with(kms, statement(lesson.APP_ROLE, [*APP_ACTIONS, "kms:Decrypt"], STORE_CONDITION))
    assert_fails(kms, "08-application-role", "docstore-app could decrypt", app_key_id=key)


def test_app_with_the_rbac_key_user_statement_fails(kms, roles):
    # rbac.html's example key user: Encrypt, Decrypt, ReEncrypt*, GenerateDataKey*, DescribeKey.
    actions = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
               "kms:DescribeKey"]
    key = key_with(kms, statement(lesson.APP_ROLE, actions, STORE_CONDITION))
    assert_fails(kms, "08-application-role", "least privilege says it must not", app_key_id=key)


# --- exercise 3: the reader -------------------------------------------------------------------


def test_reader_with_decrypt_and_the_store_condition_passes(kms, roles):
    key = key_with(kms, statement(lesson.READER_ROLE, "kms:Decrypt", STORE_CONDITION))
    assert_passes(kms, "08-reader-role", reader_key_id=key)


def test_reader_without_condition_fails_on_another_store(kms, roles):
    key = key_with(kms, statement(lesson.READER_ROLE, "kms:Decrypt"))
    assert_fails(kms, "08-reader-role", "could decrypt a document of another store",
                 reader_key_id=key)


def test_reader_who_may_also_encrypt_fails(kms, roles):
    key = key_with(kms, statement(lesson.READER_ROLE, ["kms:Decrypt", "kms:Encrypt"],
                                  STORE_CONDITION))
    assert_fails(kms, "08-reader-role", "docstore-reader could encrypt", reader_key_id=key)


def test_reader_with_reencrypt_fails(kms, roles):
    key = key_with(kms, statement(lesson.READER_ROLE, ["kms:Decrypt", "kms:ReEncrypt*"],
                                  STORE_CONDITION))
    assert_fails(kms, "08-reader-role", "could re-encrypt", reader_key_id=key)


def test_reader_not_in_the_policy_fails(kms, roles):
    key = key_with(kms, statement(lesson.APP_ROLE, APP_ACTIONS, STORE_CONDITION))
    assert_fails(kms, "08-reader-role", "should be able to decrypt a document of the store",
                 reader_key_id=key)


def test_reader_check_needs_the_account_statement(kms, roles):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        statement(lesson.READER_ROLE, "kms:*")]})
    key = kms.create_key(Policy=policy, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    assert_fails(kms, "08-reader-role", "keep the key policy statement that allows the account",
                 reader_key_id=key["KeyId"])


# --- exercises 4 and 5: the grant -------------------------------------------------------------


def give(kms, key: str, **overrides) -> dict:
    params = dict(KeyId=key, GranteePrincipal=ARN[lesson.AUDITOR_ROLE], Operations=["Decrypt"],
                  RetiringPrincipal=ARN[lesson.AUDITOR_ROLE],
                  Constraints={"EncryptionContextSubset": lesson.STORE_CONTEXT})
    params.update(overrides)
    return kms.create_grant(**params)


def grant_answers(key: str, grant: dict) -> dict:
    return {"grant_key_id": key, "audit_grant_id": grant["GrantId"],
            "audit_grant_token": grant["GrantToken"]}


def test_grant_for_the_whole_store_passes_then_retiring_it_passes_exercise_5(kms, roles):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    grant = give(kms, key)
    answers = grant_answers(key, grant)
    assert_passes(kms, "08-give-grant", **answers)
    assert_fails(kms, "08-retire-grant", "still listed by ListGrants", **answers)
    client_as(ARN[lesson.AUDITOR_ROLE]).retire_grant(GrantToken=grant["GrantToken"])
    assert_passes(kms, "08-retire-grant", **answers)
    assert_fails(kms, "08-give-grant", "has no grant with the ID", **answers)


def test_grant_for_one_exact_context_fails(kms, roles):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    grant = give(kms, key, Constraints={"EncryptionContextEquals": lesson.STORE_CONTEXT})
    assert_fails(kms, "08-give-grant", "use {'EncryptionContextSubset'",
                 **grant_answers(key, grant))


def test_grant_without_constraint_fails(kms, roles):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    params = dict(KeyId=key, GranteePrincipal=ARN[lesson.AUDITOR_ROLE], Operations=["Decrypt"],
                  RetiringPrincipal=ARN[lesson.AUDITOR_ROLE])
    assert_fails(kms, "08-give-grant", "The grant's constraints are {}",
                 **grant_answers(key, kms.create_grant(**params)))


def test_grant_with_more_operations_fails(kms, roles):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    grant = give(kms, key, Operations=["Decrypt", "Encrypt"])
    assert_fails(kms, "08-give-grant", "only needs Operations=['Decrypt']",
                 **grant_answers(key, grant))


def test_grant_without_retiring_principal_fails(kms, roles):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    grant = kms.create_grant(KeyId=key, GranteePrincipal=ARN[lesson.AUDITOR_ROLE],
                             Operations=["Decrypt"],
                             Constraints={"EncryptionContextSubset": lesson.STORE_CONTEXT})
    assert_fails(kms, "08-give-grant", "make the auditor", **grant_answers(key, grant))


def test_grant_to_another_role_fails(kms, roles):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    grant = give(kms, key, GranteePrincipal=ARN[lesson.READER_ROLE])
    assert_fails(kms, "08-give-grant", "not the role docstore-auditor",
                 **grant_answers(key, grant))


def test_grant_answers_must_have_aws_shapes(kms, roles):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    grant = give(kms, key)
    answers = grant_answers(key, grant)
    assert_fails(kms, "08-give-grant", "64 hexadecimal digits",
                 **{**answers, "audit_grant_id": "grant-1"})
    assert_fails(kms, "08-give-grant", "store the GrantToken",
                 **{**answers, "audit_grant_token": None})
    assert_fails(kms, "08-give-grant", "KMS answered InvalidGrantTokenException",
                 **{**answers, "audit_grant_token": "not-a-token"})


def test_retire_fails_while_another_grant_still_lets_the_auditor_decrypt(kms, roles):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    first, second = give(kms, key), give(kms, key)
    client_as(ARN[lesson.AUDITOR_ROLE]).retire_grant(GrantToken=first["GrantToken"])
    assert_fails(kms, "08-retire-grant", "docstore-auditor could still decrypt",
                 **grant_answers(key, first))
    kms.revoke_grant(KeyId=key, GrantId=second["GrantId"])
    assert_passes(kms, "08-retire-grant", **grant_answers(key, first))


def test_retire_fails_when_the_owner_revoked_the_grant_instead(kms, roles):
    """Bug: a grant revoked by the key's owner passed 08-retire-grant, which asks the auditor to
    retire it (issue 11 item 5: the check proves the work from the trail)."""
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    grant = give(kms, key)
    kms.revoke_grant(KeyId=key, GrantId=grant["GrantId"])
    assert_fails(kms, "08-retire-grant", "docstore-auditor did not retire it",
                 **grant_answers(key, grant))
    other = give(kms, key)  # a retire by someone else's grant token is no retire of this one
    client_as(ARN[lesson.AUDITOR_ROLE]).retire_grant(GrantToken=other["GrantToken"])
    assert_fails(kms, "08-retire-grant", "docstore-auditor did not retire it",
                 **grant_answers(key, grant))


def test_every_exercise_of_the_lesson_is_registered_with_its_points():
    from kms_course.lessons.exercises import for_lesson

    assert {e.id: e.points for e in for_lesson(lesson.LESSON)} == {
        "08-key-administrator": 3, "08-application-role": 3, "08-reader-role": 3,
        "08-give-grant": 3, "08-retire-grant": 2,
    }
