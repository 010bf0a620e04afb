"""``kms-course fidelity``: how closely plain moto and the course sandbox behave like real KMS.

Each behaviour is one small probe (a function of a boto3 KMS client that returns a short outcome
string: a value, ``"ok"``, or the error code) beside the outcome AWS documents for real KMS and
the documentation page that says so. The real-KMS column is data written here from the AWS
documentation (the specification); the two other columns are computed live, every time:

* **moto alone**: the probe runs in the offline sandbox with the course rules switched off
  (``rules.ENABLED = False``), so moto 5.2.5 answers as it does without the course;
* **sandbox**: the same probe with the rules on, as the lessons see it.

Both run in this process on an emptied in-process moto sandbox (``sandbox.reset()`` before each
probe). The summary counts the behaviours each column gets right, over every behaviour and over
those that concern the operations the lessons use (creating and describing keys,
encrypt/decrypt, data keys, rotation, deletion and key state, aliases, and who may use a key:
principals, key policies and grants).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

import botocore.exceptions

from kms_course.sandbox import rules

KEY_STATE = rules.KEY_STATE_DOC
API = rules.api_doc


@dataclass(frozen=True)
class Behaviour:
    """One KMS behaviour: its name, lesson area, documented outcome and the probe measuring it.

    ``expected`` is the outcome string a probe returns on real KMS, as documented at ``doc``.
    ``lesson`` is true for behaviours of the operations the lessons use.
    """

    area: str
    name: str
    expected: str
    doc: str
    probe: Callable
    lesson: bool = True


@dataclass
class Result:
    """A behaviour's outcomes: ``moto`` (rules off) and ``sandbox`` (rules on), and matches."""

    area: str
    name: str
    expected: str
    doc: str
    lesson: bool
    moto: str
    sandbox: str

    @property
    def moto_matches(self) -> bool:
        return self.moto == self.expected

    @property
    def sandbox_matches(self) -> bool:
        return self.sandbox == self.expected


def outcome(call: Callable[[], object]) -> str:
    """Run ``call``: its return value as text (``"ok"`` for None), else the AWS error code, or
    ``"Python <Exception>"`` for an exception that is not a botocore ClientError."""
    try:
        value = call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"] or "ClientError"
    except Exception as error:  # moto's own crashes are part of what is measured
        return f"Python {type(error).__name__}"
    return "ok" if value is None else str(value)


# --- probe helpers ----------------------------------------------------------------------------


def _key(kms, **kwargs) -> dict:
    return kms.create_key(**kwargs)["KeyMetadata"]


def _blob(kms, key_id: str, **kwargs) -> bytes:
    return kms.encrypt(KeyId=key_id, Plaintext=b"hello", **kwargs)["CiphertextBlob"]


def _absent(meta: dict, member: str) -> str:
    return str(meta[member]) if member in meta else "(absent)"


def _arn_or_not(value: str, key: dict) -> str:
    return "key ARN" if value == key["Arn"] else "not the key ARN"


def _pending_deletion_key(kms) -> dict:
    """A new symmetric key, scheduled for deletion with the shortest waiting period (7 days)."""
    key = _key(kms)
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    return key


def _key_state(kms, key: dict) -> str:
    return kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"]


# --- probes: create and describe keys ---------------------------------------------------------


def default_key_usage(kms):
    return _absent(_key(kms), "KeyUsage")


def default_multi_region(kms):
    return _absent(_key(kms), "MultiRegion")


def symmetric_signing_algorithms(kms):
    return _absent(_key(kms), "SigningAlgorithms")


def hmac_mac_algorithms(kms):
    return _absent(_key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256"), "MacAlgorithms")


def hmac_encryption_algorithms(kms):
    meta = _key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    return _absent(meta, "EncryptionAlgorithms")


def key_agreement_algorithms(kms):
    meta = _key(kms, KeyUsage="KEY_AGREEMENT", KeySpec="ECC_NIST_P256")
    return _absent(meta, "KeyAgreementAlgorithms")


def generate_key_pair_usage(kms):
    _key(kms, KeyUsage="GENERATE_KEY_PAIR", KeySpec="RSA_2048")


def encrypt_usage_with_ecc(kms):
    _key(kms, KeyUsage="ENCRYPT_DECRYPT", KeySpec="ECC_NIST_P256")


def sign_usage_with_symmetric(kms):
    _key(kms, KeyUsage="SIGN_VERIFY", KeySpec="SYMMETRIC_DEFAULT")


def mac_usage_with_rsa(kms):
    _key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="RSA_2048")


def external_origin_state(kms):
    return _key(kms, Origin="EXTERNAL")["KeyState"]


def bogus_origin(kms):
    _key(kms, Origin="BOGUS_ORIGIN")


def cloudhsm_without_store(kms):
    _key(kms, Origin="AWS_CLOUDHSM")


def cloudhsm_missing_store(kms):
    _key(kms, Origin="AWS_CLOUDHSM", CustomKeyStoreId="cks-1234567890abcdef0")


def describe_by_alias_arn(kms):
    key = _key(kms)
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    alias_arn = key["Arn"].replace(f"key/{key['KeyId']}", "alias/app")
    return kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"] == key["KeyId"]


# --- probes: encrypt and decrypt ----------------------------------------------------------------


def round_trip(kms):
    return kms.decrypt(CiphertextBlob=_blob(kms, _key(kms)["KeyId"]))["Plaintext"].decode()


def encrypt_names_algorithm(kms):
    key = _key(kms)
    return _absent(kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"), "EncryptionAlgorithm")


def decrypt_wrong_key(kms):
    blob = _blob(kms, _key(kms)["KeyId"])
    kms.decrypt(CiphertextBlob=blob, KeyId=_key(kms)["KeyId"])


def decrypt_wrong_context(kms):
    blob = _blob(kms, _key(kms)["KeyId"], EncryptionContext={"purpose": "lesson1"})
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "lesson2"})


