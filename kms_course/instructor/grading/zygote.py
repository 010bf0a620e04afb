"""Fast fresh kernels: a pre-imported template process that forks one new kernel per request.

Starting a Python kernel costs about a second of CPU, nearly all of it importing ipykernel,
IPython, boto3 and the course package. A grading worker starts one *zygote* (``python -m
kms_course.instructor.grading.zygote``) that imports them once and never runs student code; for each
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

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import default

from kms_course.instructor.grading import jail

#: What the zygote imports before forking: what every kernel imports anyway (ipykernel, boto3,
#: the course package) and what lesson cells import (display helpers, widgets, crypto).
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "IPython.core.interactiveshell",
    "boto3",
    "botocore.client",
    "kms_course",
    "kms_course.sandbox.start",
)
#: Imported too when present (lesson helpers may come and go; a missing one is skipped).
OPTIONAL_PRELOAD = (
    "urllib.request",
    "IPython.core.ultratb",
    "stack_data",
    "pygments.lexers.python",
    "pygments.formatters.terminal256",
    "ipywidgets",
    # the kernel imports it when it builds its shell (debugpy and pydevd: ~60 ms of CPU per
    # kernel); importing it starts no thread, so it is safe to fork after
    "ipykernel.debugger",
    # what a kernel's start-up imports besides (its pdb, completer, %store extension, loop)
    "pdb",
    "IPython.core.debugger",
    "IPython.core.completerlib",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "tornado.platform.asyncio",
    "kms_course.lessons.widgets.display",
    "kms_course.lessons.progress",
    "kms_course.envelope",
    "cryptography.hazmat.primitives.ciphers.aead",
)


#: IPython settings of every forked kernel (https://ipython.readthedocs.io/en/stable/config/options/kernel.html).
#: The grader reads only an error's name and value (``ename``/``evalue`` of the execute reply),
#: so a one-line traceback is enough: formatting IPython's full "Context" traceback costs ~40 ms
#: of CPU per error, and a blank submission raises in every exercise. No history database is
#: written in the kernel's throw-away HOME either.
KERNEL_OPTIONS = ("--InteractiveShell.xmode=Minimal", "--HistoryManager.enabled=False")


#: Seconds a worker waits for the zygote's answer (a kernel's pid, after its sandbox listener).
ANSWER_TIMEOUT = 30.0
#: In the zygote: the connection whose request it is serving (a jailed kernel's listener goes
#: back on it; set by :func:`main`).
_HANDOFF_FD = -1


def _read_line(conn: socket.socket, start: bytes = b"") -> str:
    """One answer line from the zygote (it sends nothing after it until the next request)."""
    data = start
    while not data.endswith(b"\n"):
        chunk = conn.recv(256)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def _start_process(
    listener: socket.socket | None = None, wait: bool = True
) -> tuple[subprocess.Popen, socket.socket]:
    """Start a zygote; it, and this process's connection to it. With ``listener`` (a listening
    Unix socket) it also serves every process that connects there (:func:`shared`). With
    ``wait`` False it returns at once: requests wait until the zygote has preloaded.

    Raises:
        RuntimeError: waited for, the zygote did not say it is ready.
    """
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fds = [theirs.fileno()] + ([listener.fileno()] if listener is not None else [])
    # -I: no current folder, user site or PYTHON* settings in sys.path (a jailed kernel sees only
    # the Python installation and the package); a clean environment, since a forked kernel's
    # /proc/self/environ shows the zygote's.
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "kms_course.instructor.grading.zygote", *map(str, fds)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env=_zygote_env(),
            start_new_session=True,
            preexec_fn=jail.die_with_parent,
            pass_fds=fds,
        )
    finally:
        theirs.close()
    mine.settimeout(ANSWER_TIMEOUT * 4)  # the preload takes seconds on a busy machine
    if wait and _read_line(mine) != "ready":
        proc.kill()
        proc.wait()
        mine.close()
        raise RuntimeError("the kernel zygote did not start")
    mine.settimeout(ANSWER_TIMEOUT)
    return proc, mine


class Zygote:
    """A worker's way to its kernel zygote; :meth:`spawn` returns the pid of a new kernel.

    Args:
        address: the Unix socket of a zygote shared by this machine's workers (:func:`shared`),
            or None for a zygote of this process's own. A shared zygote that is gone is replaced
            by one of its own.
    """

    def __init__(self, address: str | None = None) -> None:
        self._lock = threading.Lock()
        self.address = address
        self._proc: subprocess.Popen | None = None
        self._conn: socket.socket | None = None

    def _connection(self) -> socket.socket:
        if self._conn is not None and (self._proc is None or self._proc.poll() is None):
            return self._conn
        self._drop()
        if self.address:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(self.address)
                conn.settimeout(ANSWER_TIMEOUT)
                self._conn = conn
                return conn
            except OSError:
                conn.close()
                self.address = None  # the shared zygote is gone: start one of this process's own
        self._proc, self._conn = _start_process()
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def spawn(
        self, argv: list[str], env: dict[str, str], cwd: str, jail: dict[str, Any] | None = None
    ) -> tuple[int, socket.socket | None]:
        """Fork a kernel running ``ipykernel_launcher argv`` with ``env`` in ``cwd``.

        Args:
            argv: the kernel's arguments (after ``ipykernel_launcher``).
            env: its whole environment.
            cwd: its working folder (inside the jail when ``jail`` is given).
            jail: ``{"holder": pid, "uid": uid, "limits": JailLimits fields}``: the kernel
                joins the jail whose first process is ``pid`` as user ``uid``
                (:func:`kms_course.instructor.grading.jail.enter`).

        Returns:
            Its pid, and for a jailed kernel the listening socket made inside its jail
            (:func:`kms_course.instructor.grading.jail.open_sandbox_listener`) that the
            submission's sandbox server is to answer on (None unjailed); the caller owns it.

        Raises:
            RuntimeError: the zygote died and could not be restarted, or the kernel could not
                join its jail (the message says why).
        """
        request = (json.dumps({"argv": argv, "env": env, "cwd": cwd, "jail": jail}) + "\n").encode()
        with self._lock:
            shared = self.address is not None
            try:
                line, listener = self._ask(request, bool(jail))
            except RuntimeError:
                if not shared:
                    raise
                # the shared zygote is gone (its kernels with it): once more, through a zygote
                # of this process's own
                self.address = None
                line, listener = self._ask(request, bool(jail))
        if not line.isdigit():
            if listener is not None:
                listener.close()
            raise RuntimeError(f"the kernel zygote did not start a kernel: {line or 'no answer'}")
        if jail and listener is None:
            raise RuntimeError("the jailed kernel sent no sandbox listener")
        return int(line), listener

    def _ask(self, request: bytes, jailed: bool) -> tuple[str, socket.socket | None]:
        """Send one request; the zygote's answer line and the jailed kernel's listener."""
        conn = self._connection()
        listener = None
        try:
            conn.sendall(request)
            first = b""
            if jailed:  # the listener comes first, on a byte of its own (SCM_RIGHTS)
                first, fds, _, _ = socket.recv_fds(conn, 1, 1)
                if fds:
                    listener, first = socket.socket(fileno=fds[0]), b""
            line = _read_line(conn, first)
        except OSError as error:
            self._drop()
            raise RuntimeError(f"the kernel zygote did not answer: {error}") from None
        if not line:
            self._drop()
            raise RuntimeError("the kernel zygote did not answer: it ended")
        return line, listener

    def close(self) -> None:
        """Stop this process's own zygote, or leave the shared one (running kernels are not
        affected)."""
        self._drop()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


_ZYGOTE = Zygote()


def use_shared(address: str) -> None:
    """In a worker: start kernels through the shared zygote at ``address`` (:func:`shared`)."""
    global _ZYGOTE
    _ZYGOTE = Zygote(address)


@contextlib.contextmanager
def shared() -> Iterator[str]:
    """One zygote for all the workers of this machine: yields the address to give them
    (:func:`use_shared`); it stops on exit.

    One zygote instead of one per worker saves its memory and its start (about 60 MiB of PSS and
    a second of CPU per worker; benchmarks/bench_grading.py). Its socket lies in a folder only
    this user can enter, which no jail sees.
    """
    folder = tempfile.mkdtemp(prefix="kms-zygote-", dir=connection_parent())  # a short path
    path = os.path.join(folder, "zygote.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    owner = Zygote()
    try:
        listener.bind(path)
        listener.listen(64)
        # its preload (a second or more) overlaps the workers' own start
        owner._proc, owner._conn = _start_process(listener, wait=False)
        listener.close()
        yield path
    finally:
        listener.close()
        owner.close()
        shutil.rmtree(folder, ignore_errors=True)


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
    """A ``LocalProvisioner`` whose kernel process comes from the worker's zygote, inside a jail
    of its own when the kernel manager has a ``jail_spec`` (:func:`jailed`)."""

    _jail: jail.Jail | None = None

    def close_jail(self) -> None:
        """End the kernel's jail, and with it every process in it (safe to call twice)."""
        if self._jail is not None:
            self._jail.close()
            self._jail = None

    async def kill(self, restart: bool = False) -> None:
        await super().kill(restart)
        self.close_jail()

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart)
        self.close_jail()

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        env = {str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()}
        cwd = str(kwargs.get("cwd") or os.getcwd())
        # cmd is [python, -m, ipykernel_launcher, -f, file, ...]: keep what follows the module
        argv = cmd[cmd.index("ipykernel_launcher") + 1 :] if "ipykernel_launcher" in cmd else cmd[1:]
        argv = [*argv, *KERNEL_OPTIONS]
        spec = getattr(self.parent, "jail_spec", None)
        jail_request = None
        if spec is not None:
            self._jail = spec.open(self.parent.ipc_dir)
            jail_request = {"holder": self._jail.holder_pid, "uid": self._jail.uid,
                            "limits": asdict(spec.limits)}
            cwd = jail.HOME
        try:
            pid, listener = _ZYGOTE.spawn(argv, env, cwd, jail_request)
            if listener is not None:
                spec.serve(listener)
        except BaseException:
            self.close_jail()
            raise
        self.process = _ForkedProcess(pid)
        self.pid = pid
        self.pgid = pid  # the kernel calls setsid(): its own process group
        self.cwd = cwd
        return self.connection_info


