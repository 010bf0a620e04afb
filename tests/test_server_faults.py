"""Faults of the course server (issue 14): kill -9, a stale record, concurrent starts, reset.

Every test runs the real ``kms-course server`` command in subprocesses, on loopback only, with
its own ``KMS_COURSE_HOME``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from kms_course.sandbox import server
from tests.conftest import clean_env, run_python

pytestmark = pytest.mark.server


def cli(env, *args, timeout=90):
    return subprocess.run(
        [sys.executable, "-m", "kms_course.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def home(tmp_path):
    return tmp_path / "state"


@pytest.fixture
def env(tmp_path, home):
    env = clean_env(HOME=str(tmp_path), KMS_COURSE_HOME=str(home))
    yield env
    cli(env, "server", "stop")
    for process in _servers(home):  # a test that failed half-way must not leave one behind
        process.kill()


def _servers(home: Path) -> list[psutil.Process]:
    """Course server processes whose state folder is ``home``."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "kms_course.sandbox.server" in cmdline and str(home) in cmdline:
            found.append(process)
    return found


def _record(home: Path) -> dict:
    return json.loads((home / "server.json").read_text())


def _kill9(home: Path) -> None:
    pid = _record(home)["pid"]
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(10)


LESSON = """
import json, sys
from kms_course import start_sandbox
from kms_course.sandbox import start as sandbox
kms = start_sandbox(quiet=True)
key = kms.create_key(Description="lesson key")["KeyMetadata"]["KeyId"]
kms.create_alias(AliasName="alias/lesson", TargetKeyId=key)
policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "mine", "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}]})
kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy)
sandbox.client("iam").create_user(UserName="ana")  # a grantee must be a principal that exists
grant = kms.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::123456789012:user/ana",
                         Operations=["Decrypt"])["GrantId"]
blob = kms.encrypt(KeyId="alias/lesson", Plaintext=b"envelope secret")["CiphertextBlob"]
s3 = sandbox.client("s3")
s3.create_bucket(Bucket="lesson-bucket")
s3.put_object(Bucket="lesson-bucket", Key="saved/envelope.bin", Body=blob)
print(json.dumps({"key": key, "grant": grant}))
"""

CHECK = """
import json
from kms_course import start_sandbox
from kms_course.sandbox import start as sandbox
kms = start_sandbox(quiet=True)
blob = sandbox.client("s3").get_object(Bucket="lesson-bucket", Key="saved/envelope.bin")["Body"].read()
key = kms.describe_key(KeyId="alias/lesson")["KeyMetadata"]["KeyId"]
print(json.dumps({
    "plaintext": kms.decrypt(CiphertextBlob=blob)["Plaintext"].decode(),
    "alias": [a["TargetKeyId"] for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/lesson"],
    "policy": json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])["Statement"][0]["Sid"],
    "grants": [g["GrantId"] for g in kms.list_grants(KeyId=key)["Grants"]],
    "description": kms.describe_key(KeyId="alias/lesson")["KeyMetadata"]["Description"],
}))
"""


def _lesson_env(env):
    return dict(env, KMS_COURSE_BACKEND="moto-server")


def test_kill_9_mid_lesson_loses_no_key_and_no_object(env, home):
    """Bug: the server kept everything in memory, so a kill -9 lost every key and object and the
    student's saved envelopes could never be decrypted again."""
    started = cli(env, "server", "start")
    assert started.returncode == 0, started.stderr
    port = _record(home)["port"]
    made = run_python(LESSON, env=_lesson_env(env))
    assert made.returncode == 0, made.stderr
    made = json.loads(made.stdout.splitlines()[-1])

    _kill9(home)
    restarted = cli(env, "server", "start")
    assert restarted.returncode == 0, restarted.stderr
    assert _record(home)["port"] == port  # the previous port, free again, is reused

    seen = run_python(CHECK, env=_lesson_env(env))
    assert seen.returncode == 0, seen.stderr
    assert json.loads(seen.stdout.splitlines()[-1]) == {
        "plaintext": "envelope secret",
        "alias": [made["key"]],
        "policy": "mine",
        "grants": [made["grant"]],
        "description": "lesson key",
    }


