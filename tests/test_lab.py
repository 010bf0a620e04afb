"""`kms-course lab --no-browser --port P` serves JupyterLab's /lab on 127.0.0.1; its kernels load the
guard, the short errors and hints, and the progress panel's refresh before any cell."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

from kms_course.sandbox.server import free_port
from tests.conftest import clean_env


def test_lab_serves_lab_page_on_loopback(tmp_path):
    port = free_port()
    token = "course-test-token"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kms_course.cli", "lab", "--no-browser", "--port", str(port),
         f"--IdentityProvider.token={token}"],
        env=clean_env(HOME=str(tmp_path), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        body = None
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=2) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.25)
        assert body is not None, "JupyterLab did not answer within 30 s"
        assert "JupyterLab" in body
        # The news pop-up, which would try to reach the internet, is off.
        assert '"disabledExtensions": ["@jupyterlab/apputils-extension:announcements"]' in body
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_lab_kernels_refuse_kms_calls_before_the_setup_cell(tmp_path):
    # A fresh kernel of `kms-course lab` has the guard before any cell runs: a student who runs a
    # later cell first gets SandboxError, never NoRegionError/NoCredentialsError or a real request.
    import nbformat
    from nbclient import NotebookClient

    from kms_course.lessons.lab import install_kernel_guard, lab_environment

    assert install_kernel_guard() is not None  # what `kms-course lab` does before starting
    env = lab_environment(base=clean_env(HOME=str(tmp_path)))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import boto3\n"
        "try:\n"
        "    boto3.client('kms').list_keys()\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)"
    ), nbformat.v4.new_code_cell("from moto import mock_kms"),
        nbformat.v4.new_code_cell('check("01-aws-managed-key")')])
    client = NotebookClient(nb, timeout=60, kernel_name="python3")
    client.km = client.create_kernel_manager()
    client.km.kernel_spec  # resolve the spec before overriding its environment
    client.allow_errors = True
    with client.setup_kernel(env=env):
        client.execute_cell(nb.cells[0], 0)
        client.execute_cell(nb.cells[1], 1)
        client.execute_cell(nb.cells[2], 2)
    text = nb.cells[0].outputs[0]["text"]
    assert text.startswith("SandboxError ")
    assert "before the sandbox started" in text
    # case C11 before the setup cell too: the ImportError, then the one-line fix
    assert [o["output_type"] for o in nb.cells[1].outputs] == ["error"]
    assert any(line.startswith("Hint: moto 5 has no mock_kms")
               for line in nb.cells[1].outputs[0]["traceback"])
    # A check cell run before the setup cell (e.g. after a restart): one line says what to run.
    (error,) = nb.cells[2].outputs
    assert error["ename"] == "NameError"
    hints = [line for line in error["traceback"] if line.startswith("Hint:")]
    assert hints == ["Hint: `check` is not defined because this kernel has not run the lesson's "
                     "setup yet (a new or restarted kernel starts empty): run the first code cell "
                     "(kms = start_sandbox()), then the cells above this one."]
    assert len(error["traceback"]) <= 4


def test_progress_panel_refreshes_after_a_kernel_restart(tmp_path):
    # Kernel 1 passes an exercise and shows PASSED in the panel; after a restart, the first check
    # (which now fails: the sandbox is empty and the answer undefined) updates the panel on screen.
    import nbformat
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient

    from kms_course.lessons.lab import install_kernel_guard, lab_environment

    assert install_kernel_guard() is not None
    env = lab_environment(base=clean_env(HOME=str(tmp_path)))
    lesson = "03_creating_and_describing_keys"
    cells = [
        "from kms_course import start_sandbox, check\nkms = start_sandbox(quiet=True)",
        f'from kms_course.lessons.progress import ProgressPanel\nProgressPanel("{lesson}")',
        "hmac_key_id = kms.create_key(KeyUsage='GENERATE_VERIFY_MAC', "
        "KeySpec='HMAC_256')['KeyMetadata']['KeyId']",
        'check("03-hmac-key")',
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True)
    client.km = client.create_kernel_manager()
    client.km.kernel_spec
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        panel = nb.cells[1].outputs[0]
        assert "03-hmac-key     2 points  PASSED" in panel["data"]["text/plain"]
        assert "after a kernel restart" in panel["data"]["text/html"]
        run_sync(client.km.restart_kernel)(now=True)
        run_sync(client.kc.wait_for_ready)(timeout=60)
        client.execute_cell(nb.cells[0], 0)
        client.execute_cell(nb.cells[3], 3)  # the check alone: hmac_key_id is gone
    assert nb.cells[3].outputs[-1]["output_type"] == "error"
    refreshed = nb.cells[1].outputs[0]["data"]["text/plain"]
    assert "03-hmac-key     2 points  NOT YET" in refreshed
    assert "0/7 points" in refreshed
