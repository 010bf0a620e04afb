"""`kms-course lab --no-browser --port P` serves JupyterLab's /lab on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

from kms_course.server import free_port
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

    from kms_course.lab import install_kernel_guard, lab_environment

    assert install_kernel_guard() is not None  # what `kms-course lab` does before starting
    env = lab_environment(base=clean_env(HOME=str(tmp_path)))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import boto3\n"
        "try:\n"
        "    boto3.client('kms').list_keys()\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)"
    ), nbformat.v4.new_code_cell("from moto import mock_kms")])
    client = NotebookClient(nb, timeout=60, kernel_name="python3")
    client.km = client.create_kernel_manager()
    client.km.kernel_spec  # resolve the spec before overriding its environment
    client.allow_errors = True
    with client.setup_kernel(env=env):
        client.execute_cell(nb.cells[0], 0)
        client.execute_cell(nb.cells[1], 1)
    text = nb.cells[0].outputs[0]["text"]
    assert text.startswith("SandboxError ")
    assert "before the sandbox started" in text
    # case C11 before the setup cell too: the ImportError, then the one-line fix
    assert [o["output_type"] for o in nb.cells[1].outputs] == ["error", "stream"]
    assert nb.cells[1].outputs[1]["text"].startswith("Hint: moto 5 has no mock_kms")