def decrypt_base64_text(kms):
    kms.decrypt(CiphertextBlob=base64.b64encode(_blob(kms, _key(kms)["KeyId"])))


def encrypt_4097_bytes(kms):
    kms.encrypt(KeyId=_key(kms)["KeyId"], Plaintext=b"a" * 4097)


def encrypt_with_signing_key(kms):
    key = _key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def encrypt_with_hmac_key(kms):
    key = _key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def rsa_encrypt_without_algorithm(kms):
    key = _key(kms, KeyUsage="ENCRYPT_DECRYPT", KeySpec="RSA_2048")
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def rsa_decrypt_local_ciphertext(kms):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = _key(kms, KeyUsage="ENCRYPT_DECRYPT", KeySpec="RSA_2048")
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    blob = public.encrypt(b"hello", oaep)
    out = kms.decrypt(CiphertextBlob=blob, KeyId=key["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    return out["Plaintext"].decode()


# --- probes: data keys ------------------------------------------------------------------------


def data_key_length(kms):
    return len(kms.generate_data_key(KeyId=_key(kms)["KeyId"], KeySpec="AES_256")["Plaintext"])


def data_key_both_spec_and_bytes(kms):
    kms.generate_data_key(KeyId=_key(kms)["KeyId"], KeySpec="AES_256", NumberOfBytes=32)


def data_key_with_signing_key(kms):
    key = _key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")


def data_key_pair(kms):
    out = kms.generate_data_key_pair(KeyId=_key(kms)["KeyId"], KeyPairSpec="ECC_NIST_P256")
    return "ok" if out["PublicKey"] and out["PrivateKeyCiphertextBlob"] else "incomplete"


def data_key_disabled(kms):
    key = _key(kms)
    kms.disable_key(KeyId=key["KeyId"])
    kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")


# --- probes: rotation -------------------------------------------------------------------------


def rotate_symmetric(kms):
    key = _key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"])
    return kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]


def rotate_rsa(kms):
    kms.enable_key_rotation(KeyId=_key(kms, KeyUsage="ENCRYPT_DECRYPT", KeySpec="RSA_2048")["KeyId"])


def rotate_hmac(kms):
    key = _key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    kms.enable_key_rotation(KeyId=key["KeyId"])


def rotation_period_2561(kms):
    kms.enable_key_rotation(KeyId=_key(kms)["KeyId"], RotationPeriodInDays=2561)


def rotation_period_reported(kms):
    key = _key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=180)
    return _absent(kms.get_key_rotation_status(KeyId=key["KeyId"]), "RotationPeriodInDays")


def on_demand_listed(kms):
    key = _key(kms)
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    rotation = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"][0]
    return f"{_arn_or_not(rotation['KeyId'], key)}, {rotation['RotationType']}"


def decrypt_after_rotation(kms):
    key = _key(kms)
    blob = _blob(kms, key["KeyId"])
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    return kms.decrypt(CiphertextBlob=blob)["Plaintext"].decode()


def on_demand_rsa(kms):
    kms.rotate_key_on_demand(KeyId=_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyId"])


# --- probes: deletion and key state -----------------------------------------------------------


def disabled_encrypt(kms):
    key = _key(kms)
    kms.disable_key(KeyId=key["KeyId"])
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def disabled_decrypt(kms):
    key = _key(kms)
    blob = _blob(kms, key["KeyId"])
    kms.disable_key(KeyId=key["KeyId"])
    kms.decrypt(CiphertextBlob=blob)


def pending_deletion_encrypt(kms):
    key = _pending_deletion_key(kms)
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def schedule_window_6(kms):
    kms.schedule_key_deletion(KeyId=_key(kms)["KeyId"], PendingWindowInDays=6)


def schedule_default_window(kms):
    return _absent(kms.schedule_key_deletion(KeyId=_key(kms)["KeyId"]), "PendingWindowInDays")


def schedule_response_key_id(kms):
    key = _key(kms)
    return _arn_or_not(kms.schedule_key_deletion(KeyId=key["KeyId"])["KeyId"], key)


def enable_pending_deletion(kms):
    key = _pending_deletion_key(kms)
    kms.enable_key(KeyId=key["KeyId"])


def cancel_not_pending(kms):
    kms.cancel_key_deletion(KeyId=_key(kms)["KeyId"])


def state_after_cancel(kms):
    key = _pending_deletion_key(kms)
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    return _key_state(kms, key)


def disable_by_arn(kms):
    key = _key(kms)
    kms.disable_key(KeyId=key["Arn"])
    return _key_state(kms, key)


def disable_by_alias(kms):
    key = _key(kms)
    kms.create_alias(AliasName="alias/st", TargetKeyId=key["KeyId"])
    kms.disable_key(KeyId="alias/st")


def pending_deletion_window_described(kms):
    key = _pending_deletion_key(kms)
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    return _absent(meta, "PendingDeletionWindowInDays")


# --- probes: aliases ----------------------------------------------------------------------------


def encrypt_by_alias(kms):
    key = _key(kms)
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    return _arn_or_not(kms.encrypt(KeyId="alias/app", Plaintext=b"x")["KeyId"], key)


def reserved_alias(kms):
    kms.create_alias(AliasName="alias/aws/mything", TargetKeyId=_key(kms)["KeyId"])
    return "accepted"


def duplicate_alias(kms):
    key = _key(kms)
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])


def aws_managed_key_manager(kms):
    return kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyManager"]


