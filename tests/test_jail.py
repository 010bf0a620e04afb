"""The grading jail (kms_course.instructor.grading.jail): what a jailed kernel can and cannot reach.

Each test runs real code in a real jailed kernel, forked from the zygote the way the grader does,
and asserts what the issue's attacks would need is not there. Facts rest on the Linux manuals:
pid_namespaces(7) (a PID namespace's processes die with its init), setns(2), getrlimit(2).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from _processes import alive_with  # noqa: E402
from kms_course.instructor.grading import jail
from kms_course.instructor.grading.sandbox import GradingServer
from kms_course.instructor.grading.zygote import JailSpec, jailed

REASON = jail.unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no grading jail here: {REASON}")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server():
    grading = GradingServer().start()
    yield grading
    grading.close()


def run_jailed(server, cells, limits=jail.JailLimits(), secrets=(), timeout=60, trees=()):
    """Run ``cells`` (code strings) in one jailed kernel; each cell's stdout (or error name)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    server.reset()
    with server.channel() as serve:
        spec = JailSpec(
            serve, limits, tuple(map(str, [*jail.python_trees(), *trees])),
            tuple(map(str, jail.secret_paths(secrets))),
        )
        env = server.kernel_env(f"{jail.HOME}/.kms-course", jailed=True)
        client = NotebookClient(
            nb, kernel_manager_class=jailed(spec), allow_errors=True, timeout=timeout,
            kernel_name="python3", startup_timeout=60,
        )
        try:
            client.execute(cwd=jail.HOME, env=env)
        except DeadKernelError:
            pass  # the cells' outputs so far still tell
    outputs = []
    for cell in nb.cells:
        text = ""
        for out in cell.outputs:
            if out.output_type == "stream":
                text += out.text
            elif out.output_type == "error":
                text += f"ERROR {out.ename}: {out.evalue}"
        outputs.append(text.strip())
    return outputs


def test_proc_shows_only_the_jails_own_processes(server):
    (out,) = run_jailed(server, [
        "import os\n"
        "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "cmds = [open(f'/proc/{p}/cmdline','rb').read().replace(b'\\0', b' ').decode() for p in pids]\n"
        "others = [c.split()[0].rsplit('/', 1)[-1] for p, c in zip(pids, cmds) if int(p) != os.getpid()]\n"
        "print(os.getpid(), sorted(set(others)))"
    ])
    pid, others = out.split(" ", 1)
    # only bubblewrap's init (PID 1) and the shell holding the jail: no grader, worker, zygote,
    # relay or other kernel
    assert int(pid) > 1
    assert others == "['bwrap', 'sh']"


def test_answers_and_the_graders_files_are_not_visible(server, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "grades.csv").write_text("student,total\n")
    out = run_jailed(server, [
        "import os, pathlib, kms_course\n"
        "pkg = pathlib.Path(kms_course.__file__).parent\n"
        "print(sorted(os.listdir(pkg / 'lessons' / 'checks')))",
        f"print(os.path.exists({str(ROOT / 'notebooks')!r}), os.path.exists({str(out_dir)!r}))",
        "print(str(pathlib.Path.home()), sorted(os.listdir(pathlib.Path.home())))",
        f"print(os.path.exists({os.path.join(str(Path.home()), '.bashrc')!r}))",
        "import kms_course.lessons.checks.l03_creating_keys",
        "found = [str(p) for p in pathlib.Path('/').rglob('*.ipynb') if 'site-packages' not in str(p)]\n"
        "print(found)",
    ], secrets=[out_dir])
    assert out[0] == "[]"
    assert out[1] == "False False"
    assert out[2].startswith(jail.HOME)
    assert out[3] == "False"
    assert out[4].startswith("ERROR ModuleNotFoundError")
    assert out[5] == "[]"


