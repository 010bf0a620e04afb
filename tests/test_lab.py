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
    finally:
        proc.terminate()
        proc.wait(timeout=20)