def aws_managed_alias_target(kms):
    key_id = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"]
    alias = next(a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/aws/s3")
    return alias.get("TargetKeyId") == key_id


def alias_creation_date(kms):
    kms.create_alias(AliasName="alias/app", TargetKeyId=_key(kms)["KeyId"])
    alias = next(a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/app")
    return "present" if "CreationDate" in alias else "(absent)"


# --- probes: beyond the lessons ---------------------------------------------------------------


def verify_bad_signature(kms):
    key = _key(kms, KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    sig = kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    kms.verify(
        KeyId=key["KeyId"],
        Message=b"tampered",
        Signature=sig["Signature"],
        SigningAlgorithm="ECDSA_SHA_256",
    )


def sign_with_encryption_key(kms):
    kms.sign(KeyId=_key(kms)["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")


def public_key_of_symmetric(kms):
    kms.get_public_key(KeyId=_key(kms)["KeyId"])


def policy_without_name(kms):
    policy = kms.get_key_policy(KeyId=_key(kms)["KeyId"])["Policy"]
    return "default policy" if "kms:*" in policy else policy


def policy_deny_encrypt(kms):
    key = _key(kms)
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            _ROOT_STATEMENT,
            {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*"},
        ],
    }
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(deny))
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


# --- probes: principals, key policies and grants ----------------------------------------------

_ACCOUNT = "123456789012"
_ROOT = f"arn:aws:iam::{_ACCOUNT}:root"
_ROOT_STATEMENT = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                   "Principal": {"AWS": _ROOT}, "Action": "kms:*", "Resource": "*"}


def _iam():
    from kms_course.sandbox import start as sandbox

    return sandbox.client("iam")


def _user(name: str, *actions: str) -> str:
    """A new IAM user (ARN) whose identity policy allows ``actions`` on every key."""
    arn = _iam().create_user(UserName=name)["User"]["Arn"]
    if actions:
        _iam().put_user_policy(UserName=name, PolicyName="kms", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }))
    return arn


def _role(name: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": _ROOT}, "Action": "sts:AssumeRole"}]}
    return _iam().create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _as(arn: str):
    from kms_course.sandbox.access import client_as

    return client_as(arn)


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [_ROOT_STATEMENT, *statements]})


def _reason(call) -> str:
    """How an AccessDeniedException ends: the words after the resource ARN."""
    try:
        call()
    except botocore.exceptions.ClientError as error:
        message = error.response["Error"].get("Message", "")
        if error.response["Error"]["Code"] != "AccessDeniedException":
            return error.response["Error"]["Code"]
        marker = message.find(":key/")
        return message[message.find(" ", marker) + 1:] if marker >= 0 else message or "(empty)"
    return "ok"


def user_without_permission_encrypts(kms):
    key = _key(kms)
    _as(_user("nobody")).encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def user_with_iam_permission_encrypts(kms):
    key = _key(kms)
    _as(_user("writer", "kms:Encrypt")).encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def denied_no_identity_policy(kms):
    key = _key(kms)
    return _reason(lambda: _as(_user("nobody")).encrypt(KeyId=key["KeyId"], Plaintext=b"x"))


def denied_no_resource_policy(kms):
    admin = _user("admin")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": admin}, "Action": "kms:*", "Resource": "*"}]})
    key = _key(kms, Policy=policy, BypassPolicyLockoutSafetyCheck=True)
    reader = _as(_user("reader", "kms:*"))
    return _reason(lambda: reader.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))


def denied_explicitly(kms):
    user = _user("writer", "kms:*")
    deny = {"Effect": "Deny", "Principal": {"AWS": user}, "Action": "kms:Encrypt", "Resource": "*"}
    key = _key(kms, Policy=_policy(deny))
    return _reason(lambda: _as(user).encrypt(KeyId=key["KeyId"], Plaintext=b"x"))


def denied_by_identity_policy(kms):
    user = _user("writer", "kms:*")
    _iam().put_user_policy(UserName="writer", PolicyName="no-encrypt", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]}))
    key = _key(kms)
    return _reason(lambda: _as(user).encrypt(KeyId=key["KeyId"], Plaintext=b"x"))


def _app_key(kms, condition: dict) -> tuple[dict, object]:
    role = _role("app")
    allow = {"Effect": "Allow", "Principal": {"AWS": role}, "Action": "kms:Encrypt",
             "Resource": "*", "Condition": condition}
    return _key(kms, Policy=_policy(allow)), _as(role)


def context_condition_wrong_value(kms):
    key, app = _app_key(kms, {"StringEquals": {"kms:EncryptionContext:app": "docs"}})
    app.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"app": "billing"})


def context_condition_right_value(kms):
    key, app = _app_key(kms, {"StringEquals": {"kms:EncryptionContext:app": "docs"}})
    app.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"app": "docs"})


def context_keys_for_all_values(kms):
    key, app = _app_key(kms, {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["app"]}})
    app.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"app": "a", "extra": "b"})


def principal_arn_condition_for_session(kms):
    role = _role("app")
    allow = {"Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
             "Condition": {"ArnEquals": {"aws:PrincipalArn": role}}}
    key = _key(kms, Policy=_policy(allow))
    return _as(role).encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]