def test_the_package_and_environment_are_read_only(server):
    out = run_jailed(server, [
        "import kms_course, sys\n"
        "try:\n"
        "    open(kms_course.__file__, 'a')\n"
        "except OSError as e:\n"
        "    print(e.errno)",
        "import os\n"
        "try:\n"
        "    open(os.path.join(sys.prefix, 'planted.pth'), 'w')\n"
        "except OSError as e:\n"
        "    print(e.errno)",
        "import os\n"
        "os.makedirs(os.path.expanduser('~/.ipython/profile_default/startup'), exist_ok=True)\n"
        "open(os.path.expanduser('~/.ipython/profile_default/startup/00.py'), 'w').write('x=1')\n"
        "print('home writable')",
    ])
    import errno

    refused = {str(errno.EROFS), str(errno.EACCES)}  # read-only mount, or not its user's file
    assert out[0] in refused
    assert out[1] in refused
    assert out[2] == "home writable"  # its own private HOME, gone with the jail
    assert not (ROOT / "kms_course" / "planted.pth").exists()


def test_no_capabilities_and_no_new_privileges(server):
    (out,) = run_jailed(server, [
        "status = dict(l.split(':\\t') for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n"
        "print(status['CapEff'].strip(), status['CapBnd'].strip(), status['NoNewPrivs'].strip())"
    ])
    assert out == "0000000000000000 0000000000000000 1"


def test_no_network_but_its_own_sandbox(server):
    out = run_jailed(server, [
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {server.port}), timeout=2)\n"
        "    print('reached the grader')\n"
        "except OSError as e:\n"
        "    print('refused')",
        "from kms_course import start_sandbox\n"
        "kms = start_sandbox(quiet=True)\n"
        "print(kms.create_key()['KeyMetadata']['KeyState'])",
        "import socket\nprint(sorted({i[1] for i in socket.if_nameindex()}))",
    ])
    assert out[0] == "refused"
    assert out[1] == "Enabled"
    assert out[2] == "['lo']"


def test_nothing_outlives_the_jail(server):
    marker = f"kms-leftover-{os.getpid()}-{time.monotonic_ns()}"
    out = run_jailed(server, [
        "import os, subprocess, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)', {marker!r}])\n"
        "    os._exit(0)\n"
        "import time; time.sleep(0.5); print('planted')"
    ])
    assert out == ["planted"]
    deadline = time.monotonic() + 5
    while alive_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive_with(marker) == []


def test_signals_reach_only_the_jail(server):
    marker = f"kms-bystander-{time.monotonic_ns()}"
    import subprocess

    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", marker])
    try:
        out = run_jailed(server, [
            "import os, signal\n"
            "pid1 = open('/proc/1/comm').read().strip()\n"
            "print(pid1, flush=True)\n"
            "if pid1 == 'bwrap':  # never outside a jail: a broken jail must fail, not kill all\n"
            "    os.kill(-1, signal.SIGKILL)"], timeout=20)
        assert out[0].startswith("bwrap")
        assert bystander.poll() is None  # kill(-1) reached no process outside the jail
        assert os.getpid() in map(int, filter(str.isdigit, os.listdir("/proc")))
    finally:
        bystander.kill()
        bystander.wait()


def test_process_limit_stops_a_fork_bomb(server):
    limits = jail.JailLimits(processes=40)
    (out,) = run_jailed(server, [
        "import os, time\n"
        "kids = []\n"
        "try:\n"
        "    for _ in range(200):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(30); os._exit(0)\n"
        "        kids.append(pid)\n"
        "except OSError as e:\n"
        "    print(len(kids), e.errno)\n"
        "for k in kids: os.kill(k, 9)"
    ], limits=limits)
    started, code = out.split()
    import errno

    assert int(code) == errno.EAGAIN
    assert 0 < int(started) < 40


def test_memory_and_file_limits(server):
    limits = jail.JailLimits(memory_mib=1536, file_mib=8, tmp_mib=32)
    out = run_jailed(server, [
        "try:\n    b = bytearray(2 * 1024**3)\n    print('allocated')\nexcept MemoryError:\n    print('MemoryError')",
        "import errno\n"
        "try:\n"
        "    open('/tmp/big', 'wb').write(b'x' * (16 * 1024**2))\n"
        "except OSError as e:\n"
        "    print(errno.errorcode[e.errno])",
    ], limits=limits)
    assert out[0] == "MemoryError"
    assert out[1] == "EFBIG"