def test_state_survives_stop_and_start(env, home):
    assert cli(env, "server", "start").returncode == 0
    assert run_python(LESSON, env=_lesson_env(env)).returncode == 0
    stopped = cli(env, "server", "stop")
    assert "stopped" in stopped.stdout and "kept" in stopped.stdout
    assert not _servers(home)
    assert cli(env, "server", "start").returncode == 0
    seen = run_python(CHECK, env=_lesson_env(env))
    assert json.loads(seen.stdout.splitlines()[-1])["plaintext"] == "envelope secret", seen.stderr
    assert oct((home / "server-state.pickle").stat().st_mode & 0o777) == "0o600"  # key material


HAMMER = """
import sys
from kms_course import start_sandbox
kms = start_sandbox(quiet=True)
with open(sys.argv[1], "a") as done:
    while True:
        try:
            key = kms.create_key()["KeyMetadata"]["KeyId"]
        except Exception:
            break
        done.write(key + "\\n")
        done.flush()
"""


def _answered(path) -> int:
    try:
        return len(path.read_text().split())
    except FileNotFoundError:
        return 0


def test_kill_9_at_any_moment_keeps_every_answered_request(env, home, tmp_path):
    """kill -9 at several points while keys are being created: after each restart the state file
    loads, and every CreateKey that got an answer is there (the save precedes the answer)."""
    acknowledged = tmp_path / "acknowledged.txt"
    script = tmp_path / "hammer.py"
    script.write_text(HAMMER)
    for delay in (0.3, 0.7, 1.1):
        assert cli(env, "server", "start").returncode == 0
        client = subprocess.Popen([sys.executable, str(script), str(acknowledged)],
                                  env=_lesson_env(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # kill once this client's keys are being answered (its start-up time varies with the
        # machine's load), at a different moment of its stream of requests each round
        before = _answered(acknowledged)
        deadline = time.monotonic() + 90
        while _answered(acknowledged) < before + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(delay / 3)
        _kill9(home)
        client.wait(30)
    assert cli(env, "server", "start").returncode == 0
    assert not list(home.glob(".server-state.pickle.*.part"))
    listed = run_python(
        """
        from kms_course import start_sandbox
        kms = start_sandbox(quiet=True)
        ids = [k["KeyId"] for p in kms.get_paginator("list_keys").paginate() for k in p["Keys"]]
        print("\\n".join(ids))
        """,
        env=_lesson_env(env),
    )
    assert listed.returncode == 0, listed.stderr
    answered = set(acknowledged.read_text().split())
    assert len(answered) > 3
    assert answered <= set(listed.stdout.split())


def test_stop_with_stale_record_does_not_signal_the_process_now_holding_the_pid(env, home):
    """Bug: `server stop` sent SIGTERM to whatever process had the recorded PID and printed
    "stopped"."""
    other = subprocess.Popen(["sleep", "1000"])
    try:
        home.mkdir(parents=True)
        port = server.free_port()
        (home / "server.json").write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "pid": other.pid, "port": port}))
        status = cli(env, "server", "status")
        assert status.returncode == 1
        assert "stale" in status.stdout
        stopped = cli(env, "server", "stop")
        assert stopped.returncode == 0
        assert "stale" in stopped.stdout and "not signalled" in stopped.stdout
        assert "Course moto server stopped" not in stopped.stdout
        time.sleep(0.2)
        assert other.poll() is None, "the unrelated process was signalled"
        assert not (home / "server.json").exists()
    finally:
        other.kill()
        other.wait()


