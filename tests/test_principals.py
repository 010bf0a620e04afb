"""Principals: the caller of a sandbox request is found from its access key, as on AWS.

AWS identifies the caller from the access key ID of the SigV4 signature
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-signing-elements.html): a key
from IAM CreateAccessKey is an IAM user, one from STS AssumeRole a role session
``arn:aws:sts::<account>:assumed-role/<role>/<session>``
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns).
The setup cell's credentials are the account's root user, who may use a key whose policy names
the account (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
"""

from __future__ import annotations

import pytest

from _access import ACCOUNT, ROOT, access_server_url, account, denied  # noqa: F401
from kms_course.sandbox import start as sandbox
from kms_course.sandbox.access import PrincipalError, client_as, principals


def test_default_credentials_are_the_account_root_with_full_use_of_a_default_key(account):
    key = account.key()
    blob = account.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hi")["CiphertextBlob"]
    assert account.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hi"


def test_an_iam_user_is_named_in_the_denial(account):
    """determining-access.html: a user whose IAM policies allow nothing is denied; the message
    names the user's ARN (reference_policies_access-denied-error-messages.html)."""
    key = account.key()
    alice = account.user("alice")
    message = denied(lambda: account.as_(alice).encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    assert message.startswith(f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized")


def test_a_role_session_is_named_by_its_assumed_role_arn(account):
    key = account.key()
    role = account.role("app")
    app = account.as_(role, session_name="worker-1")
    message = denied(lambda: app.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    assert message.startswith(f"User: arn:aws:sts::{ACCOUNT}:assumed-role/app/worker-1 ")


def test_a_user_acts_with_its_iam_policy(account):
    """key-policy-default.html: the default key policy lets IAM policies allow access."""
    key = account.key()
    alice = account.as_(account.user("alice", "kms:Encrypt"))
    assert alice.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]


def test_a_role_session_acts_with_the_role_policy(account):
    key = account.key()
    app = account.as_(account.role("app", "kms:GenerateDataKey"))
    out = app.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert len(out["Plaintext"]) == 32


def test_group_policies_apply_to_their_members(account):
    """IAM: a user gets the permissions of its groups (access_policies.html)."""
    import json

    key = account.key()
    alice = account.user("alice")
    account.iam.create_group(GroupName="writers")
    account.iam.add_user_to_group(GroupName="writers", UserName="alice")
    account.iam.put_group_policy(GroupName="writers", PolicyName="kms", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}))
    assert account.as_(alice).encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]


def test_client_as_root_and_account_id_use_the_setup_credentials(kms):
    key = kms.create_key()["KeyMetadata"]
    for who in (ROOT, ACCOUNT):
        assert client_as(who).describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]


def test_client_as_reuses_credentials_until_the_sandbox_is_reset(kms):
    iam = sandbox.client("iam")
    arn = iam.create_user(UserName="alice")["User"]["Arn"]
    client_as(arn)
    client_as(arn)
    assert len(iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]) == 1
    sandbox.reset()
    arn = iam.create_user(UserName="alice")["User"]["Arn"]
    alice = client_as(arn, "sts")
    assert alice.get_caller_identity()["Arn"] == arn


def test_client_as_refuses_what_is_not_a_principal(kms):
    with pytest.raises(PrincipalError):
        client_as("alice")


def test_client_as_a_missing_role_is_no_such_entity(kms):
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as info:
        client_as(f"arn:aws:iam::{ACCOUNT}:role/ghost")
    assert info.value.response["Error"]["Code"] == "NoSuchEntity"


def test_principal_arn_forms():
    """IAM ARN forms (reference_identifiers.html)."""
    assert principals.is_principal_arn(f"arn:aws:iam::{ACCOUNT}:user/division/alice")
    assert principals.is_principal_arn(f"arn:aws:iam::{ACCOUNT}:role/app")
    assert principals.is_principal_arn(f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1")
    assert principals.is_principal_arn(ROOT) and principals.is_principal_arn(ACCOUNT)
    assert not principals.is_principal_arn("arn:aws:iam::12345:user/alice")
    assert not principals.is_principal_arn("alice")


def test_principal_arn_of_a_session_is_its_role():
    """aws:PrincipalArn is the role's ARN for a role session
    (reference_policies_condition-keys.html#condition-keys-principalarn)."""
    session = principals.Principal(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1",
                                   kind="session", account=ACCOUNT, name="app",
                                   role_arn=f"arn:aws:iam::{ACCOUNT}:role/app")
    assert session.principal_arn == f"arn:aws:iam::{ACCOUNT}:role/app"
    assert principals.root(ACCOUNT).principal_arn == ROOT
