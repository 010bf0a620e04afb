"""The audit trail (kms_course.sandbox.trail): every KMS call, allowed or refused, as a CloudTrail
event, on both sandbox backends, never holding plaintext.

Field names and values come from the CloudTrail record contents page
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html),
the userIdentity page (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html)
and the KMS log entry examples: Encrypt (https://docs.aws.amazon.com/kms/latest/developerguide/ct-encrypt.html),
Decrypt (https://docs.aws.amazon.com/kms/latest/developerguide/ct-decrypt.html),
DeleteKey (https://docs.aws.amazon.com/kms/latest/developerguide/ct-delete-key.html),
RotateKey (https://docs.aws.amazon.com/kms/latest/developerguide/ct-rotatekey.html).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from kms_course.sandbox import start as sandbox, trail
from tests._access import Account
from tests._time import box, code, time_server_url  # noqa: F401  (fixtures)

FIELDS = {"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
          "sourceIPAddress", "userAgent", "requestParameters", "responseElements", "requestID",
          "eventID", "readOnly", "resources", "eventType", "managementEvent",
          "recipientAccountId", "eventCategory"}


def test_every_call_is_recorded_allowed_or_refused(box):
    kms = box.kms
    key = kms.create_key(Description="audited")["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"top secret",
                       EncryptionContext={"dept": "eng"})["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"dept": "eng"})
    assert code(lambda: kms.decrypt(CiphertextBlob=blob)) == "InvalidCiphertextException"
    kms.disable_key(KeyId=key["KeyId"])
    assert code(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")) == "DisabledException"

    events = box.trail(key_id=key["KeyId"])
    assert [(e["eventName"], e.get("errorCode")) for e in events] == [
        ("CreateKey", None), ("Encrypt", None), ("Decrypt", None),
        ("Decrypt", "InvalidCiphertextException"), ("DisableKey", None),
        ("Encrypt", "DisabledException"),
    ]
    for event in events:
        assert FIELDS <= set(event), FIELDS - set(event)
        assert event["eventSource"] == "kms.amazonaws.com"
        assert event["eventType"] == "AwsApiCall"
        assert event["awsRegion"] == "us-east-1"
        assert event["resources"] == [{"accountId": "123456789012", "type": "AWS::KMS::Key",
                                       "ARN": key["Arn"]}]
    refused = events[-1]
    assert refused["errorMessage"] == f"{key['Arn']} is disabled."
    assert refused["responseElements"] is None


def test_request_parameters_use_cloudtrail_names_and_keep_the_encryption_context(box):
    """ct-encrypt / ct-decrypt: requestParameters keyId, encryptionContext (pairs as given),
    encryptionAlgorithm (Decrypt always has it); responseElements null for Encrypt/Decrypt."""
    kms = box.kms
    key = kms.create_key()["KeyMetadata"]
    context = {"Department": "Engineering", "project": "Alpha"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p", EncryptionContext=context)["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    encrypt, decrypt = box.trail(key_id=key["KeyId"])[1:3]
    assert encrypt["requestParameters"] == {"keyId": key["KeyId"], "encryptionContext": context}
    assert encrypt["readOnly"] is True and encrypt["responseElements"] is None
    assert decrypt["requestParameters"] == {"encryptionContext": context,
                                            "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    assert decrypt["resources"][0]["ARN"] == key["Arn"]  # found from the ciphertext


def test_write_operations_have_response_elements(box):
    """ct-enablekeyrotation: requestParameters keyId, rotationPeriodInDays; CreateKey's
    responseElements carry keyMetadata (lower camel case, as CloudTrail writes it)."""
    kms = box.kms
    key = kms.create_key(Description="d")["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=180)
    create, rotation = box.trail(key_id=key["KeyId"])[:2]
    assert create["readOnly"] is False
    assert create["responseElements"]["keyMetadata"]["keyId"] == key["KeyId"]
    assert create["responseElements"]["keyMetadata"]["aWSAccountId"] == "123456789012"
    assert rotation["requestParameters"] == {"keyId": key["KeyId"], "rotationPeriodInDays": 180}


def test_no_plaintext_or_plaintext_data_key_is_ever_recorded(box):
    """ct-decrypt: the ciphertext in the request and the plaintext in the response are omitted."""
    kms = box.kms
    key = kms.create_key()["KeyMetadata"]
    secret = b"the plaintext nobody may log"
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=secret)["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    data_key = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    pair = kms.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec="ECC_NIST_P256")
    kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key["KeyId"])
    text = json.dumps(box.trail())
    forbidden = [secret, data_key["Plaintext"], data_key["CiphertextBlob"], blob,
                 pair["PrivateKeyPlaintext"]]
    for value in forbidden:
        assert base64.b64encode(value).decode() not in text
        assert value.hex() not in text
    assert secret.decode() not in text
    assert "plaintext" not in text.lower().replace("generatedatakeywithoutplaintext", "")


def test_event_time_is_on_the_sandbox_clock(box):
    box.advance(days=30)
    box.kms.create_key()
    (event,) = box.trail(event_name="CreateKey")
    recorded = datetime.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(recorded - (datetime.now(timezone.utc) + timedelta(days=30))) < timedelta(minutes=2)


def test_deletion_and_automatic_rotation_are_service_events(box):
    """ct-delete-key and ct-rotatekey: AwsServiceEvent, userIdentity invokedBy AWS Internal, the
    key ARN in resources (and in responseElements.keyId for DeleteKey), serviceEventDetails with
    rotationType AUTOMATIC."""
    kms = box.kms
    rotating = kms.create_key()["KeyMetadata"]
    kms.enable_key_rotation(KeyId=rotating["KeyId"], RotationPeriodInDays=90)
    doomed = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=doomed["KeyId"], PendingWindowInDays=7)
    box.advance(days=91)
    (deleted,) = box.trail(event_name="DeleteKey")
    (rotated,) = box.trail(event_name="RotateKey")
    for event, key in ((deleted, doomed), (rotated, rotating)):
        assert event["eventType"] == "AwsServiceEvent"
        assert event["userIdentity"] == {"accountId": "123456789012", "invokedBy": "AWS Internal"}
        assert event["resources"][0]["ARN"] == key["Arn"]
        assert event["requestParameters"] is None
    assert deleted["responseElements"] == {"keyId": doomed["Arn"]}
    assert rotated["serviceEventDetails"] == {"rotationType": "AUTOMATIC", "keyOrigin": "AWS_KMS"}
    # Deleted when its waiting period ended, not when someone looked.
    schedule = box.trail(key_id=doomed["KeyId"], event_name="ScheduleKeyDeletion")[0]
    day = timedelta(days=1)
    gap = (datetime.strptime(deleted["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
           - datetime.strptime(schedule["eventTime"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(gap - 7 * day) < timedelta(seconds=5)


def test_filters(box):
    kms = box.kms
    one = kms.create_key()["KeyMetadata"]
    two = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/two", TargetKeyId=two["KeyId"])
    kms.encrypt(KeyId="alias/two", Plaintext=b"x")
    kms.encrypt(KeyId=one["KeyId"], Plaintext=b"x")
    assert len(box.trail(event_name="Encrypt")) == 2
    assert [e["eventName"] for e in box.trail(key_id="alias/two")] == ["CreateKey", "CreateAlias",
                                                                        "Encrypt"]
    assert [e["eventName"] for e in box.trail(key_id=one["Arn"])] == ["CreateKey", "Encrypt"]
    assert box.trail(error_code="DisabledException") == []


def test_user_identity_names_the_principal_allowed_or_denied(box):
    """userIdentity: IAMUser with userName and its IAM unique ID (principalId); an AccessDeniedException is
    recorded with its errorCode and message."""
    account = Account(box.endpoint_url)
    allowed = account.user("alice", "kms:Encrypt")
    denied = account.user("bob")
    key = account.key()
    account.as_(allowed).encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert code(lambda: account.as_(denied).encrypt(KeyId=key["KeyId"], Plaintext=b"x")) == \
        "AccessDeniedException"
    ok = box.trail(principal=allowed)
    refused = box.trail(principal=denied)
    assert [e["eventName"] for e in ok] == ["Encrypt"] and ok[0].get("errorCode") is None
    identity = ok[0]["userIdentity"]
    assert identity["type"] == "IAMUser" and identity["userName"] == "alice"
    assert identity["arn"] == allowed and identity["accountId"] == "123456789012"
    assert identity["principalId"] == account.iam.get_user(UserName="alice")["User"]["UserId"]
    assert refused[0]["errorCode"] == "AccessDeniedException"
    assert refused[0]["errorMessage"].startswith(f"User: {denied} is not authorized")
    root = box.trail(event_name="CreateKey")[0]["userIdentity"]
    assert root["type"] == "Root" and root["arn"] == "arn:aws:iam::123456789012:root"


def test_assumed_role_identity_has_its_session_issuer(box):
    account = Account(box.endpoint_url)
    role = account.role("reader", "kms:DescribeKey")
    key = account.key()
    account.as_(role, session_name="audit").describe_key(KeyId=key["KeyId"])
    (event,) = box.trail(event_name="DescribeKey")
    identity = event["userIdentity"]
    assert identity["type"] == "AssumedRole"
    assert identity["arn"] == "arn:aws:sts::123456789012:assumed-role/reader/audit"
    assert identity["principalId"].endswith(":audit")
    assert identity["sessionContext"]["sessionIssuer"] == {
        "type": "Role", "principalId": identity["principalId"].split(":")[0], "arn": role,
        "accountId": "123456789012", "userName": "reader"}


def test_trail_keeps_at_most_max_events(box, monkeypatch):
    monkeypatch.setattr(trail, "MAX_EVENTS", 5)
    for _ in range(8):
        box.kms.list_keys()
    assert len(box.trail()) == 5


def test_table_has_a_stable_text_form(box):
    kms = box.kms
    key = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=key["KeyId"])
    code(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))
    table = trail.TrailTable(box.trail(key_id=key["KeyId"]))
    assert table.text() == "Trail: 3 events (CreateKey x1, DisableKey x1, Encrypt x1); 1 refused"
    assert "DisabledException" in table.widget.value and key["KeyId"] in table.widget.value
    assert key["KeyId"] not in repr(table)


def test_aws_backend_points_to_cloudtrail(monkeypatch, kms_session):
    monkeypatch.setattr(sandbox, "active_backend", lambda: "aws")
    with pytest.raises(sandbox.SandboxError, match="CloudTrail"):
        trail.trail()
    assert "lookup-events" in trail.show_trail().text()


def test_reset_empties_the_trail(box):
    box.kms.list_keys()
    sandbox.reset()
    assert box.trail() == []