def test_stop_refuses_a_reused_pid_even_with_a_server_like_command_line(env, home):
    """The recorded start time is checked: a record naming a live process started at another
    time (PID reuse) is stale, whatever that process is."""
    assert cli(env, "server", "start").returncode == 0
    record = _record(home)
    record["started"] -= 5.0
    (home / "server.json").write_text(json.dumps(record))
    assert "stale" in cli(env, "server", "stop").stdout
    assert psutil.pid_exists(record["pid"]) and _servers(home)
    os.kill(record["pid"], signal.SIGTERM)


def test_port_held_by_another_program_is_not_reported_as_a_running_server(env, home):
    """Bug: a port now held by another program was reported as a running server whose
    list_keys() returned nothing."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        home.mkdir(parents=True)
        (home / "server.json").write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "pid": 999999999, "port": port}))
        status = cli(env, "server", "status")
        assert status.returncode == 1
        assert f"port {port} recorded for it is now held by another program" in status.stdout
        lesson = run_python(
            """
            from kms_course import start_sandbox, SandboxError
            try:
                start_sandbox()
            except SandboxError as e:
                print(e)
            """,
            env=_lesson_env(env),
        )
        assert "held by another program" in lesson.stdout and "kms-course server start" in lesson.stdout


def test_two_concurrent_starts_leave_exactly_one_server(env, home):
    """Bug: two `server start` at once left two servers, one untracked and unstoppable."""
    command = [sys.executable, "-m", "kms_course.cli", "server", "start"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs = [p.communicate(timeout=90) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    urls = {out.split()[4] for out, _ in outs}
    assert len(urls) == 1
    assert len(_servers(home)) == 1
    assert cli(env, "server", "stop").returncode == 0
    time.sleep(0.2)
    assert not _servers(home)


def test_a_second_server_on_the_same_state_folder_refuses_to_run(env, home):
    assert cli(env, "server", "start").returncode == 0
    second = subprocess.run(
        [sys.executable, "-m", "kms_course.sandbox.server", "--port", str(server.free_port()), "--state", str(home)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert second.returncode == 3
    assert "Another course server already uses" in second.stderr


def test_server_reset_empties_the_running_server_and_the_saved_data(env, home):
    assert cli(env, "server", "start").returncode == 0
    assert run_python(LESSON, env=_lesson_env(env)).returncode == 0
    reset = cli(env, "server", "reset")
    assert reset.returncode == 0 and "Emptied the running" in reset.stdout
    count = "from kms_course import start_sandbox\nprint(len(start_sandbox(quiet=True).list_keys()['Keys']))"
    assert run_python(count, env=_lesson_env(env)).stdout.strip() == "0"
    # ...and it stays empty after a restart.
    assert cli(env, "server", "stop").returncode == 0
    assert cli(env, "server", "start").returncode == 0
    assert run_python(count, env=_lesson_env(env)).stdout.strip() == "0"
    # reset with no server running deletes the saved data.
    assert run_python(LESSON, env=_lesson_env(env)).returncode == 0
    assert cli(env, "server", "stop").returncode == 0
    offline = cli(env, "server", "reset")
    assert offline.returncode == 0 and "next start is empty" in offline.stdout
    assert not (home / "server-state.pickle").exists()
    assert cli(env, "server", "start").returncode == 0
    assert run_python(count, env=_lesson_env(env)).stdout.strip() == "0"


def test_unreadable_saved_data_is_one_line_not_an_empty_server(env, home):
    home.mkdir(parents=True)
    (home / "server-state.pickle").write_bytes(b"not a pickle")
    started = cli(env, "server", "start")
    assert started.returncode == 1
    assert "cannot be loaded" in started.stderr and "kms-course server reset" in started.stderr
    assert "Traceback" not in started.stderr
    assert len(started.stderr.strip().splitlines()) == 1


def test_dead_server_gives_the_kernel_one_line_and_the_keys_come_back(env, home):
    """Bug: lesson kernels saw a bare EndpointConnectionError with no hint."""
    assert cli(env, "server", "start").returncode == 0
    script = f"""
        import subprocess, sys
        from kms_course import start_sandbox, SandboxError
        kms = start_sandbox(quiet=True)
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        subprocess.run([sys.executable, "-m", "kms_course.cli", "server", "stop"], check=True, capture_output=True)
        try:
            kms.describe_key(KeyId=key)
        except SandboxError as e:
            print(e)
        subprocess.run([sys.executable, "-m", "kms_course.cli", "server", "start"], check=True, capture_output=True)
        print(kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"])
    """
    result = run_python(script, env=_lesson_env(env), timeout=120)
    assert result.returncode == 0, result.stderr
    message, state = result.stdout.strip().splitlines()
    assert "is not answering" in message
    assert "`kms-course server start`" in message and "your keys and objects are kept" in message
    assert state == "Enabled"


def test_restart_on_a_busy_previous_port_takes_another(env, home):
    assert cli(env, "server", "start").returncode == 0
    port = _record(home)["port"]
    assert cli(env, "server", "stop").returncode == 0
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        assert cli(env, "server", "start").returncode == 0
        assert _record(home)["port"] != port


FULL_DISK = r"""
import json, os, subprocess, sys, time, urllib.request
home = sys.argv[1]
port = int(sys.argv[2])
env = dict(os.environ, KMS_COURSE_HOME=home, KMS_COURSE_SERVER_TOKEN="t")
def serve():
    p = subprocess.Popen([sys.executable, "-m", "kms_course.sandbox.server", "--port", str(port), "--state", home],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/kms-course/identity", timeout=0.5)
            return p
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")
os.environ.update(KMS_COURSE_SERVER_URL=f"http://127.0.0.1:{port}")
p = serve()
from kms_course import start_sandbox
from kms_course.sandbox import start as sandbox
kms = start_sandbox("moto-server", quiet=True)
key = kms.create_key()["KeyMetadata"]["KeyId"]
blob = kms.encrypt(KeyId=key, Plaintext=b"before")["CiphertextBlob"]
s3 = sandbox.client("s3")
s3.create_bucket(Bucket="full-disk")
errors = []
for i in range(40):
    try:
        s3.put_object(Bucket="full-disk", Key=f"big-{i}", Body=os.urandom(64 * 1024))
    except Exception as e:
        errors.append(str(e))
        break
kept = [o["Key"] for o in s3.list_objects_v2(Bucket="full-disk").get("Contents", [])]
p.kill(); p.wait()
p = serve()
again = [o["Key"] for o in s3.list_objects_v2(Bucket="full-disk").get("Contents", [])]
print(json.dumps({"errors": errors, "kept": kept, "again": again,
                  "decrypt": kms.decrypt(CiphertextBlob=blob)["Plaintext"].decode()}))
p.kill()
"""


def _can_mount_tmpfs() -> bool:
    import shutil

    if not shutil.which("unshare") or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs root and `unshare --mount` for a small tmpfs")
def test_full_disk_refuses_the_change_and_keeps_the_saved_state(tmp_path):
    """A full disk (a 512 KiB tmpfs): the request that cannot be saved is refused with a clear
    error and undone in memory; the saved state stays whole and loads after a kill -9."""
    mount = tmp_path / "small"
    mount.mkdir()
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK)
    command = (f"mount -t tmpfs -o size=512k tmpfs {mount} && "
               f"{sys.executable} {script} {mount}/home {server.free_port()}")
    result = subprocess.run(["unshare", "--mount", "sh", "-c", command], capture_output=True, text=True,
                            env=clean_env(HOME=str(tmp_path)), timeout=180, cwd=Path(__file__).parent.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["errors"] and "could not save its data" in out["errors"][0]
    assert out["kept"] == out["again"] and len(out["kept"]) >= 1
    assert out["decrypt"] == "before"
