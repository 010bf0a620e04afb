"""Helpers for the access-control tests: an account with IAM users and roles, on both sandbox
backends (the in-process ``moto`` backend, and the course's moto server over HTTP)."""

from __future__ import annotations

import json

import boto3
import botocore.config
import botocore.exceptions
import pytest

from kms_course.sandbox import start as sandbox
from kms_course.sandbox.access import client_as

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ROOT_STATEMENT = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                  "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
ONE_TRY = botocore.config.Config(retries={"max_attempts": 1})


class Account:
    """The account's administrator clients, and clients acting as its users and roles."""

    def __init__(self, endpoint_url: str | None):
        self.endpoint_url = endpoint_url
        self.kms = self.client("kms")
        self.iam = self.client("iam")
        self.sts = self.client("sts")

    def client(self, service: str, **creds):
        if self.endpoint_url is None and not creds:
            return sandbox.client(service)
        creds = creds or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name="us-east-1",
                            config=ONE_TRY, **creds)

    def user(self, name: str, *actions: str, resource: str = "*") -> str:
        """A new IAM user whose inline policy allows ``actions`` (none: no IAM permission)."""
        arn = self.iam.create_user(UserName=name)["User"]["Arn"]
        if actions:
            self.iam.put_user_policy(UserName=name, PolicyName="kms", PolicyDocument=json.dumps(
                {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}))
        return arn

    def role(self, name: str, *actions: str) -> str:
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}]}
        arn = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        if actions:
            self.iam.put_role_policy(RoleName=name, PolicyName="kms", PolicyDocument=json.dumps(
                {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}))
        return arn["Role"]["Arn"]

    def as_(self, arn: str, session_name: str = "tests"):
        """A KMS client acting as ``arn`` (a user or role ARN)."""
        if self.endpoint_url is None:
            return client_as(arn, session_name=session_name)
        if ":user/" in arn:
            key = self.iam.create_access_key(UserName=arn.rsplit("/", 1)[1])["AccessKey"]
            return self.client("kms", aws_access_key_id=key["AccessKeyId"],
                               aws_secret_access_key=key["SecretAccessKey"])
        c = self.sts.assume_role(RoleArn=arn, RoleSessionName=session_name)["Credentials"]
        return self.client("kms", aws_access_key_id=c["AccessKeyId"],
                           aws_secret_access_key=c["SecretAccessKey"],
                           aws_session_token=c["SessionToken"])

    def key(self, *statements: dict, **kwargs) -> dict:
        """A new symmetric key; with ``statements``, a key policy of the root statement plus
        them."""
        if statements:
            kwargs["Policy"] = policy(ROOT_STATEMENT, *statements)
        return self.kms.create_key(**kwargs)["KeyMetadata"]


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def error(call) -> tuple[str, str]:
    """(error code, message) of a call that must fail."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"].get("Message", "")


def denied(call) -> str:
    """The message of an AccessDeniedException."""
    code, message = error(call)
    assert code == "AccessDeniedException", (code, message)
    return message


@pytest.fixture(scope="session")
def access_server_url():
    """The moto sandbox of this process, plus a course server thread sharing its state."""
    from kms_course.sandbox.server import ThreadedServer

    sandbox.start_sandbox("moto", quiet=True)
    with ThreadedServer() as url:
        yield url


@pytest.fixture(params=["moto", "moto-server"])
def account(request, access_server_url) -> Account:
    """An emptied sandbox account, on each sandbox backend."""
    sandbox.reset()
    return Account(None if request.param == "moto" else access_server_url)