def test_sandbox_storage_is_limited(server):
    limits = jail.JailLimits(sandbox_request_mib=1, sandbox_total_mib=2)
    server.app.new_budget(1 * jail.MiB, 2 * jail.MiB)
    out = run_jailed(server, [
        "from kms_course.sandbox.start import start_sandbox, client\n"
        "start_sandbox(quiet=True)\n"
        "s3 = client('s3')\n"
        "s3.create_bucket(Bucket='course-bucket')\n"
        "import botocore\n"
        "try:\n"
        "    s3.put_object(Bucket='course-bucket', Key='k', Body=b'x' * (3 * 1024**2))\n"
        "    print('stored')\n"
        "except botocore.exceptions.ClientError as e:\n"
        "    print(e.response['ResponseMetadata']['HTTPStatusCode'])",
    ], limits=limits)
    assert out == ["413"]
    assert server.app.received < 1 * jail.MiB


def test_catalogue_gives_lesson_widgets_their_exercises(server):
    from kms_course.lessons import exercises

    env_catalogue = exercises.catalogue()
    assert "def " not in env_catalogue  # data only
    items = json.loads(env_catalogue)
    assert {i["id"] for i in items} == set(exercises.load_all())


def test_unavailable_says_how_to_install(monkeypatch):
    monkeypatch.setattr(jail.shutil, "which", lambda name: None)
    reason = jail.unavailable()
    assert "apt-get install bubblewrap`" in reason and "--no-jail" in reason


def test_a_jail_that_cannot_start_is_a_clear_error(tmp_path):
    spec = jail.Jail(trees=[tmp_path / "missing"], secrets=[], connection_dir=str(tmp_path),
                     limits=jail.JailLimits())
    with pytest.raises(RuntimeError, match="jail did not start"):
        spec.start(timeout=10)
    assert spec.process is None


def test_view_covers_secrets_inside_visible_trees(tmp_path):
    tree = tmp_path / "env"
    (tree / "inner").mkdir(parents=True)
    (tree / "answers.txt").write_text("x")
    args = jail.view_args([tree], [tree / "inner", tree / "answers.txt", tmp_path / "elsewhere"])
    assert ["--tmpfs", str(tree / "inner")] == args[args.index("--tmpfs"):args.index("--tmpfs") + 2]
    assert ["--ro-bind", "/dev/null", str(tree / "answers.txt")] == args[-3:]
    assert str(tmp_path / "elsewhere") not in args


def test_a_dead_jailed_kernel_is_reaped_while_its_jail_lives(server):
    """Its launcher exits at once, so without the zygote as subreaper the kernel would become the
    machine's init's child and, once dead, a zombie until init reaps it (seconds here), looking
    alive to the grader meanwhile."""
    from kms_course.instructor.grading.zygote import _ZYGOTE
    import asyncio

    async def run() -> tuple[int, bool]:
        with server.channel() as serve:
            spec = JailSpec(serve, jail.JailLimits(), tuple(map(str, jail.python_trees())),
                            tuple(map(str, jail.secret_paths())))
            km = jailed(spec)(kernel_name="python3")
            await km.start_kernel(cwd=jail.HOME,
                                  env=server.kernel_env(f"{jail.HOME}/.kms-course", jailed=True))
            pid = km.provisioner.pid

            def parent() -> int:
                return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

            # its launcher writes the pid and then exits: until it has, it is the parent (a
            # race seen under load in CI-like runs)
            deadline = time.monotonic() + 10
            while parent() != _ZYGOTE._proc.pid and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert parent() == _ZYGOTE._proc.pid  # not 1: the zygote reaps it
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            gone = not os.path.exists(f"/proc/{pid}")
            jail_open = km.provisioner._jail is not None
            await km.shutdown_kernel(now=True)
            return gone, jail_open

    gone, jail_open = asyncio.run(run())
    assert jail_open and gone


def test_a_course_installed_under_tmp_is_visible(server, tmp_path):
    """A clone (and its virtual environment) under /tmp must not be hidden by the jail's private
    /tmp (CI clones there): bug found on a fresh clone, where every jailed kernel failed."""
    tree = tmp_path / "clone" / ".venv"
    tree.mkdir(parents=True)
    (tree / "marker.txt").write_text("installed")
    out = run_jailed(server, [
        f"print(open({str(tree / 'marker.txt')!r}).read())",
        "open('/tmp/scratch', 'w').write('x'); print('tmp writable')",
    ], trees=[tree])
    assert out == ["installed", "tmp writable"]
