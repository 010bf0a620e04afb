"""The moto-server backend: `kms-course server start|status|stop` on a free loopback port."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kms_course.sandbox import server
from tests.conftest import clean_env, run_python

pytestmark = pytest.mark.server


@pytest.fixture
def server_env(tmp_path):
    env = clean_env(HOME=str(tmp_path), KMS_COURSE_HOME=str(tmp_path / "state"))
    yield env
    subprocess.run([sys.executable, "-m", "kms_course.cli", "server", "stop"], env=env, capture_output=True)


def cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "kms_course.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_keys_survive_kernel_restarts_while_server_runs(server_env):
    port = server.free_port()
    started = cli(server_env, "server", "start", "--port", str(port))
    assert started.returncode == 0, started.stderr
    assert f"http://127.0.0.1:{port}" in started.stdout

    env = dict(server_env, KMS_COURSE_BACKEND="moto-server")
    first = run_python(
        """
        import boto3
        from kms_course import start_sandbox
        start_sandbox()
        print(boto3.client("kms").create_key(Description="kept")["KeyMetadata"]["KeyId"])
        """,
        env=env,
    )
    assert first.returncode == 0, first.stderr
    banner, key_id = first.stdout.splitlines()
    assert banner == (
        f"KMS sandbox ready: backend=moto-server (moto server at http://127.0.0.1:{port}, offline), "
        "region=us-east-1"
    )
    # A new process is what a kernel restart gives: the key is still there.
    second = run_python(
        f"""
        from kms_course import start_sandbox
        kms = start_sandbox(quiet=True)
        print(kms.describe_key(KeyId="{key_id}")["KeyMetadata"]["Description"])
        """,
        env=env,
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "kept"

    assert cli(server_env, "server", "status").returncode == 0
    stopped = cli(server_env, "server", "stop")
    assert "stopped" in stopped.stdout
    status = cli(server_env, "server", "status")
    assert status.returncode == 1 and "No course moto server" in status.stdout


def test_server_applies_course_rules(server_env):
    # The server serves the rules too: PendingWindowInDays outside 7-30 is refused
    # (https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html).
    assert cli(server_env, "server", "start").returncode == 0
    result = run_python(
        """
        from kms_course import start_sandbox
        kms = start_sandbox(quiet=True)
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        try:
            kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=3)
        except kms.exceptions.ClientError as e:
            print(e.response["Error"]["Code"], kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"])
        """,
        env=dict(server_env, KMS_COURSE_BACKEND="moto-server"),
    )
    assert result.stdout.strip() == "ValidationException Enabled", result.stderr


def test_reset_empties_the_server(server_env):
    assert cli(server_env, "server", "start").returncode == 0
    result = run_python(
        """
        from kms_course import start_sandbox, reset
        kms = start_sandbox(quiet=True)
        kms.create_key()
        reset()
        print(len(kms.list_keys()["Keys"]))
        """,
        env=dict(server_env, KMS_COURSE_BACKEND="moto-server"),
    )
    assert result.stdout.strip() == "0", result.stderr


def test_client_aimed_at_real_aws_is_refused_in_server_backend(server_env):
    assert cli(server_env, "server", "start").returncode == 0
    result = run_python(
        """
        import boto3
        from kms_course import start_sandbox, SandboxError
        start_sandbox(quiet=True)
        real = boto3.client("kms", endpoint_url="https://kms.us-east-1.amazonaws.com")
        try:
            real.list_keys()
        except SandboxError as e:
            print(e)
        """,
        env=dict(server_env, KMS_COURSE_BACKEND="moto-server"),
    )
    assert "not at the course's moto server" in result.stdout, result.stderr


def test_start_on_a_busy_port_says_choose_another(server_env):
    with server.ThreadedServer() as url:
        port = url.rsplit(":", 1)[1]
        result = cli(server_env, "server", "start", "--port", port)
    assert result.returncode == 1
    assert "choose another --port" in result.stderr
    assert "Traceback" not in result.stderr


def test_busy_port_is_found_even_when_its_server_is_slow(server_env):
    """Bug: the busy-port check was an HTTP probe with a 0.5 s timeout; a loaded machine's slow
    answer let `server start` go on and fail with a vaguer message. Now a plain listener that
    never answers HTTP is found too."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = str(listener.getsockname()[1])
        result = cli(server_env, "server", "start", "--port", port)
    assert result.returncode == 1
    assert f"Port {port} is already in use: choose another --port." in result.stderr
