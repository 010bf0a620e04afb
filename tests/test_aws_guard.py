"""The aws backend changes only keys the course created (issue 15 item 7,
kms_course.sandbox.aws_guard).

The aws backend's code path runs offline against moto's ``mock_aws`` in a fresh interpreter (as
in tests/test_sandbox.py), so nothing leaves the machine: a key made before the course started
(without the tag ``kms-course=created-by-course``, https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html)
stands for a student's own production key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

from kms_course.sandbox import aws_guard
from tests.conftest import clean_env, run_python

SCRIPT = """
import json
from moto import mock_aws

with mock_aws():
    import boto3
    outside = boto3.client("kms", region_name="us-west-2")
    theirs = outside.create_key(Description="production")["KeyMetadata"]["KeyId"]
    outside.create_alias(AliasName="alias/production", TargetKeyId=theirs)
    policy = outside.get_key_policy(KeyId=theirs, PolicyName="default")["Policy"]

    from kms_course import start_sandbox
    from kms_course.sandbox import aws_guard
    from kms_course.sandbox.access import client_as
    from kms_course.envelope.docstore import DocumentStore
    kms = start_sandbox("aws", quiet=True)
    account = boto3.client("sts").get_caller_identity()["Account"]
    root = f"arn:aws:iam::{account}:root"
    iam = boto3.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": root}, "Action": "sts:AssumeRole"}]})
    reader = iam.create_role(RoleName="guard-reader", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    as_reader = client_as(reader)
    refused = {}

    def attempt(name, call):
        try:
            call()
        except aws_guard.NotACourseKey as error:
            refused[name] = str(error)
        else:
            refused[name] = None

    calls = {
        "PutKeyPolicy": lambda c, k: c.put_key_policy(KeyId=k, PolicyName="default", Policy=policy),
        "CreateGrant": lambda c, k: c.create_grant(KeyId=k, GranteePrincipal=root,
                                                   Operations=["Decrypt"]),
        "TagResource": lambda c, k: c.tag_resource(
            KeyId=k, Tags=[{"TagKey": "kms-course", "TagValue": "created-by-course"}]),
        "DisableKey": lambda c, k: c.disable_key(KeyId=k),
        "ScheduleKeyDeletion": lambda c, k: c.schedule_key_deletion(KeyId=k, PendingWindowInDays=7),
        "RevokeGrant": lambda c, k: c.revoke_grant(KeyId=k, GrantId="0" * 64),
    }
    for name, call in calls.items():
        attempt(name, lambda: call(kms, theirs))
        attempt(name + " by alias", lambda: call(kms, "alias/production"))
        attempt(name + " as a role", lambda: call(as_reader, theirs))

    import boto3 as b
    s3 = b.client("s3")
    s3.create_bucket(Bucket="guard-docs",
                     CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    mine = kms.create_key()["KeyMetadata"]["KeyId"]
    store = DocumentStore(kms, s3, "guard-docs", "alias/production")
    store.put("doc", "alice", b"x")
    attempt("DocumentStore.share", lambda: store.share("doc", reader))

    untouched = {
        "policy": outside.get_key_policy(KeyId=theirs, PolicyName="default")["Policy"] == policy,
        "grants": outside.list_grants(KeyId=theirs)["Grants"],
        "state": outside.describe_key(KeyId=theirs)["KeyMetadata"]["KeyState"],
        "tags": outside.list_resource_tags(KeyId=theirs)["Tags"],
    }
    allowed = []
    for name in ("PutKeyPolicy", "CreateGrant", "TagResource", "DisableKey"):
        calls[name](kms, mine)
        allowed.append(name)
    grant = kms.create_grant(KeyId=mine, GranteePrincipal=reader, Operations=["Decrypt"])
    as_reader.retire_grant(GrantToken=grant["GrantToken"])  # by token: no key named, let through
    print(json.dumps({"refused": refused, "untouched": untouched, "allowed": allowed,
                      "mine_state": kms.describe_key(KeyId=mine)["KeyMetadata"]["KeyState"]}))
"""


def test_aws_backend_refuses_to_change_keys_it_did_not_create(tmp_path):
    env = clean_env(HOME=str(tmp_path), AWS_ACCESS_KEY_ID="testing",
                    AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-west-2")
    result = run_python(SCRIPT, env=env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for name, message in out["refused"].items():
        assert message is not None, f"{name} was sent to a key the course did not create"
        assert "\n" not in message, message
        assert "the course changes only keys it created" in message, message
        assert "lacks it" in message or "could not read" in message, message
    assert out["refused"]["DocumentStore.share"].startswith("Refused CreateGrant on arn:aws:kms:")
    assert out["untouched"] == {"policy": True, "grants": [], "state": "Enabled", "tags": []}
    assert out["allowed"] == ["PutKeyPolicy", "CreateGrant", "TagResource", "DisableKey"]
    assert out["mine_state"] == "Disabled"


def test_the_sandbox_backends_have_no_guard(kms, capsys):
    """No extra DescribeKey/ListResourceTags in the sandbox (the trail shows exactly the calls)."""
    from kms_course.sandbox.trail import trail

    key = kms.create_key()["KeyMetadata"]["KeyId"]
    policy = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy)
    names = [e["eventName"] for e in trail(key_id=key)]
    assert names == ["CreateKey", "GetKeyPolicy", "PutKeyPolicy"]
    aws_guard.note("this cell changes a key policy")
    assert capsys.readouterr().out == ""


def test_the_note_is_one_line_on_aws(monkeypatch, capsys):
    from kms_course.sandbox import start as sandbox

    monkeypatch.setattr(sandbox, "active_backend", lambda: "aws")
    aws_guard.note("this cell gives grants on the practice key")
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith("On real AWS: this cell gives grants on the practice key")


NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
#: Calls in a lesson cell that change a key policy or grants (or, through the practice setup and
#: DocumentStore, create roles and grants).
CHANGES = re.compile(r"\.(put_key_policy|create_grant|revoke_grant|retire_grant|share|revoke)\(|"
                     r"\bprepare_practice\(|Policy=")


def lesson_code_cells(stem: str) -> list[str]:
    """The sources of a lesson's own code cells (locked: not the student's answer cells)."""
    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", 4)
    return [c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("locked")]


def test_capstone_cells_that_change_policies_or_grants_print_the_aws_note():
    changing = [s for s in lesson_code_cells("10_capstone_document_store") if CHANGES.search(s)]
    assert len(changing) >= 3  # the share demo, the revoke demo, the practice setup
    for source in changing:
        assert "aws_guard.note(" in source, source.splitlines()[0]


def test_lesson_08_warns_on_aws_before_its_first_policy_change():
    cells = lesson_code_cells("08_key_policies_and_grants")
    first_change = next(i for i, s in enumerate(cells) if CHANGES.search(s))
    warning = next(i for i, s in enumerate(cells)
                   if "active_backend() == 'aws'" in s or "aws_guard.note(" in s)
    assert warning < first_change
    assert "key policies and grants" in cells[warning]