def via_service_condition(kms):
    role = _role("app")
    allow = {"Effect": "Allow", "Principal": {"AWS": role}, "Action": "kms:Encrypt",
             "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}
    key = _key(kms, Policy=_policy(allow))
    _as(role).encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def policy_not_json(kms):
    kms.put_key_policy(KeyId=_key(kms)["KeyId"], PolicyName="default", Policy="{not json")


def policy_without_effect(kms):
    statement = {"Principal": {"AWS": _ROOT}, "Action": "kms:*", "Resource": "*"}
    kms.put_key_policy(KeyId=_key(kms)["KeyId"], PolicyName="default",
                       Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def policy_unknown_principal(kms):
    ghost = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{_ACCOUNT}:user/ghost"},
             "Action": "kms:Decrypt", "Resource": "*"}
    kms.put_key_policy(KeyId=_key(kms)["KeyId"], PolicyName="default", Policy=_policy(ghost))


def _locked_out_policy() -> str:
    other = _user("other")
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": other}, "Action": "kms:*", "Resource": "*"}]})


def policy_lockout(kms):
    kms.put_key_policy(KeyId=_key(kms)["KeyId"], PolicyName="default", Policy=_locked_out_policy())


def policy_lockout_bypassed(kms):
    kms.put_key_policy(KeyId=_key(kms)["KeyId"], PolicyName="default", Policy=_locked_out_policy(),
                       BypassPolicyLockoutSafetyCheck=True)


def list_key_policies(kms):
    return kms.list_key_policies(KeyId=_key(kms)["KeyId"])["PolicyNames"]


def default_policy_principal(kms):
    policy = json.loads(kms.get_key_policy(KeyId=_key(kms)["KeyId"], PolicyName="default")["Policy"])
    return policy["Statement"][0]["Principal"]["AWS"]


def get_key_policy_name(kms):
    return _absent(kms.get_key_policy(KeyId=_key(kms)["KeyId"], PolicyName="default"), "PolicyName")


def grant_sign_on_symmetric(kms):
    kms.create_grant(KeyId=_key(kms)["KeyId"], GranteePrincipal=_user("signer"),
                     Operations=["Sign"])


def grant_encrypt_on_hmac(kms):
    key = _key(kms, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=_user("mac"), Operations=["Encrypt"])


def grant_id_shape(kms):
    grant = kms.create_grant(KeyId=_key(kms)["KeyId"], GranteePrincipal=_user("reader"),
                             Operations=["Decrypt"])
    gid = grant["GrantId"]
    return "64 hex digits" if len(gid) == 64 and all(c in "0123456789abcdef" for c in gid) else gid


def _granted_reader(kms, **grant_args) -> tuple[dict, object, dict, bytes]:
    key = _key(kms)
    blob = _blob(kms, key["KeyId"], EncryptionContext={"doc": "42"})
    reader = _user("reader")
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=reader, Operations=["Decrypt"],
                             **grant_args)
    return key, _as(reader), grant, blob


def grant_token_decrypts_at_once(kms):
    _, reader, grant, blob = _granted_reader(kms)
    return reader.decrypt(CiphertextBlob=blob, EncryptionContext={"doc": "42"},
                          GrantTokens=[grant["GrantToken"]])["Plaintext"].decode()


def retired_grant_stops_decrypt(kms):
    _, reader, grant, blob = _granted_reader(kms)
    kms.retire_grant(GrantToken=grant["GrantToken"])
    reader.decrypt(CiphertextBlob=blob, EncryptionContext={"doc": "42"})


def grant_context_equals_not_met(kms):
    _, reader, _, blob = _granted_reader(
        kms, Constraints={"EncryptionContextEquals": {"doc": "7"}})
    reader.decrypt(CiphertextBlob=blob, EncryptionContext={"doc": "42"})


def list_grants_issuing_account(kms):
    key, _, _, _ = _granted_reader(kms)
    return _absent(kms.list_grants(KeyId=key["KeyId"])["Grants"][0], "IssuingAccount")


def list_retirable_grants(kms):
    key = _key(kms)
    retiring = _user("janitor")
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=_user("reader"),
                     Operations=["Decrypt"], RetiringPrincipal=retiring)
    return len(kms.list_retirable_grants(RetiringPrincipal=retiring)["Grants"])


def retire_bad_token(kms):
    kms.retire_grant(GrantToken="not-a-grant-token")


def revoke_malformed_grant_id(kms):
    kms.revoke_grant(KeyId=_key(kms)["KeyId"], GrantId="not-a-grant-id")


def revoke_unknown_grant_id(kms):
    kms.revoke_grant(KeyId=_key(kms)["KeyId"], GrantId="0" * 64)


def derive_shared_secret(kms):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = _key(kms, KeyUsage="KEY_AGREEMENT", KeySpec="ECC_NIST_P256")
    peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer)


def multi_region_round_trip(kms):
    key = _key(kms, MultiRegion=True)
    return kms.decrypt(CiphertextBlob=_blob(kms, key["KeyId"]))["Plaintext"].decode()


def reserved_tag_key(kms):
    key = _key(kms)
    kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])


# --- the specification: what real KMS does, with the page that documents it -------------------

_C = "create and describe keys"
_E = "encrypt and decrypt"
_D = "data keys"
_R = "rotation"
_S = "deletion and key state"
_A = "aliases"
_O = "beyond the lessons"
_W = "who may use a key"
_P = "key policies"
_G = "grants"
_DEV = "https://docs.aws.amazon.com/kms/latest/developerguide/"
_ACCESS = _DEV + "determining-access.html"
_KEY_POLICIES = _DEV + "key-policies.html"
_DEFAULT_POLICY = _DEV + "key-policy-default.html"
_CONDITIONS = _DEV + "conditions-kms.html"
_GRANTS = _DEV + "grants.html"
_DENIED = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_access-denied-error-messages.html"
_PUT_POLICY = API("PutKeyPolicy")
_CK = API("CreateKey")
_DK = API("DescribeKey")

BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(_C, "create_key() reports KeyUsage", "ENCRYPT_DECRYPT", _CK, default_key_usage),
    Behaviour(_C, "create_key() reports MultiRegion", "False", _CK, default_multi_region),
    Behaviour(_C, "symmetric key has no SigningAlgorithms", "(absent)", _DK,
              symmetric_signing_algorithms),
    Behaviour(_C, "HMAC key reports MacAlgorithms", "['HMAC_SHA_256']", _DK, hmac_mac_algorithms),
    Behaviour(_C, "HMAC key has no EncryptionAlgorithms", "(absent)", _DK,
              hmac_encryption_algorithms),
    Behaviour(_C, "KeyUsage GENERATE_KEY_PAIR is refused", "ValidationException", _CK,
              generate_key_pair_usage),
    Behaviour(_C, "ENCRYPT_DECRYPT with ECC_NIST_P256 is refused", "ValidationException", _CK,
              encrypt_usage_with_ecc),
    Behaviour(_C, "SIGN_VERIFY with SYMMETRIC_DEFAULT is refused", "ValidationException", _CK,
              sign_usage_with_symmetric),
    Behaviour(_C, "GENERATE_VERIFY_MAC with RSA_2048 is refused", "ValidationException", _CK,
              mac_usage_with_rsa),
    Behaviour(_C, "Origin EXTERNAL key starts PendingImport", "PendingImport",
              "https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-create-cmk.html",
              external_origin_state),
    Behaviour(_C, "unknown Origin is refused", "ValidationException", _CK, bogus_origin),
    Behaviour(_C, "AWS_CLOUDHSM key in a store that does not exist", "CustomKeyStoreNotFoundException",
              _CK, cloudhsm_missing_store),
    Behaviour(_C, "describe_key by alias ARN", "True", _DK, describe_by_alias_arn),
    Behaviour(_E, "encrypt then decrypt", "hello", API("Decrypt"), round_trip),
    Behaviour(_E, "encrypt response names EncryptionAlgorithm", "SYMMETRIC_DEFAULT",
              API("Encrypt"), encrypt_names_algorithm),
    Behaviour(_E, "decrypt naming another existing key", "IncorrectKeyException", API("Decrypt"),
              decrypt_wrong_key),
    Behaviour(_E, "decrypt with a different encryption context", "InvalidCiphertextException",
              API("Encrypt"), decrypt_wrong_context),
    Behaviour(_E, "decrypt base64 text of a ciphertext", "InvalidCiphertextException",
              API("Decrypt"), decrypt_base64_text),
    Behaviour(_E, "encrypt 4097 bytes", "ValidationException", API("Encrypt"), encrypt_4097_bytes),
    Behaviour(_E, "encrypt with a SIGN_VERIFY key", "InvalidKeyUsageException", API("Encrypt"),
              encrypt_with_signing_key),
    Behaviour(_E, "encrypt with an HMAC key", "InvalidKeyUsageException", API("Encrypt"),
              encrypt_with_hmac_key),
    Behaviour(_E, "RSA encrypt without EncryptionAlgorithm", "InvalidKeyUsageException",
              API("Encrypt"), rsa_encrypt_without_algorithm, lesson=False),
    Behaviour(_E, "decrypt RSA-OAEP made locally with the public key", "hello", API("Decrypt"),
              rsa_decrypt_local_ciphertext, lesson=False),
    Behaviour(_D, "AES_256 data key length (bytes)", "32", API("GenerateDataKey"), data_key_length),
    Behaviour(_D, "both KeySpec and NumberOfBytes", "ValidationException", API("GenerateDataKey"),
              data_key_both_spec_and_bytes),
    Behaviour(_D, "data key from a SIGN_VERIFY key", "InvalidKeyUsageException",
              API("GenerateDataKey"), data_key_with_signing_key),
    Behaviour(_D, "data key from a Disabled key", "DisabledException", KEY_STATE,
              data_key_disabled),
    Behaviour(_D, "generate_data_key_pair works", "ok", API("GenerateDataKeyPair"), data_key_pair),
    Behaviour(_R, "enable rotation of a symmetric key", "True", API("EnableKeyRotation"),
              rotate_symmetric),
    Behaviour(_R, "enable rotation of an RSA key", "UnsupportedOperationException",
              API("EnableKeyRotation"), rotate_rsa),
    Behaviour(_R, "enable rotation of an HMAC key", "UnsupportedOperationException",
              API("EnableKeyRotation"), rotate_hmac),
    Behaviour(_R, "RotationPeriodInDays 2561", "ValidationException", API("EnableKeyRotation"),
              rotation_period_2561),
    Behaviour(_R, "rotation status reports RotationPeriodInDays", "180",
              API("GetKeyRotationStatus"), rotation_period_reported),
    Behaviour(_R, "on-demand rotation in list_key_rotations", "key ARN, ON_DEMAND",
              API("ListKeyRotations"), on_demand_listed),
    Behaviour(_R, "old ciphertext decrypts after rotation", "hello", API("RotateKeyOnDemand"),
              decrypt_after_rotation),
    Behaviour(_R, "on-demand rotation of an RSA key", "UnsupportedOperationException",
              API("RotateKeyOnDemand"), on_demand_rsa),
    Behaviour(_S, "encrypt with a Disabled key", "DisabledException", KEY_STATE, disabled_encrypt),
    Behaviour(_S, "decrypt with a Disabled key", "DisabledException", KEY_STATE, disabled_decrypt),
    Behaviour(_S, "encrypt with a key pending deletion", "KMSInvalidStateException", KEY_STATE,
              pending_deletion_encrypt),
    Behaviour(_S, "PendingWindowInDays 6", "ValidationException", API("ScheduleKeyDeletion"),
              schedule_window_6),
    Behaviour(_S, "default deletion window (days)", "30", API("ScheduleKeyDeletion"),
              schedule_default_window),
    Behaviour(_S, "schedule_key_deletion answers KeyId as", "key ARN", API("ScheduleKeyDeletion"),
              schedule_response_key_id),
    Behaviour(_S, "describe_key shows PendingDeletionWindowInDays", "7", _DK,
              pending_deletion_window_described),
    Behaviour(_S, "enable_key on a key pending deletion", "KMSInvalidStateException", KEY_STATE,
              enable_pending_deletion),
    Behaviour(_S, "cancel_key_deletion when not pending", "KMSInvalidStateException", KEY_STATE,
              cancel_not_pending),
    Behaviour(_S, "key state after cancel_key_deletion", "Disabled", API("CancelKeyDeletion"),
              state_after_cancel),
    Behaviour(_S, "disable_key with a key ARN", "Disabled", API("DisableKey"), disable_by_arn),
    Behaviour(_S, "disable_key with an alias", "NotFoundException", API("DisableKey"),
              disable_by_alias),
    Behaviour(_A, "encrypt by alias answers KeyId as", "key ARN", API("Encrypt"), encrypt_by_alias),
    Behaviour(_A, "alias/aws/ prefix is refused", "InvalidAliasNameException",
              "https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html",
              reserved_alias),
    Behaviour(_A, "duplicate alias name", "AlreadyExistsException", API("CreateAlias"),
              duplicate_alias),
    Behaviour(_A, "AWS managed key (alias/aws/s3) KeyManager", "AWS", _DK,
              aws_managed_key_manager),
    Behaviour(_A, "list_aliases TargetKeyId matches describe_key", "True", API("ListAliases"),
              aws_managed_alias_target),
    Behaviour(_A, "list_aliases entries carry CreationDate", "present", API("ListAliases"),
              alias_creation_date),
    Behaviour(_O, "multi-Region key: encrypt then decrypt", "hello",
              "https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html",
              multi_region_round_trip, lesson=False),
    Behaviour(_O, "verify with a bad signature", "KMSInvalidSignatureException", API("Verify"),
              verify_bad_signature, lesson=False),
    Behaviour(_O, "sign with an encryption key", "InvalidKeyUsageException", API("Sign"),
              sign_with_encryption_key, lesson=False),
    Behaviour(_O, "get_public_key of a symmetric key", "UnsupportedOperationException",
              API("GetPublicKey"), public_key_of_symmetric, lesson=False),
    Behaviour(_O, "get_key_policy without PolicyName", "default policy", API("GetKeyPolicy"),
              policy_without_name, lesson=False),
    Behaviour(_P, "key policy denying kms:Encrypt to everyone", "AccessDeniedException",
              _KEY_POLICIES, policy_deny_encrypt),
    Behaviour(_W, "user with no permission encrypts", "AccessDeniedException", _ACCESS,
              user_without_permission_encrypts),
    Behaviour(_W, "user allowed by its IAM policy encrypts (default key policy)", "ok",
              _DEFAULT_POLICY, user_with_iam_permission_encrypts),
    Behaviour(_W, "denied: key policy delegates, no IAM policy allows",
              "because no identity-based policy allows the kms:Encrypt action", _DENIED,
              denied_no_identity_policy),
    Behaviour(_W, "denied: key policy does not name the caller",
              "because no resource-based policy allows the kms:Encrypt action", _DENIED,
              denied_no_resource_policy),
    Behaviour(_W, "denied: Deny statement in the key policy",
              "with an explicit deny in a resource-based policy", _DENIED, denied_explicitly),
    Behaviour(_W, "denied: Deny statement in an IAM policy",
              "with an explicit deny in an identity-based policy", _DENIED,
              denied_by_identity_policy),
    Behaviour(_W, "kms:EncryptionContext:app condition, wrong value", "AccessDeniedException",
              _CONDITIONS, context_condition_wrong_value),
    Behaviour(_W, "kms:EncryptionContext:app condition, right value", "ok", _CONDITIONS,
              context_condition_right_value),
    Behaviour(_W, "ForAllValues kms:EncryptionContextKeys with an extra key",
              "AccessDeniedException", _CONDITIONS, context_keys_for_all_values),
    Behaviour(_W, "aws:PrincipalArn of a role session is the role ARN", "True",
              "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html",
              principal_arn_condition_for_session),
    Behaviour(_W, "kms:ViaService condition, direct call", "AccessDeniedException",
              _CONDITIONS, via_service_condition),
    Behaviour(_P, "key policy that is not JSON", "MalformedPolicyDocumentException", _PUT_POLICY,
              policy_not_json),
    Behaviour(_P, "key policy statement without Effect", "MalformedPolicyDocumentException",
              _PUT_POLICY, policy_without_effect),
    Behaviour(_P, "key policy naming a user that does not exist",
              "MalformedPolicyDocumentException", _PUT_POLICY, policy_unknown_principal),
    Behaviour(_P, "key policy locking the caller out", "MalformedPolicyDocumentException",
              _PUT_POLICY, policy_lockout),
    Behaviour(_P, "lock-out check bypassed", "ok", _PUT_POLICY, policy_lockout_bypassed),
    Behaviour(_P, "list_key_policies", "['default']", API("ListKeyPolicies"), list_key_policies),
    Behaviour(_P, "default key policy names the account", _ROOT, _DEFAULT_POLICY,
              default_policy_principal),
    Behaviour(_P, "get_key_policy answers PolicyName", "default", API("GetKeyPolicy"),
              get_key_policy_name),
    Behaviour(_G, "grant for Sign on a symmetric key", "ValidationException", _GRANTS,
              grant_sign_on_symmetric),
    Behaviour(_G, "grant for Encrypt on an HMAC key", "ValidationException", _GRANTS,
              grant_encrypt_on_hmac),
    Behaviour(_G, "GrantId shape", "64 hex digits", API("CreateGrant"), grant_id_shape),
    Behaviour(_G, "grantee decrypts at once with the grant token", "hello",
              "https://docs.aws.amazon.com/kms/latest/developerguide/using-grant-token.html",
              grant_token_decrypts_at_once),
    Behaviour(_G, "retired grant no longer allows decrypt", "AccessDeniedException",
              "https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html",
              retired_grant_stops_decrypt),
    Behaviour(_G, "EncryptionContextEquals constraint not met", "AccessDeniedException",
              "https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html",
              grant_context_equals_not_met),
    Behaviour(_G, "list_grants entry carries IssuingAccount", _ROOT,
              "https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantListEntry.html",
              list_grants_issuing_account),
    Behaviour(_G, "list_retirable_grants finds the grant", "1", API("ListRetirableGrants"),
              list_retirable_grants),
    Behaviour(_G, "retire_grant with a bad token", "InvalidGrantTokenException",
              API("RetireGrant"), retire_bad_token),
    Behaviour(_G, "revoke_grant with a malformed GrantId", "InvalidGrantIdException",
              API("RevokeGrant"), revoke_malformed_grant_id),
    Behaviour(_G, "revoke_grant with an unknown GrantId", "NotFoundException",
              API("RevokeGrant"), revoke_unknown_grant_id),
    Behaviour(_O, "derive_shared_secret (ECDH) works", "ok", API("DeriveSharedSecret"),
              derive_shared_secret, lesson=False),
    Behaviour(_O, "tag key beginning with aws: is refused", "TagException", API("TagResource"),
              reserved_tag_key, lesson=False),
)


