"""Shared fixtures: the in-process sandbox, and fresh Python processes for tests that need one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="session")
def kms_session():
    """The ``moto`` sandbox of this test process (started once; process-wide by design)."""
    from kms_course.sandbox import start as sandbox

    return sandbox.start_sandbox("moto", quiet=True)


@pytest.fixture
def kms(kms_session):
    """A KMS client on an emptied sandbox."""
    from kms_course.sandbox import start as sandbox

    sandbox.reset()
    return kms_session


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment of a new user's shell: no AWS settings at all, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_COURSE_"))}
    env.update(overrides)
    return env


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 60):
    """Run ``code`` in a fresh interpreter of this venv; return the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        timeout=timeout,
        cwd=ROOT,
    )
