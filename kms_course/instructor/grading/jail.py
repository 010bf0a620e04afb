"""The grading jail: one bubblewrap sandbox per submission, joined by the kernel the zygote forks.

Every grading kernel runs inside its own jail, so nothing a submission does reaches the grader, the
other kernels or the next run:

* **bubblewrap builds the jail** (https://github.com/containers/bubblewrap, ``man bwrap``): new
  PID, mount, IPC, network, UTS and cgroup namespaces; run by an ordinary user also a user
  namespace with no further ones inside (``--disable-userns``); run by root, the kernel instead
  runs as an unprivileged user of its own worker (:func:`jail_uid`); a root file system holding only a
  read-only view of the system's ``/usr``, a few ``/etc`` files, the Python installation and the
  course package with its ``checks`` hidden, a ``/proc`` of its own PID namespace, a minimal
  ``/dev``, size-limited private ``/tmp`` and ``HOME`` and the kernel's own connection folder.
  Nothing else of the machine is there: not the master notebooks, not the course's
  ``notebooks/``, not ``--out``, not other submissions, not the real ``HOME``. Its network
  namespace has only a loopback interface, and on it one listening socket, ``127.0.0.1:4566``,
  the only way out: it is made inside the jail (:func:`open_sandbox_listener`) and handed to the
  grading worker (``SCM_RIGHTS``, https://man7.org/linux/man-pages/man7/unix.7.html), whose
  sandbox server answers on it for this submission alone. The jail's first process is a shell
  that only waits (it holds the namespaces).
* **the kernel joins it.** So that a kernel still starts in a few milliseconds, it is not a new
  Python inside bubblewrap but a ``fork()`` of the worker's preloaded zygote
  (:mod:`kms_course.instructor.grading.zygote`): the child enters the jail's namespaces with
  ``setns(2)`` and changes its root to the jail's, the way ``nsenter(1)`` does
  (https://man7.org/linux/man-pages/man2/setns.2.html), then drops every capability and sets
  ``no_new_privs`` as bubblewrap does for its own command, then applies the resource limits
  (:func:`apply_limits`), and forks the kernel, which lives in the jail's PID namespace.
* **nothing outlives it.** The jail ends when its first process does; the kernel then kills every
  process left in the PID namespace (https://man7.org/linux/man-pages/man7/pid_namespaces.7.html),
  whatever it did (double fork, ``setsid``). :meth:`Jail.close` ends it after each submission, and
  bubblewrap's ``--die-with-parent`` ends it if the grading worker dies.

What the jail does not do: it does not limit CPU share or memory across all of a jail's processes
as a cgroup would (each process gets ``RLIMIT_AS``, the jail ``RLIMIT_NPROC`` processes), and it
relies on the Linux kernel's namespaces being sound.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


#: Where the jail sees its HOME (private, writable, gone with the jail).
HOME = "/home/student"
#: Inside the jail, the address its sandbox server answers on (:func:`open_sandbox_listener`).
SANDBOX_PORT = 4566
SANDBOX_URL = f"http://127.0.0.1:{SANDBOX_PORT}"
#: The /etc files a Python kernel reads; nothing else of /etc is visible.
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/localtime",
    "/etc/mime.types",
)
MiB = 1024 * 1024
#: Jailed kernels of a grader running as root run as JAIL_UID_BASE + the worker's PID: user IDs
#: no account uses, one per worker, so each jail's process limit counts only its own processes.
JAIL_UID_BASE = 2_000_000_000

INSTALL_HINT = (
    "the grading jail needs bubblewrap: on Debian/Ubuntu run "
    "`sudo apt-get install bubblewrap`, or grade with --no-jail (not isolated: only for "
    "submissions you trust)"
)


@dataclass(frozen=True)
class JailLimits:
    """Resource limits of one submission's jail.

    Attributes:
        memory_mib: address space of each process (``RLIMIT_AS``), MiB.
        processes: processes and threads of the jail together (``RLIMIT_NPROC``, counted per
            user namespace by Linux 5.14 and later).
        file_mib: largest file a process may write (``RLIMIT_FSIZE``), MiB.
        cpu_seconds: CPU time of each process (``RLIMIT_CPU``), seconds.
        tmp_mib: size of each of the private ``/tmp`` and ``HOME`` (tmpfs), MiB.
        sandbox_request_mib: largest request the jail may send to its KMS/S3 sandbox, MiB.
        sandbox_total_mib: all request bodies of one submission together, MiB.

    Source: https://man7.org/linux/man-pages/man2/getrlimit.2.html
    """

    memory_mib: int = 3072
    processes: int = 128
    file_mib: int = 64
    cpu_seconds: int = 300
    tmp_mib: int = 64
    sandbox_request_mib: int = 16
    sandbox_total_mib: int = 128


def unavailable() -> str | None:
    """Why the jail cannot run on this machine, or None when it can.

    Tries a tiny bubblewrap sandbox with a new user namespace (about 5 ms), so a kernel that
    forbids unprivileged user namespaces is found before any student code runs.
    """
    if sys.platform != "linux":
        return "the grading jail needs Linux namespaces; " + INSTALL_HINT
    if shutil.which("bwrap") is None:
        return f"bwrap is not installed: {INSTALL_HINT}"
    try:
        probe = subprocess.run(
            ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--ro-bind", "/", "/",
             "--", "/bin/true"],
            capture_output=True, text=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap did not run ({error}): {INSTALL_HINT}"
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        return (f"bubblewrap cannot create a sandbox here ({reason}); user namespaces may be "
                "disabled (sysctl kernel.unprivileged_userns_clone=1, or "
                f"user.max_user_namespaces > 0): {INSTALL_HINT}")
    return None


def _package_dir() -> Path:
    import kms_course

    return Path(kms_course.__file__).resolve().parent


def python_trees() -> list[Path]:
    """The folders a kernel needs to read: the Python installation, the virtual environment, and
    the course package (which an editable install keeps outside the environment)."""
    trees: list[Path] = []
    for raw in (sys.base_prefix, sys.prefix, str(_package_dir())):
        path = Path(raw).resolve()
        if not any(path == t or t in path.parents for t in trees):
            trees = [t for t in trees if path not in t.parents] + [path]
    return trees


def secret_paths(extra: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """What must never be visible in a jail even where it lies inside a visible folder: the
    check modules, the course's ``notebooks/``, the real HOME, and ``extra`` (masters, --out,
    the submissions)."""
    package = _package_dir()
    paths = [package / "lessons" / "checks", package.parent / "notebooks", Path.home(), *map(Path, extra)]
    return [p.resolve() for p in paths]


def view_args(trees: Iterable[Path], secrets: Iterable[Path]) -> list[str]:
    """bubblewrap options for the jail's read-only view of the machine.

    Each of ``trees`` is bound read-only at its own path; each of ``secrets`` that lies inside one
    of them is covered (an empty tmpfs over a folder, ``/dev/null`` over a file), so the jail sees
    it empty. Covering mounts cannot be removed from inside: the jail holds no capability.
    """
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC_FILES:
        if os.path.exists(name):
            args += ["--ro-bind", name, name]
    trees = list(trees)
    parents = sorted({p for t in trees for p in t.parents if p != Path("/")}, key=lambda p: len(p.parts))
    for parent in parents:  # readable by the kernel's own user, whatever the real folder allows
        args += ["--perms", "0755", "--dir", str(parent)]
    for tree in trees:
        args += ["--ro-bind", str(tree), str(tree)]
    for secret in secrets:
        inside = any(secret == t or t in secret.parents for t in trees)
        if not inside or not secret.exists():
            continue
        if secret.is_dir():
            args += ["--tmpfs", str(secret), "--remount-ro", str(secret)]
        else:
            args += ["--ro-bind", "/dev/null", str(secret)]
    return args


def _read_json(fd: int, timeout: float) -> dict:
    buffer = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buffer += chunk
        try:
            return json.loads(buffer)
        except ValueError:
            continue
    raise RuntimeError(f"bubblewrap did not report its sandbox ({buffer[:200]!r})")


class Jail:
    """One submission's jail (see the module's documentation).

    Args:
        trees: folders visible read-only (:func:`python_trees`).
        secrets: paths covered inside them (:func:`secret_paths`).
        connection_dir: the kernel's connection folder (its ZeroMQ sockets), visible read-write.
        limits: the jail's :class:`JailLimits`.

    Use :meth:`start`, then give :attr:`holder_pid` and :attr:`uid` to the zygote, and
    :meth:`close` when the submission ends.
    """

    def __init__(
        self,
        *,
        trees: Iterable[Path],
        secrets: Iterable[Path],
        connection_dir: str,
        limits: JailLimits,
    ):
        self.uid = jail_uid()
        self.connection_dir = connection_dir
        namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                      "--unshare-cgroup-try"]
        if os.geteuid() != 0:
            namespaces += ["--unshare-user", "--disable-userns", "--uid", str(self.uid),
                           "--gid", str(os.getegid())]
        # else: bubblewrap run as root makes the namespaces in the machine's own user namespace,
        # and the kernel drops to an unprivileged user of its own (``jail_uid``) as a daemon
        # dropping root does
        self.args = [
            "bwrap", *namespaces, "--die-with-parent", "--new-session",
            "--hostname", "grading",
            # the private /tmp and HOME first: a course installed under /tmp (a clone there, a
            # virtual environment there) is then bound over it, not hidden by it
            "--size", str(limits.tmp_mib * MiB), "--perms", "1777", "--tmpfs", "/tmp",
            "--perms", "0755", "--dir", str(Path(HOME).parent),
            "--size", str(limits.tmp_mib * MiB), "--perms", "0700", "--tmpfs", HOME,
            *view_args(trees, secrets),
            "--proc", "/proc", "--dev", "/dev",
            "--bind", connection_dir, connection_dir,
            "--clearenv", "--setenv", "HOME", HOME,
        ]
        self.limits = limits
        self.process: subprocess.Popen | None = None
        self.holder_pid: int | None = None

    def start(self, timeout: float = 20.0) -> Jail:
        """Build the jail and wait until it is ready.

        Its first process, a shell, says ``ready`` once bubblewrap has set the jail up, then
        waits on its standard input (a pipe of this process), so the jail ends at the latest
        when this process does.

        Raises:
            RuntimeError: bubblewrap failed or did not answer within ``timeout`` seconds.
        """
        read_info, write_info = os.pipe()
        command = [*self.args, "--info-fd", str(write_info), "--", "/bin/sh", "-c",
                   "echo ready; read -r _"]
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, pass_fds=(write_info,), start_new_session=True,
            )
        finally:
            os.close(write_info)
        if os.geteuid() == 0:  # the kernel's own user must reach its connection files
            for path in (self.connection_dir, *Path(self.connection_dir).iterdir()):
                os.chown(path, self.uid, self.uid)
        try:
            info = _read_json(read_info, timeout)
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            if not ready or self.process.stdout.readline().strip() != b"ready":
                raise RuntimeError("the jail did not start: " + self._stderr())
            init = int(info["child-pid"])
            with open(f"/proc/{init}/task/{init}/children") as children:
                self.holder_pid = int(children.read().split()[0])
        except BaseException:
            self.close()
            raise
        finally:
            os.close(read_info)
        return self

    def _stderr(self) -> str:
        if self.process is None:
            return ""
        self.process.kill()
        try:
            _, err = self.process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            return "no answer"
        return (err or b"").decode(errors="replace").strip()[-500:]

    def close(self) -> None:
        """End the jail: every process in it is killed. Safe to call twice."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)  # bwrap and the jail's init: the PID
        except ProcessLookupError:  # namespace dies with its init
            pass
        process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def die_with_parent() -> None:
    """Linux: SIGKILL this process when the thread that started it exits (prctl
    PR_SET_PDEATHSIG), so a worker never outlives the grader, nor a zygote or an unjailed
    kernel its worker (https://man7.org/linux/man-pages/man2/prctl.2.html)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def become_subreaper() -> None:
    """Linux: orphaned descendants of this process become its children (prctl
    PR_SET_CHILD_SUBREAPER), so a jailed kernel whose launcher exited is reaped by the zygote at
    once, not left a zombie under the machine's init
    (https://man7.org/linux/man-pages/man2/prctl.2.html)."""
    _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


# --- In the zygote's forked child -----------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_NS_GET_USERNS = 0xB701  # ioctl_ns(2)
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _setns(fd: int, what: str) -> None:
    _check(_libc.setns(fd, 0), f"setns {what}")


def _drop_bounding_set() -> None:
    for cap in range(64):
        held = _libc.prctl(_PR_CAPBSET_READ, cap, 0, 0, 0)
        if held < 0:  # EINVAL: past the last capability
            break
        if held:
            _check(_libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability bounding set")


def _drop_privileges() -> None:
    """Drop every capability (bounding, ambient, effective, permitted, inheritable) and set
    ``no_new_privs``, as bubblewrap does for its own command
    (https://man7.org/linux/man-pages/man7/capabilities.7.html)."""
    _drop_bounding_set()
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def jail_uid() -> int:
    """The user a jailed kernel runs as: with root, an unprivileged user ID of this worker's own
    (so the process limit counts only its jail; Linux never applies ``RLIMIT_NPROC`` to root),
    otherwise the grader's own user, mapped into the jail's user namespace."""
    if os.geteuid() == 0:
        return JAIL_UID_BASE + os.getpid()
    return os.geteuid()


_CLONE_NEWPID = 0x20000000


@contextlib.contextmanager
def children_born_in(holder_pid: int) -> Iterator[None]:
    """As root: the caller's children forked inside this block are born in the PID namespace of
    the jail whose first process is ``holder_pid``; the caller itself stays where it is.

    ``setns(2)`` with a PID namespace changes only where the caller's next children go
    (``/proc/self/ns/pid_for_children``), so a root zygote can fork a kernel straight into the
    jail and then point its later children back at its own namespace, with no launcher process
    in between (https://man7.org/linux/man-pages/man2/setns.2.html). The child then joins the
    jail's other namespaces itself (:func:`enter` with ``join_pid=False``).

    Raises:
        OSError: the jail ended, or the caller is not root.
    """
    own = os.open("/proc/self/ns/pid", os.O_RDONLY)
    target = os.open(f"/proc/{holder_pid}/ns/pid", os.O_RDONLY)
    try:
        _check(_libc.setns(target, _CLONE_NEWPID), "setns pid")
        try:
            yield
        finally:
            _check(_libc.setns(own, _CLONE_NEWPID), "setns back to the own pid namespace")
    finally:
        os.close(target)
        os.close(own)


def enter(holder_pid: int, uid: int, join_pid: bool = True) -> None:
    """Move the calling (single-threaded) process into the jail whose first process is
    ``holder_pid``.

    Its children are then born in the jail's PID namespace; the caller itself stays outside it
    and should only fork the kernel and exit. With ``join_pid=False`` (as root, for a process
    already born in the jail's PID namespace by :func:`children_born_in`) that namespace is left
    as it is, and the caller itself may become the kernel. As root, the caller joins the jail's namespaces
    (which bubblewrap made as root), then becomes the unprivileged user ``uid`` with no groups.
    As an ordinary user, it joins the user namespace owning the jail's other namespaces first
    (``NS_GET_USERNS``, https://man7.org/linux/man-pages/man2/ioctl_ns.2.html), then those, then
    the command's own nested one.
    Either way it ends with no capability and ``no_new_privs``.

    Raises:
        OSError: a namespace could not be joined (the jail ended, or no permission).
    """
    base = f"/proc/{holder_pid}"
    names = ("mnt", "ipc", "net", "uts", "cgroup", "pid")[: None if join_pid else -1]
    as_root = os.geteuid() == 0
    fds = {name: os.open(f"{base}/ns/{name}", os.O_RDONLY) for name in names}
    root = os.open(f"{base}/root", os.O_RDONLY)
    users: list[int] = []
    if not as_root:
        # bubblewrap's --disable-userns puts the command in a user namespace nested in the one
        # that owns the other namespaces: join the owner first, the command's last
        users = [fcntl.ioctl(fds["mnt"], _NS_GET_USERNS), os.open(f"{base}/ns/user", os.O_RDONLY)]
    try:
        if users:
            _setns(users[0], "user")
        for name in names:
            _setns(fds[name], name)
            if name == "mnt":
                os.fchdir(root)
                os.chroot(".")
                os.chdir("/")
        if users and os.fstat(users[1]).st_ino != os.fstat(users[0]).st_ino:
            _setns(users[1], "user")
        if as_root:
            os.chown(HOME, uid, uid)
            _drop_bounding_set()
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        _drop_privileges()
    finally:
        for fd in (*fds.values(), root, *users):
            os.close(fd)


def apply_limits(limits: JailLimits) -> None:
    """Set the jail's resource limits on the calling process (inherited by its children).

    Source: https://man7.org/linux/man-pages/man2/getrlimit.2.html
    """
    wanted = {
        resource.RLIMIT_AS: limits.memory_mib * MiB,
        resource.RLIMIT_NPROC: limits.processes,
        resource.RLIMIT_FSIZE: limits.file_mib * MiB,
        resource.RLIMIT_CPU: limits.cpu_seconds,
        resource.RLIMIT_CORE: 0,
    }
    for which, value in wanted.items():
        resource.setrlimit(which, (value, value))


def open_sandbox_listener() -> socket.socket:
    """Inside the jail's network namespace: the listening TCP socket at ``127.0.0.1:4566`` that
    the grader's sandbox server answers on (the caller sends it to the grader, and closes it).

    Made inside the jail, the socket belongs to the jail's network namespace, so the kernel
    reaches it as a local address while the grader serves it from outside; no relay process and
    no copy of the traffic are needed
    (https://man7.org/linux/man-pages/man7/network_namespaces.7.html). Nothing else in the jail
    can bind the address while it is open.

    Raises:
        OSError: the address is taken, or the jail has no loopback interface.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", SANDBOX_PORT))
        listener.listen(64)
    except BaseException:
        listener.close()
        raise
    return listener
