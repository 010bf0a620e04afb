"""The sandbox: start, idempotence, reset, the guard, and each backend.

Tests that need a process of their own (the sandbox is process-wide) run in a fresh interpreter.
"""

from __future__ import annotations

import json

import boto3
import pytest

from kms_course.sandbox import start as sandbox
from tests.conftest import clean_env, run_python


def test_start_returns_kms_client_in_default_region(kms, capsys):
    client = sandbox.start_sandbox()
    assert client.meta.service_model.service_name == "kms"
    assert client.meta.region_name == "us-east-1"
    line = capsys.readouterr().out.strip()
    assert line == (
        "KMS sandbox ready: backend=moto (moto in this kernel, offline), region=us-east-1"
    )


def test_plain_boto3_client_works_after_start(kms):
    # The source lesson's own call: no region, no credentials given.
    plain = boto3.client("kms")
    key_id = plain.create_key(Description="plain client")["KeyMetadata"]["KeyId"]
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "plain client"


def test_start_again_keeps_keys(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    again = sandbox.start_sandbox(quiet=True)
    assert [k["KeyId"] for k in again.list_keys()["Keys"]] == [key_id]


def test_reset_empties_sandbox_and_clients_stay_usable(kms):
    kms.create_key()
    kms.create_key()
    sandbox.reset()
    assert kms.list_keys()["Keys"] == []
    assert kms.create_key()["KeyMetadata"]["KeyState"] == "Enabled"


def test_unknown_backend_is_a_clear_error(kms):
    with pytest.raises(sandbox.SandboxError, match="choose one of moto, moto-server, aws"):
        sandbox.start_sandbox("localstack")


def test_switching_backend_in_one_kernel_says_restart(kms):
    with pytest.raises(sandbox.SandboxError, match="Restart the kernel"):
        sandbox.start_sandbox("aws")


def test_client_aimed_elsewhere_is_blocked_not_sent(kms):
    stray = boto3.client("kms", endpoint_url="https://kms.example.com")
    with pytest.raises(sandbox.SandboxError, match="never contacts AWS"):
        stray.list_keys()


def test_call_before_setup_cell_says_run_it():
    result = run_python(
        """
        import boto3, kms_course
        try:
            boto3.client("kms", region_name="us-east-1").list_keys()
        except kms_course.SandboxError as e:
            print("SandboxError:", e)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "was called before the sandbox started" in result.stdout
    assert "Run the lesson's first code cell" in result.stdout


def test_client_without_region_before_setup_cell_says_run_it(tmp_path):
    # The source lesson's own call, boto3.client('kms') with no Region anywhere, made before the
    # setup cell: SandboxError, never a bare NoRegionError (C07).
    result = run_python(
        """
        import boto3, kms_course
        try:
            boto3.client("kms").list_keys()
        except kms_course.SandboxError as e:
            print("SandboxError:", e)
        """,
        env=clean_env(HOME=str(tmp_path)),
    )
    assert result.returncode == 0, result.stderr
    assert "boto3.client('kms') was called before the sandbox started" in result.stdout


def test_client_created_before_start_is_refused():
    # C30/C08: an early client has no sandbox behind it; it must not reach AWS or fail obscurely.
    result = run_python(
        """
        import boto3
        early = boto3.client("kms", region_name="us-east-1")
        from kms_course import start_sandbox, SandboxError
        start_sandbox(quiet=True)
        try:
            early.list_keys()
        except SandboxError as e:
            print("SandboxError:", e)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "created before the sandbox started" in result.stdout


def test_no_region_and_no_credentials_anywhere(tmp_path):
    # C07 (NoRegionError) and C08 (NoCredentialsError): a new user's shell has neither.
    env = clean_env(HOME=str(tmp_path))
    result = run_python(
        """
        from kms_course import start_sandbox
        import boto3
        start_sandbox(quiet=True)
        kms = boto3.client("kms")
        print(kms.meta.region_name, kms.create_key()["KeyMetadata"]["KeyState"])
        """,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["us-east-1", "Enabled"]


def test_region_is_overridable(tmp_path):
    result = run_python(
        """
        from kms_course import start_sandbox
        import boto3
        kms = start_sandbox(region="eu-west-1")
        arn = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        print(arn.split(":")[3])
        """,
        env=clean_env(HOME=str(tmp_path)),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "KMS sandbox ready: backend=moto (moto in this kernel, offline), region=eu-west-1",
        "eu-west-1",
    ]


def test_backend_from_environment_variable_is_used(tmp_path):
    result = run_python(
        """
        from kms_course import start_sandbox, SandboxError
        try:
            start_sandbox()
        except SandboxError as e:
            print(e)
        """,
        env=clean_env(HOME=str(tmp_path), KMS_COURSE_BACKEND="moto-server", KMS_COURSE_HOME=str(tmp_path)),
    )
    assert "No course moto server is running" in result.stdout
    assert "kms-course server start" in result.stdout


def test_aws_backend_tags_course_keys_and_cleanup_schedules_only_those(tmp_path):
    # The aws backend, run against moto's mock so that nothing leaves the machine: the course's
    # CreateKey calls carry the course tag, and cleanup schedules only those keys.
    env = clean_env(
        HOME=str(tmp_path),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-west-2",
    )
    result = run_python(
        """
        import json
        from moto import mock_aws
        with mock_aws():
            import boto3
            other = boto3.client("kms", region_name="us-west-2").create_key()["KeyMetadata"]["Arn"]
            from kms_course import start_sandbox
            from kms_course.sandbox.cleanup import cleanup
            kms = start_sandbox("aws", quiet=True)
            mine = boto3.client("kms").create_key(
                Tags=[{"TagKey": "team", "TagValue": "blue"}])["KeyMetadata"]["Arn"]
            tags = kms.list_resource_tags(KeyId=mine)["Tags"]
            scheduled = cleanup(kms, window_days=7)
            states = {a: kms.describe_key(KeyId=a)["KeyMetadata"]["KeyState"] for a in (mine, other)}
            print(json.dumps({"tags": tags, "scheduled": scheduled == [mine],
                              "mine": states[mine], "other": states[other],
                              "again": cleanup(kms)}))
        """,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"TagKey": "kms-course", "TagValue": "created-by-course"} in out["tags"]
    assert {"TagKey": "team", "TagValue": "blue"} in out["tags"]
    assert out["scheduled"] is True
    assert out["mine"] == "PendingDeletion"
    assert out["other"] == "Enabled"
    assert out["again"] == []


def test_aws_backend_without_credentials_is_a_clear_error(tmp_path):
    result = run_python(
        """
        from kms_course import start_sandbox, SandboxError
        try:
            start_sandbox("aws", region="us-east-1")
        except SandboxError as e:
            print(e)
        """,
        env=clean_env(HOME=str(tmp_path), AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_EC2_METADATA_DISABLED="true"),
    )
    assert "none were found" in result.stdout


SPY = """
import json, socket, ipaddress
dialed = []
def _host(address):
    return address[0] if isinstance(address, tuple) else str(address)
def _refuse_non_loopback(address):
    host = _host(address)
    dialed.append(host)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ConnectionRefusedError(f"spy: refused {host}")  # never really dialed
original_connect = socket.socket.connect
def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse_non_loopback(address)
    return original_connect(self, address)
socket.socket.connect = connect
original_create_connection = socket.create_connection
def create_connection(address, *args, **kwargs):
    _refuse_non_loopback(address)
    return original_create_connection(address, *args, **kwargs)
socket.create_connection = create_connection
"""


def _off_machine(dialed):
    import ipaddress

    def loopback(host):
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"

    return [h for h in dialed if not loopback(h)]


def test_client_created_before_setup_never_dials_instance_metadata(tmp_path):
    """Bug: a client created before the setup cell connected to 169.254.169.254 (botocore's
    instance-metadata credential provider) twice before the SandboxError."""
    result = run_python(
        SPY + """
import boto3
import kms_course
early = boto3.client("kms", region_name="us-east-1")
from kms_course import start_sandbox, SandboxError
start_sandbox(quiet=True)
try:
    early.list_keys()
except SandboxError as e:
    print("SandboxError:", e)
boto3.client("kms").list_keys()
print(json.dumps(dialed))
""",
        env=clean_env(HOME=str(tmp_path)),
    )
    assert result.returncode == 0, result.stderr
    assert "created before the sandbox started" in result.stdout
    assert _off_machine(json.loads(result.stdout.splitlines()[-1])) == []


def test_container_credential_endpoint_is_not_dialed_in_a_sandbox(tmp_path):
    result = run_python(
        SPY + """
import boto3, kms_course
early = boto3.client("kms", region_name="us-east-1")
print(json.dumps(dialed))
""",
        env=clean_env(HOME=str(tmp_path), AWS_CONTAINER_CREDENTIALS_FULL_URI="http://10.9.8.7/creds"),
    )
    assert result.returncode == 0, result.stderr
    assert _off_machine(json.loads(result.stdout.splitlines()[-1])) == []


def test_non_loopback_server_url_is_refused_before_connecting(tmp_path):
    """Bug: a non-loopback KMS_COURSE_SERVER_URL was contacted."""
    result = run_python(
        SPY + """
from kms_course import start_sandbox, SandboxError
try:
    start_sandbox("moto-server")
except SandboxError as e:
    print(e)
print(json.dumps(dialed))
""",
        env=clean_env(HOME=str(tmp_path), KMS_COURSE_SERVER_URL="http://10.255.255.1:5000"),
    )
    assert result.returncode == 0, result.stderr
    message, dialed = result.stdout.splitlines()
    assert "KMS_COURSE_SERVER_URL='http://10.255.255.1:5000' is not a loopback address" in message
    assert json.loads(dialed) == []


def test_aws_backend_still_may_use_instance_metadata(tmp_path):
    # The guard turns instance metadata off only for the sandbox backends: with the aws backend
    # the credential chain still asks it (the spy refuses the dial, so nothing leaves).
    result = run_python(
        SPY + """
import os, kms_course
from kms_course.sandbox import start as sandbox
before = os.environ.get("AWS_EC2_METADATA_DISABLED")
try:
    sandbox.start_sandbox("aws", region="us-east-1")
except sandbox.SandboxError:
    pass
print(before, os.environ.get("AWS_EC2_METADATA_DISABLED"))
print(json.dumps(dialed))
""",
        env=clean_env(HOME=str(tmp_path), AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent"),
    )
    assert result.returncode == 0, result.stderr
    flags, dialed = result.stdout.splitlines()[-2:]
    assert flags.split() == ["true", "None"]
    assert "169.254.169.254" in json.loads(dialed)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"backend": 123}, "backend must be a string"),
        ({"backend": ["moto"]}, "backend must be a string"),
        ({"region": "mars-1"}, "Unknown AWS Region 'mars-1'"),
        ({"region": 42}, "region must be a string"),
    ],
)
def test_bad_arguments_are_one_line_sandbox_errors(kwargs, words):
    """Bug: start_sandbox(backend=123) gave AttributeError and a made-up Region a
    KMSInternalException."""
    with pytest.raises(sandbox.SandboxError, match=words) as caught:
        sandbox.start_sandbox(**kwargs)
    assert "\n" not in str(caught.value)