# --- probes: the sandbox clock, the audit trail, encryption context binding (issue 16) ----------


def _advance(days: float) -> None:
    from kms_course.sandbox import clock

    clock.advance(days=days)


def _trail(**filters) -> list:
    from kms_course.sandbox import trail

    return trail.trail(**filters)


def deleted_after_waiting_period(kms):
    key = _pending_deletion_key(kms)
    _advance(8)
    return _key_state(kms, key)


def alias_deleted_with_its_key(kms):
    key = _key(kms)
    kms.create_alias(AliasName="alias/fidelity-doomed", TargetKeyId=key["KeyId"])
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    _advance(8)
    return str(any(a["AliasName"] == "alias/fidelity-doomed"
                   for a in kms.list_aliases()["Aliases"]))


def deletion_date_on_the_clock(kms):
    from kms_course.sandbox import clock

    _advance(100)
    key = _key(kms)
    date = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)["DeletionDate"]
    return str(round((date - clock.now()).total_seconds() / 86400))


def automatic_rotation_listed(kms):
    key = _key(kms)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    _advance(91)
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    return ", ".join(r["RotationType"] for r in rotations) or "(none)"


def decrypt_after_automatic_rotation(kms):
    key = _key(kms)
    blob = _blob(kms, key["KeyId"])
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    _advance(200)
    return kms.decrypt(CiphertextBlob=blob)["Plaintext"].decode()


