"""Fast fresh kernels: a pre-imported template process that forks one new kernel per request.

Starting a Python kernel costs about a second of CPU, nearly all of it importing ipykernel,
IPython, boto3 and the course package. A grading worker starts one *zygote* (``python -m
kms_course.grading.zygote``) that imports them once and never runs student code; for each
submission it ``fork()``s a child that becomes a brand-new IPython kernel (own process, own
session, own namespace, environment and working folder given by the grader). Each kernel is
still fresh: no student code has ever run in the zygote or been seen by a sibling. The Android
zygote and the ``forkserver`` start method of ``multiprocessing`` use the same idea
(https://docs.python.org/3/library/multiprocessing.html#contexts-and-start-methods).

:class:`ZygoteKernelManager` is a jupyter_client ``AsyncKernelManager`` whose provisioner asks
the zygote for the process instead of ``Popen`` (https://jupyter-client.readthedocs.io/en/latest/provisioning.html),
so nbclient drives it unchanged (interrupts, kills, liveness checks).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import default

#: What the zygote imports before forking: what every kernel imports anyway (ipykernel, boto3,
#: the course package) and what lesson cells import (display helpers, widgets, crypto).
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "IPython.core.interactiveshell",
    "boto3",
    "botocore.client",
    "kms_course",
    "kms_course.sandbox",
)
#: Imported too when present (lesson helpers may come and go; a missing one is skipped).
OPTIONAL_PRELOAD = (
    "urllib.request",
    "IPython.core.ultratb",
    "stack_data",
    "pygments.lexers.python",
    "pygments.formatters.terminal256",
    "ipywidgets",
    "kms_course.display",
    "kms_course.progress",
    "kms_course.envelope",
    "cryptography.hazmat.primitives.ciphers.aead",
)


class Zygote:
    """The template process of one worker; :meth:`spawn` returns the pid of a new kernel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "kms_course.grading.zygote"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
            ready = self._proc.stdout.readline()
            if ready.strip() != "ready":
                raise RuntimeError("the kernel zygote did not start")
        return self._proc

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str) -> int:
        """Fork a kernel running ``ipykernel_launcher argv`` with ``env`` in ``cwd``; its pid.

        Raises:
            RuntimeError: the zygote died and could not be restarted.
        """
        with self._lock:
            proc = self._start()
            proc.stdin.write(json.dumps({"argv": argv, "env": env, "cwd": cwd}) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError("the kernel zygote did not answer")
        return int(line)

    def close(self) -> None:
        """Stop the zygote (running kernels are not affected)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


_ZYGOTE = Zygote()


class _ForkedProcess:
    """The ``Popen``-like view of a kernel that is the zygote's child, not ours.

    The zygote ignores SIGCHLD, so an exited kernel is reaped at once and ``os.kill(pid, 0)``
    then fails: that is how :meth:`poll` sees it end (exit code unknown, reported as -1).
    """

    def __init__(self, pid: int):
        self.pid = pid
        self.stdin = self.stdout = self.stderr = None
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = -1
            except PermissionError:
                pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ZygoteProvisioner(LocalProvisioner):
    """A ``LocalProvisioner`` whose kernel process comes from the worker's zygote."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        env = {str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()}
        cwd = str(kwargs.get("cwd") or os.getcwd())
        # cmd is [python, -m, ipykernel_launcher, -f, file, ...]: keep what follows the module
        argv = cmd[cmd.index("ipykernel_launcher") + 1 :] if "ipykernel_launcher" in cmd else cmd[1:]
        pid = _ZYGOTE.spawn(argv, env, cwd)
        self.process = _ForkedProcess(pid)
        self.pid = pid
        self.pgid = pid  # the kernel calls setsid(): its own process group
        self.cwd = cwd
        return self.connection_info


class IpcKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel talks over Unix sockets, not TCP ports.

    With TCP, jupyter_client picks five free ports and writes them to the connection file, and
    the kernel binds them a moment later; another process starting a kernel at the same time can
    take one of them first, and the kernel then exits with ``ZMQError: Address already in use``
    ("Kernel died before replying to kernel_info"). A grader starting kernels in parallel hits
    this. With ``transport="ipc"`` the sockets are files in a private temporary folder, so no two
    kernels can collide
    (https://jupyter-client.readthedocs.io/en/latest/kernels.html#connection-files).
    The folder's path is short, since a Unix socket path is limited to 107 bytes.
    """

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.ipc_dir = tempfile.mkdtemp(prefix="kms-kernel-")
        self.connection_file = os.path.join(self.ipc_dir, "kernel.json")
        self.ip = os.path.join(self.ipc_dir, "ipc")

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self.ipc_dir, ignore_errors=True)


class ZygoteKernelManager(IpcKernelManager):
    """An :class:`IpcKernelManager` that starts its kernel through the zygote."""

    async def _async_pre_start_kernel(self, **kw: Any):
        if self.provisioner is None:
            self.provisioner = ZygoteProvisioner(
                kernel_id=self.kernel_id or kw.get("kernel_id") or "", kernel_spec=self.kernel_spec, parent=self
            )
        return await super()._async_pre_start_kernel(**kw)


def _die_with_parent() -> None:
    """Linux: SIGKILL this kernel when the zygote exits (prctl PR_SET_PDEATHSIG), so a kernel
    never outlives a crashed worker (https://man7.org/linux/man-pages/man2/prctl.2.html)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child(request: dict) -> None:
    """In the forked child: become a fresh IPython kernel (never returns)."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        _die_with_parent()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["ipykernel_launcher", *request["argv"]]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance(argv=request["argv"])
        code = 0
    finally:
        os._exit(code)


def _warm_tracebacks() -> None:
    """Format one traceback the way IPython does, so its lazy imports and caches (pygments
    lexers, stack_data) are loaded once here instead of in every kernel showing an error."""
    try:
        from IPython.core.ultratb import AutoFormattedTB

        try:
            raise NotImplementedError()
        except NotImplementedError:
            AutoFormattedTB(mode="Context", color_scheme="Neutral").text(*sys.exc_info())
    except Exception:  # noqa: BLE001 (only a warm-up)
        pass


def main() -> None:
    """The zygote's loop: preload, then fork a kernel for each JSON request line on stdin."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    for name in OPTIONAL_PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 (optional: the kernel imports it itself if needed)
            pass
    _warm_tracebacks()
    # Keep the preloaded objects out of every kernel's garbage collections: without this the
    # first collection in each child walks (and copies, page by page) the whole inherited heap
    # (https://docs.python.org/3/library/gc.html#gc.freeze).
    import gc

    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # kernels are reaped automatically
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
