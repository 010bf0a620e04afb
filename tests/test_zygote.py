"""The kernel zygote (kms_course.instructor.grading.zygote): what a forked grading kernel inherits.

The zygote preloads and warms what every kernel needs (botocore's parsed service models among
it) and passes IPython options to each kernel. These tests run one real forked kernel and read
back what it has. Sources: IPython's kernel options
(https://ipython.readthedocs.io/en/stable/config/options/kernel.html: ``InteractiveShell.xmode``,
``HistoryManager.enabled``), boto3's default session
(https://boto3.amazonaws.com/v1/documentation/api/latest/reference/core/boto3.html).
"""

from __future__ import annotations

import json
import os

import boto3
import nbformat
import pytest
from nbclient import NotebookClient

from kms_course.sandbox import start as sandbox
from kms_course.instructor.grading import zygote
from kms_course.instructor.grading.sandbox import GradingServer
from kms_course.instructor.grading.zygote import ZygoteKernelManager

PROBE = """
import json, os, boto3
before = boto3.DEFAULT_SESSION
loaded = len(before._session.get_component("data_loader")._cache) if before else 0
from kms_course.sandbox import start as sandbox
from kms_course import start_sandbox
kms = start_sandbox(quiet=True)
key = kms.create_key(Description="zygote test")["KeyMetadata"]
ip = get_ipython()
print(json.dumps({
    "xmode": ip.InteractiveTB.mode,
    "history": ip.history_manager.enabled,
    "kept_session": boto3.DEFAULT_SESSION is before and before is not None,
    "trusted": sandbox._TRUSTED_SESSION is before,
    "loaded": loaded,
    "config_file": os.environ.get("AWS_CONFIG_FILE"),
    "access_key": boto3.DEFAULT_SESSION.get_credentials().access_key,
    "key_state": key["KeyState"],
}))
"""


@pytest.fixture(scope="module")
def kernel_report(tmp_path_factory):
    server = GradingServer().start()  # the kernel's sandbox; no client of it is needed here
    home = str(tmp_path_factory.mktemp("home"))
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(PROBE),
        nbformat.v4.new_code_cell("raise NotImplementedError('write your solution')"),
    ])
    NotebookClient(nb, kernel_manager_class=ZygoteKernelManager, kernel_name="python3",
                   allow_errors=True, timeout=60).execute(cwd=home, env=server.kernel_env(home))
    server.close()
    outputs = [o for cell in nb.cells for o in cell.outputs]
    report = json.loads(next(o["text"] for o in outputs if o.get("name") == "stdout"))
    error = next(o for o in outputs if o["output_type"] == "error")
    return report, error


def test_a_kernel_formats_errors_in_one_line_and_keeps_no_history(kernel_report):
    report, error = kernel_report
    assert report["xmode"] == "Minimal" and report["history"] is False
    # the grader reads only the name and value, which Minimal keeps
    assert (error["ename"], error["evalue"]) == ("NotImplementedError", "write your solution")
    assert len(error["traceback"]) == 1


def test_a_kernel_reuses_the_zygotes_warm_session_with_its_own_credentials(kernel_report):
    report, _ = kernel_report
    assert report["kept_session"] and report["trusted"]
    assert report["loaded"] > 0  # service models already parsed in the zygote
    assert report["config_file"] == os.devnull
    # credentials come from the kernel's environment (GradingServer.kernel_env), not the zygote
    assert report["access_key"] == "testing"
    assert report["key_state"] == "Enabled"


def test_the_zygote_reads_no_aws_config_of_the_grader(monkeypatch, tmp_path):
    config = tmp_path / "config"
    config.write_text("[default]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    env = zygote._zygote_env()
    assert env["AWS_CONFIG_FILE"] == os.devnull
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert "AWS_ACCESS_KEY_ID" not in env


def test_outside_the_zygote_the_sandbox_replaces_an_earlier_default_session(monkeypatch):
    """A session made before the sandbox may hold real credentials: the lab's kernels still
    get a fresh one (only the zygote's own session is trusted)."""
    monkeypatch.setattr(sandbox, "_TRUSTED_SESSION", None)
    earlier = boto3.session.Session(aws_access_key_id="AKIAREAL", aws_secret_access_key="x",
                                    region_name="us-east-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", earlier)
    monkeypatch.setattr(os, "environ", dict(os.environ))
    sandbox._use_sandbox_environment("us-east-1")
    assert boto3.DEFAULT_SESSION is None


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _kill(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_workers_share_one_zygote_and_fall_back_to_their_own_when_it_is_gone(tmp_path):
    """zygote.shared(): every worker's kernels are children of the one shared zygote; a worker
    leaving does not stop it for the others; once it is gone a worker starts a zygote of its own
    instead of failing its submissions."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    argv = ["-f", str(tmp_path / "unused.json")]  # the kernel exits: only its parent matters
    with zygote.shared() as address:
        first, second = zygote.Zygote(address), zygote.Zygote(address)
        pids = []
        try:
            pid_a, listener_a = first.spawn(argv, env, str(tmp_path))
            shared_pid = _parent_of(pid_a)
            first.close()  # this worker leaves; the zygote keeps serving the other one
            pid_b, listener_b = second.spawn(argv, env, str(tmp_path))
            pids = [pid_a, pid_b]
            assert (listener_a, listener_b) == (None, None)  # unjailed: no sandbox listener
            assert pid_a != pid_b and _parent_of(pid_b) == shared_pid
            assert first._proc is None and second._proc is None  # no zygote of their own
        finally:
            for pid in pids:
                _kill(pid)
    # the shared zygote is gone now: the next spawn starts the worker's own
    try:
        pid_c, _ = second.spawn(argv, env, str(tmp_path))
        assert second._proc is not None and _parent_of(pid_c) == second._proc.pid
        _kill(pid_c)
    finally:
        second.close()