def trail_records_refused_call(kms):
    key = _key(kms)
    kms.disable_key(KeyId=key["KeyId"])
    with_errors = lambda: _blob(kms, key["KeyId"])  # noqa: E731
    outcome(with_errors)
    events = _trail(key_id=key["KeyId"], event_name="Encrypt")
    return ", ".join(e.get("errorCode", "(no error)") for e in events) or "(none)"


def trail_encryption_context(kms):
    key = _key(kms)
    _blob(kms, key["KeyId"], EncryptionContext={"dept": "eng"})
    events = _trail(key_id=key["KeyId"], event_name="Encrypt")
    return str(events[0]["requestParameters"].get("encryptionContext")) if events else "(none)"


def trail_root_identity(kms):
    _key(kms)
    events = _trail(event_name="CreateKey")
    return events[0]["userIdentity"]["type"] if events else "(none)"


def trail_deletion_service_event(kms):
    _pending_deletion_key(kms)
    _advance(8)
    events = _trail(event_name="DeleteKey")
    return events[0]["eventType"] if events else "(none)"


def context_pairs_spelled_together(kms):
    key = _key(kms)
    blob = _blob(kms, key["KeyId"], EncryptionContext={"ab": "c"})
    return kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "bc"})["Plaintext"].decode()


def context_pairs_split_differently(kms):
    key = _key(kms)
    blob = _blob(kms, key["KeyId"], EncryptionContext={"a": "b", "c": "d"})
    return kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "bcd"})["Plaintext"].decode()


_T = "time and audit"
_CT_DOC = _DEV + "logging-using-cloudtrail.html"
_SKD = API("ScheduleKeyDeletion")
_CONTEXT_DOC = _DEV + "encrypt_context.html"

TIME_AND_AUDIT: tuple[Behaviour, ...] = (
    Behaviour(_T, "key after its waiting period ends (clock advanced)", "NotFoundException", _SKD,
              deleted_after_waiting_period),
    Behaviour(_T, "alias of a deleted key is deleted too", "False", _SKD,
              alias_deleted_with_its_key),
    Behaviour(_T, "DeletionDate minus sandbox time (days, window 7)", "7", _SKD,
              deletion_date_on_the_clock),
    Behaviour(_T, "automatic rotation listed after NextRotationDate", "AUTOMATIC",
              API("ListKeyRotations"), automatic_rotation_listed),
    Behaviour(_T, "old ciphertext decrypts after automatic rotations", "hello",
              _DEV + "rotate-keys.html", decrypt_after_automatic_rotation),
    Behaviour(_T, "trail records a refused Encrypt with its errorCode", "DisabledException",
              _CT_DOC, trail_records_refused_call),
    Behaviour(_T, "trail records Encrypt's encryptionContext", "{'dept': 'eng'}",
              _DEV + "ct-encrypt.html", trail_encryption_context),
    Behaviour(_T, "trail userIdentity type of the account's root user", "Root",
              "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/"
              "cloudtrail-event-reference-user-identity.html", trail_root_identity),
    Behaviour(_T, "trail records the deletion as a service event", "AwsServiceEvent",
              _DEV + "ct-delete-key.html", trail_deletion_service_event),
    Behaviour(_E, "decrypt {'ab': 'c'} ciphertext with context {'a': 'bc'}",
              "InvalidCiphertextException", _CONTEXT_DOC, context_pairs_spelled_together),
    Behaviour(_E, "decrypt {'a': 'b', 'c': 'd'} ciphertext with context {'a': 'bcd'}",
              "InvalidCiphertextException", _CONTEXT_DOC, context_pairs_split_differently),
)
BEHAVIOURS = BEHAVIOURS + TIME_AND_AUDIT