def connection_parent() -> str | None:
    """Where kernels' connection folders (and the shared zygote's socket folder) are made:
    ``/tmp`` itself, whatever ``TMPDIR`` says
    (None, the temporary folder, where there is no writable ``/tmp``).

    A jail binds the folder at the same path over its own ``/tmp`` (mode 1777); under any
    other parent, bubblewrap makes the missing folders on the way root's own (mode 0700), so
    the kernel's user could not reach its sockets and every submission failed (found by a
    hostile-student trial with ``TMPDIR=/var/tmp/x``). ``/tmp`` also keeps the socket paths
    short (at most 107 bytes)."""
    return "/tmp" if os.path.isdir("/tmp") and os.access("/tmp", os.W_OK | os.X_OK) else None


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

    # the client is ready at its kernel_info request's idle status, not after 0.2 s of quiet
    @default("client_class")
    def _default_client_class(self) -> str:
        return "kms_course.instructor.grading.kernel_client.GradingKernelClient"

    @default("client_factory")
    def _default_client_factory(self) -> type:
        from kms_course.instructor.grading.kernel_client import GradingKernelClient

        return GradingKernelClient

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.ipc_dir = tempfile.mkdtemp(prefix="kms-kernel-", dir=connection_parent())
        self.connection_file = os.path.join(self.ipc_dir, "kernel.json")
        self.ip = os.path.join(self.ipc_dir, "ipc")

    async def _async_wait(self, pollinterval: float = 0.01) -> None:
        # jupyter_client polls a killed kernel every 0.1 s; it is gone within a few ms, and
        # the grader waits for it at the end of every submission
        await super()._async_wait(pollinterval)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            self.remove_connection_dir()

    def remove_connection_dir(self) -> None:
        """Delete the connection folder and all in it (idempotent; never raises).

        The grader calls it after every submission, also when the kernel died:
        jupyter_client cleans up only in ``shutdown_kernel``, which a dead kernel skips, and
        a jailed kernel can write into this folder (found by a hostile-student trial: files
        written there before ``os.kill(0, 9)`` stayed on the grader's disk). Folders the
        kernel made unreadable are opened up first.
        """

        def open_up(function: Any, path: str, _error: Any) -> None:
            link = os.path.islink(path)  # a link is removed, never followed (chmod would)
            with contextlib.suppress(OSError):
                if not link:
                    os.chmod(path, 0o700)
            with contextlib.suppress(OSError):
                if not link and os.path.isdir(path):
                    shutil.rmtree(path, onerror=open_up)
                else:
                    os.unlink(path)

        if os.path.lexists(self.ipc_dir):
            shutil.rmtree(self.ipc_dir, onerror=open_up)


