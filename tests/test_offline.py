"""The lessons need no network at all: run them in an empty network namespace (loopback only).

Each notebook runs top to bottom in a fresh kernel inside ``unshare --net``, where any attempt to
reach AWS (or anything else off the machine) would fail, and every check must still pass.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import NOTEBOOKS, ROOT, clean_env

RUNNER = textwrap.dedent(
    """
    import sys, nbformat
    from nbclient import NotebookClient
    for path in sys.argv[1:]:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": %r}}).execute()
        print("ran", path)
    """
)


def _can_unshare() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip") or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and `unshare --net` (CI runs as root)")
def test_every_lesson_runs_with_no_network(tmp_path):
    notebooks = sorted(str(p) for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, "no lesson notebooks found"
    script = RUNNER % str(tmp_path)
    command = (
        "ip link set lo up && "
        f"{sys.executable} -c {shlex.quote(script)} " + " ".join(shlex.quote(n) for n in notebooks)
    )
    result = subprocess.run(
        ["unshare", "--net", "sh", "-c", command],
        capture_output=True, text=True, env=clean_env(HOME=str(tmp_path)), cwd=ROOT, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("ran ") == len(notebooks)