# --- probes: signing, MACs and RSA encryption (lesson 09), in their own module -----------------

from kms_course.sandbox.fidelity_asymmetric import PROBES as _SIGNING_PROBES  # noqa: E402

SIGNING_AND_MACS: tuple[Behaviour, ...] = tuple(
    Behaviour(*probe, lesson=True) for probe in _SIGNING_PROBES
)
BEHAVIOURS = BEHAVIOURS + SIGNING_AND_MACS


# --- running ------------------------------------------------------------------------------------


def measure(behaviour: Behaviour, kms, with_rules: bool) -> str:
    """The probe's outcome on an emptied sandbox, with the course rules on or off."""
    from kms_course.sandbox import start as sandbox

    previous = rules.ENABLED
    rules.ENABLED = with_rules
    try:
        sandbox.reset()
        return outcome(lambda: behaviour.probe(kms))
    finally:
        rules.ENABLED = previous
        sandbox.reset()


def evaluate(behaviours: tuple[Behaviour, ...] = BEHAVIOURS) -> list[Result]:
    """Run every probe twice (moto alone, then the sandbox) and return one Result per behaviour.

    Starts the in-process ``moto`` sandbox if it is not running.

    Raises:
        SandboxError: this process already uses another backend (``moto-server`` or ``aws``).
    """
    from kms_course.sandbox import start as sandbox

    kms = sandbox.start_sandbox("moto", quiet=True)
    rules.install()
    results = []
    for b in behaviours:
        results.append(
            Result(
                area=b.area,
                name=b.name,
                expected=b.expected,
                doc=b.doc,
                lesson=b.lesson,
                moto=measure(b, kms, with_rules=False),
                sandbox=measure(b, kms, with_rules=True),
            )
        )
    return results


def score(results: list[Result], column: str, lesson_only: bool = False) -> tuple[int, int]:
    """(matches, total) of ``column`` (``"moto"`` or ``"sandbox"``) against real KMS."""
    chosen = [r for r in results if r.lesson or not lesson_only]
    return sum(getattr(r, f"{column}_matches") for r in chosen), len(chosen)


def summary(results: list[Result]) -> list[str]:
    """The summary lines: each column's matches over the lessons' behaviours and over all."""
    lines = []
    for column, label in (("sandbox", "sandbox"), ("moto", "moto alone")):
        for lesson_only, scope in ((True, "behaviours the lessons use"), (False, "probed behaviours")):
            hit, total = score(results, column, lesson_only)
            lines.append(
                f"{label} matches real KMS on {hit} of {total} {scope} ({100 * hit / total:.0f}%)"
            )
    return lines


def _short_doc(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")


def render(results: list[Result]) -> None:
    """Print the table and summary with rich."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="KMS behaviour: real KMS, moto alone, the course sandbox", show_lines=False)
    table.add_column("area", style="dim")
    table.add_column("behaviour")
    table.add_column("real KMS (doc)")
    table.add_column("moto alone")
    table.add_column("sandbox")

    def cell(value: str, ok: bool) -> str:
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        return f"{mark} {value}"

    for r in results:
        name = r.name if r.lesson else f"{r.name} [dim](not in lessons)[/dim]"
        table.add_row(
            r.area,
            name,
            f"{r.expected} [link={r.doc}]({_short_doc(r.doc)})[/link]",
            cell(r.moto, r.moto_matches),
            cell(r.sandbox, r.sandbox_matches),
        )
    # Piped or narrow output would truncate every cell: print at least 160 columns wide.
    console = Console(width=max(Console().width, 160))
    console.print(table)
    for line in summary(results):
        console.print(line)


def _percent(text: str) -> float:
    """argparse type: a number from 0 to 100."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"a percentage from 0 to 100, not {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``kms-course fidelity [--json] [--min PERCENT]``."""
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--min",
        type=_percent,
        default=None,
        metavar="PERCENT",
        help="exit 1 if the sandbox matches fewer of the lessons' behaviours than this",
    )


def run(args: argparse.Namespace) -> int:
    """Compute and print the table; 0, or 1 if ``--min`` is given and not reached."""
    results = evaluate()
    if getattr(args, "json", False):
        rows = [asdict(r) | {"moto_matches": r.moto_matches,
                             "sandbox_matches": r.sandbox_matches} for r in results]
        print(json.dumps({"results": rows, "summary": summary(results)}, indent=2))
    else:
        render(results)
    minimum = getattr(args, "min", None)
    hit, total = score(results, "sandbox", lesson_only=True)
    if minimum is not None and 100 * hit / total < minimum:
        print(f"kms-course fidelity: the sandbox matches {100 * hit / total:.0f}% of the behaviours "
              f"the lessons use, below --min {minimum:g}", file=sys.stderr)
        return 1
    return 0