class ZygoteKernelManager(IpcKernelManager):
    """An :class:`IpcKernelManager` that starts its kernel through the zygote (in a jail when
    :attr:`jail_spec` is set; see :func:`jailed`)."""

    jail_spec: JailSpec | None = None

    def close_jail(self) -> None:
        """End this kernel's jail, if it has one (every process in it is killed)."""
        if isinstance(self.provisioner, ZygoteProvisioner):
            self.provisioner.close_jail()

    async def _async_pre_start_kernel(self, **kw: Any):
        if self.provisioner is None:
            self.provisioner = ZygoteProvisioner(
                kernel_id=self.kernel_id or kw.get("kernel_id") or "", kernel_spec=self.kernel_spec, parent=self
            )
        return await super()._async_pre_start_kernel(**kw)


@dataclass(frozen=True)
class JailSpec:
    """What a jailed kernel may see and use: see
    :class:`kms_course.instructor.grading.jail.Jail`."""

    #: answers on the listening socket made inside the jail, for this submission alone
    #: (:meth:`kms_course.instructor.grading.sandbox.GradingServer.channel`); owns it
    serve: Callable[[socket.socket], None]
    limits: jail.JailLimits
    trees: tuple[str, ...]
    secrets: tuple[str, ...]

    def open(self, connection_dir: str) -> jail.Jail:
        """Start the jail for a kernel whose connection folder is ``connection_dir``."""
        return jail.Jail(
            trees=map(Path, self.trees),
            secrets=map(Path, self.secrets),
            connection_dir=connection_dir,
            limits=self.limits,
        ).start()


