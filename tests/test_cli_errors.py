"""Every bad input to every verb is one clear line on stderr and a non-zero exit (issue 14).

Each case runs the real ``kms-course`` command line in a subprocess with a new user's environment
(no AWS settings, instance metadata off) and checks: exit code != 0, no "Traceback", no
"unexpected error" (that would be a bug summarised), exactly one non-empty line on stderr, and
the words that tell the user what to do. Nothing beyond loopback is contacted: the ``cleanup``
cases aim KMS at a closed or silent loopback port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kms_course.sandbox import server
from tests.conftest import ROOT, clean_env


@pytest.fixture
def env(tmp_path):
    return clean_env(HOME=str(tmp_path), KMS_COURSE_HOME=str(tmp_path / "home"), AWS_EC2_METADATA_DISABLED="true")


def run_cli(env, args, timeout=60, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "kms_course.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs,
    )


def assert_one_line(result, *words):
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert "unexpected error" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


# (verb arguments, words the one line must contain); {tmp} is the test's folder, {file} a file in it.
CASES = [
    (["bogus"], ["invalid choice", "--help"]),
    (["server"], ["required", "action"]),
    (["server", "restart"], ["invalid choice", "start"]),
    (["server", "start", "--port", "99999"], ["--port", "99999", "not a TCP port"]),
    (["server", "start", "--port", "abc"], ["--port", "not a port number"]),
    (["server", "start", "--port", "0"], ["--port", "not a TCP port"]),
    (["server", "start", "--port", "-5"], ["--port"]),
    (["server", "status", "--bogus"], ["unrecognized arguments"]),
    # the verb's own name and help (a new user's trial: it said "kms-course: ... kms-course --help")
    (["release", "{tmp}/out", "--masters", "x"],
     ["kms-course release: unrecognized arguments: --masters x", "kms-course release --help"]),
    (["validate", "--masters", "x"], ["kms-course validate: unrecognized", "kms-course validate --help"]),
    (["lab", "--port", "abc"], ["--port", "not a port number"]),
    (["lab", "--port", "70000"], ["--port", "not a TCP port"]),
    (["lab", "--backend", "localstack"], ["--backend", "invalid choice"]),
    (["lab", "--notebooks", "{tmp}/nowhere"], ["--notebooks", "not a folder"]),
    (["lab", "--notebooks", "{file}"], ["--notebooks", "not a folder"]),
    (["release"], ["required", "out"]),
    (["release", "{file}"], ["is a file, not a folder"]),
    (["release", ""], ["is empty", "pass a folder"]),
    (["release", "/proc/kms-course-out"], ["cannot create or write"]),
    (["release", "{tmp}/out", "--source", "{tmp}/nowhere"], ["No lesson notebooks", "--source"]),
    (["release", "{tmp}/out", "--source", "{file}"], ["--source", "is a file"]),
    (["release", "notebooks"], ["must not be the master folder"]),
    (["validate", "--source", "/nonexistent"], ["--source /nonexistent does not exist"]),
    (["validate", "--source", "{file}"], ["--source", "is a file"]),
    (["validate", "--source", "{tmp}"], ["--source", "no lesson notebook"]),
    (["validate", "--jobs", "0"], ["--jobs", "at least 1"]),
    (["validate", "--jobs", "two"], ["--jobs", "not a whole number"]),
    (["validate", "--timeout", "-1"], ["--timeout", "greater than 0"]),
    (["validate", "--cell-timeout", "nan"], ["--cell-timeout"]),
    (["grade"], ["required"]),
    (["grade", "x.ipynb"], ["required", "--out"]),
    (["grade", "x.ipynb", "--out", "{file}"], ["--out", "is a file"]),
    (["grade", "x.ipynb", "--out", ""], ["--out is empty", "pass a folder"]),
    (["grade", "{tmp}", "--out", "{tmp}/ana"], ["inside the submissions", "outside them"]),
    (["grade", "{tmp}", "--out", "{tmp}"], ["inside the submissions", "outside them"]),
    (["grade", "x.ipynb", "--out", "{tmp}/g", "--jobs", "0"], ["--jobs"]),
    (["grade", "x.ipynb", "--out", "{tmp}/g", "--timeout", "soon"], ["--timeout", "not a number"]),
    (["fidelity", "--min", "200"], ["--min", "percentage"]),
    (["fidelity", "--min", "abc"], ["--min", "percentage"]),
    (["fidelity", "--json", "extra"], ["unrecognized arguments"]),
    (["cleanup", "--days", "3"], ["--days", "7 and 30"]),
    (["cleanup", "--days", "many"], ["--days", "invalid int"]),
    (["cleanup", "--backend", "localstack"], ["--backend", "invalid choice"]),
    (["cleanup", "--region", "mars-1"], ["Unknown AWS Region 'mars-1'"]),
    (["cleanup", "--region", "us-east-1"], ["credentials"]),  # none configured
    (["cleanup"], ["Region"]),  # no Region configured
    (["cleanup", "--backend", "moto-server"], ["No course moto server is running", "kms-course server start"]),
]


@pytest.mark.parametrize("args, words", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_and_non_zero(env, tmp_path, args, words):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    args = [a.format(tmp=tmp_path, file=a_file) for a in args]
    assert_one_line(run_cli(env, args), *words)


def test_release_into_a_read_only_folder(env, tmp_path):
    """Bug: a read-only OUT ended in a PermissionError traceback. As root, permissions do not
    stop writes, so the command then runs as the unprivileged user nobody."""
    import tempfile

    parent = tempfile.mkdtemp(prefix="kms-course-ro-")  # traversable by nobody, unlike tmp_path
    os.chmod(parent, 0o755)
    out = Path(parent) / "read-only"
    out.mkdir()
    out.chmod(0o555)
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        probe = subprocess.run(prefix + [sys.executable, "-c", "import kms_course.cli"], capture_output=True, cwd=ROOT)
        if probe.returncode != 0:
            pytest.skip("the venv is not readable by nobody")
    result = subprocess.run(
        prefix + [sys.executable, "-m", "kms_course.cli", "release", str(out)],
        env=dict(env, KMS_COURSE_HOME=str(Path(parent) / "nobody-home"), HOME=parent),
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert_one_line(result, "cannot create or write", "Permission denied")
    assert list(out.iterdir()) == []
    out.chmod(0o755)
    shutil.rmtree(parent)


def test_server_start_with_an_unwritable_home_is_one_line(env, tmp_path):
    not_a_folder = tmp_path / "file-home"
    not_a_folder.write_text("x")
    result = run_cli(dict(env, KMS_COURSE_HOME=str(not_a_folder)), ["server", "start"])
    assert_one_line(result, f"Cannot use {not_a_folder}", "KMS_COURSE_HOME")


def test_server_start_on_a_port_of_another_program(env):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert_one_line(run_cli(env, ["server", "start", "--port", str(port)]), "already in use", "--port")


def test_non_loopback_server_url_is_refused_without_contact(env):
    result = run_cli(dict(env, KMS_COURSE_SERVER_URL="http://10.255.255.1:5000"), ["server", "status"])
    assert_one_line(result, "not a loopback address", "KMS_COURSE_SERVER_URL")


def _fake_aws(env, endpoint):
    return dict(env, AWS_ACCESS_KEY_ID="fake", AWS_SECRET_ACCESS_KEY="fake", AWS_ENDPOINT_URL_KMS=endpoint)


def test_cleanup_with_no_network_is_one_line_and_quick(env):
    """Bug: cleanup with no network ended in a 96-line traceback. A closed loopback port stands
    for the unreachable endpoint."""
    port = server.free_port()
    began = time.monotonic()
    result = run_cli(_fake_aws(env, f"http://127.0.0.1:{port}"), ["cleanup", "--region", "us-east-1"])
    assert_one_line(result, "cannot reach KMS in us-east-1", "network", "no key was changed")
    assert time.monotonic() - began < 30


def test_cleanup_against_a_silent_endpoint_does_not_hang(env):
    """An endpoint that accepts the connection and never answers: short read timeouts end it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        began = time.monotonic()
        result = run_cli(_fake_aws(env, f"http://127.0.0.1:{port}"), ["cleanup", "--region", "us-east-1"], timeout=60)
    assert_one_line(result, "cannot reach KMS", "ReadTimeoutError")
    assert time.monotonic() - began < 25


def test_unexpected_error_is_one_line_with_the_details_saved(env, tmp_path):
    code = (
        "import sys, kms_course.instructor.release as r\n"
        "def boom(args): raise ValueError('a bug')\n"
        "r.run = boom\n"
        "from kms_course.cli import main\n"
        "sys.exit(main(['release', 'x']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"kms-course release: unexpected error (ValueError: a bug); the details are in "
        f"{tmp_path / 'home' / 'last-error.txt'}. Please report it."
    )
    assert "ValueError: a bug" in (tmp_path / "home" / "last-error.txt").read_text()