def jailed(spec: JailSpec) -> type[ZygoteKernelManager]:
    """A :class:`ZygoteKernelManager` class whose kernels start inside a jail built from
    ``spec`` (nbclient takes a kernel manager class, not an instance)."""
    return type("JailedKernelManager", (ZygoteKernelManager,), {"jail_spec": spec})


def _zygote_env() -> dict[str, str]:
    """The zygote's own environment: only what Python needs, none of the grader's settings."""
    keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "VIRTUAL_ENV", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    # as in every grading kernel's environment (GradingServer.kernel_env): the boto3 session
    # the zygote warms up (warm_default_session) must read no AWS config of the grader's
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true")
    return env


def _child(request: dict) -> None:
    """In the forked child: become a fresh IPython kernel (never returns)."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        if not request.get("jail"):
            jail.die_with_parent()  # a jailed kernel dies with its jail instead
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 65536)  # nothing of the zygote's (its pipes to the worker) stays open
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if not request.get("jail"):  # as a new Python would (the zygote itself runs with -I)
            extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
            sys.path[:0] = extra
        sys.argv = ["ipykernel_launcher", *request["argv"]]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance(argv=request["argv"])
        code = 0
    finally:
        os._exit(code)


def _hand_over_listener() -> None:
    """Inside the jail: make its sandbox listener and send it to the worker over the handoff
    socket (``SCM_RIGHTS``, https://docs.python.org/3/library/socket.html#socket.send_fds)."""
    listener = jail.open_sandbox_listener()
    handoff = socket.socket(fileno=_HANDOFF_FD)
    try:
        socket.send_fds(handoff, [b"L"], [listener.fileno()])
    finally:
        handoff.detach()  # the fd stays the zygote's; the kernel closes it with the rest
        listener.close()


def _join_jail(request: dict, join_pid: bool) -> None:
    """In a forked child: enter the request's jail, apply its limits, hand its sandbox listener
    to the worker (:func:`kms_course.instructor.grading.jail.enter`)."""
    jail.enter(request["jail"]["holder"], request["jail"]["uid"], join_pid=join_pid)
    jail.apply_limits(jail.JailLimits(**request["jail"]["limits"]))
    _hand_over_listener()


def _jailed_child(request: dict, report: int) -> None:
    """In the forked child: join the jail, hand its sandbox listener to the worker, fork the
    kernel inside it, write its pid (as the zygote sees it) or the reason it failed to
    ``report``, and exit (never returns)."""
    code = 1
    try:
        try:
            _join_jail(request, join_pid=True)
        except Exception as error:  # noqa: BLE001 (reported to the grader)
            os.write(report, f"cannot join the jail: {error}\n".encode())
            return
        pid = os.fork()
        if pid == 0:
            os.close(report)
            _child(request)
        os.write(report, f"{pid}\n".encode())
        code = 0
    finally:
        os._exit(code)


def _jailed_kernel(request: dict, report: int) -> None:
    """In a child forked into the jail's PID namespace (as root): join the jail's other
    namespaces, apply its limits, hand its sandbox listener to the worker and become the kernel,
    or write why not to ``report`` and exit (never returns). ``report`` closes when the kernel
    starts (:func:`_child` closes every inherited file), which tells the zygote that the join
    worked."""
    try:
        _join_jail(request, join_pid=False)
    except Exception as error:  # noqa: BLE001 (reported to the grader)
        os.write(report, f"cannot join the jail: {error}\n".encode())
        os._exit(1)
    _child(request)


def _spawn_as_root(request: dict) -> str:
    """Fork the kernel straight into its jail (one fork, no launcher); its pid, or why not."""
    read, write = os.pipe()
    try:
        with jail.children_born_in(request["jail"]["holder"]):
            pid = os.fork()
            if pid == 0:
                os.close(read)
                _jailed_kernel(request, write)
    except OSError as error:
        os.close(read)
        return f"cannot join the jail: {error}"
    finally:
        os.close(write)
    with os.fdopen(read, "rb") as answer:
        failure = answer.readline().decode(errors="replace").strip()
    return failure or str(pid)


def _spawn(request: dict) -> str:
    """Fork a kernel for ``request`` (in its jail if it names one); its pid, or why not."""
    if not request.get("jail"):
        pid = os.fork()
        if pid == 0:
            _child(request)
        return str(pid)
    if os.geteuid() == 0:
        return _spawn_as_root(request)
    # an ordinary user joins the jail's user namespace, which cannot be left again: a launcher
    # joins it and forks the kernel into the jail
    read, write = os.pipe()
    if os.fork() == 0:
        os.close(read)
        _jailed_child(request, write)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        line = answer.readline().decode(errors="replace").strip()
    return line or "the jailed kernel's launcher died"


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
    """The zygote's loop: preload, then fork a kernel for each JSON request line on stdin.

    Its arguments are the file descriptors of its connection to the process that started it
    and, when it serves every worker of the machine (:func:`shared`), of its listening socket.
    """
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    for name in OPTIONAL_PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 (optional: the kernel imports it itself if needed)
            pass
    _warm_tracebacks()
    from kms_course.sandbox.start import warm_default_session

    warm_default_session()
    # Keep the preloaded objects out of every kernel's garbage collections: without this the
    # first collection in each child walks (and copies, page by page) the whole inherited heap
    # (https://docs.python.org/3/library/gc.html#gc.freeze).
    import gc

    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # kernels are reaped automatically,
    jail.become_subreaper()  # jailed ones too, whose launcher exits at once (they'd go to init)
    owner = socket.socket(fileno=int(sys.argv[1]))
    listener = socket.socket(fileno=int(sys.argv[2])) if len(sys.argv) > 2 else None
    owner.sendall(b"ready\n")
    _serve(owner, listener)


def _serve(owner: socket.socket, listener: socket.socket | None) -> None:
    """Answer each request line of each connection with a kernel's pid or why not, until the
    owner's connection closes."""
    import selectors

    global _HANDOFF_FD
    selector = selectors.DefaultSelector()
    pending: dict[socket.socket, bytes] = {owner: b""}
    selector.register(owner, selectors.EVENT_READ)
    if listener is not None:
        selector.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            conn = key.fileobj
            if conn is listener:
                client, _ = listener.accept()
                pending[client] = b""
                selector.register(client, selectors.EVENT_READ)
                continue
            try:
                data = conn.recv(1 << 20)
                pending[conn] += data
                while data and b"\n" in pending[conn]:
                    line, pending[conn] = pending[conn].split(b"\n", 1)
                    _HANDOFF_FD = conn.fileno()
                    conn.sendall((_spawn(json.loads(line)) + "\n").encode())
            except (OSError, ValueError):  # that worker is gone, or sent nonsense
                data = b""
            if not data:
                if conn is owner:
                    return
                selector.unregister(conn)
                del pending[conn]
                conn.close()


if __name__ == "__main__":
    main()
