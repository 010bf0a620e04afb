"""The ``moto-server`` backend: a moto server on 127.0.0.1 with the course's real-KMS rules.

``kms-course server start`` runs ``python -m kms_course.sandbox.server`` in the background, waits
until it answers, and records its address and identity in ``~/.kms-course/server.json`` (or
``$KMS_COURSE_HOME/server.json``). ``start_sandbox(backend="moto-server")`` finds the server
through that file, or through ``KMS_COURSE_SERVER_URL`` when set (a loopback address only).

**State that survives.** The server started by ``kms-course server start`` keeps its data (keys,
aliases, key policies, grants, S3 buckets and objects: every moto backend in use) in
``server-state.pickle`` in the same folder. After each request that may change something, the
data is pickled under a lock and, if it changed, written to a temporary file, flushed to disk
and renamed over the old one (:mod:`kms_course.atomic`), before the answer is sent: a request
that got an answer is on disk, and a kill -9 or a power cut at any moment leaves the previous or
the new state, never a mix. The next ``start`` loads it, on the previous port when that is free.
``kms-course server reset`` empties it on purpose. moto itself has no persistence (its recorder
replays requests but not the random key material, https://docs.getmoto.org/en/latest/docs/configuration/recorder/index.html);
pickling the backends is the way moto's maintainers suggest (https://github.com/getmoto/moto/issues/1069).
The grader's in-process servers (:class:`ThreadedServer`, :func:`make_app`) never persist.

**Identity before signals.** Like PostgreSQL's ``postmaster.pid``
(https://www.postgresql.org/docs/current/server-start.html), ``server.json`` holds the process id
with that process's start time and command line, plus a random token that only that server
answers on ``/kms-course/identity``. ``stop`` and ``status`` check them before believing or
signalling anything: a record whose process id now belongs to another program is reported as
stale and removed, and that program is left alone. ``start`` and ``stop`` hold an exclusive lock
(``server.lock``, :func:`fcntl.flock`), and the server process itself holds ``server-state.lock``
for as long as it runs, so two servers never share one state folder.

Source: moto's server mode, https://docs.getmoto.org/en/latest/docs/server_mode.html.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import pickle
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kms_course.atomic import atomic_write, atomic_write_text

ENV_URL = "KMS_COURSE_SERVER_URL"
ENV_HOME = "KMS_COURSE_HOME"
ENV_TOKEN = "KMS_COURSE_SERVER_TOKEN"
HOST = "127.0.0.1"
#: Path the persistent server answers with its token (``{"token": str, "pid": int}``).
IDENTITY_PATH = "/kms-course/identity"
#: Version of the layout of ``server-state.pickle``.
STATE_FORMAT = 1
RESTART_HINT = "start it again in a terminal with `kms-course server start`"


class ServerError(RuntimeError):
    """The course server could not be started, found or stopped; the message says what to do."""


# --- where things are ------------------------------------------------------------------------


def state_dir() -> Path:
    """Folder for the server's files: ``$KMS_COURSE_HOME`` or ``~/.kms-course``."""
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".kms-course")


def state_file() -> Path:
    """Path of the JSON record of the running server.

    Keys: ``url`` (str), ``pid`` (int), ``port`` (int), ``token`` (str), ``started`` (float,
    the process's start time in seconds since the epoch) and ``cmdline`` (list of str).
    """
    return state_dir() / "server.json"


def data_file() -> Path:
    """Path of the server's saved data (``server-state.pickle``)."""
    return state_dir() / "server-state.pickle"


def _lock_file() -> Path:
    return state_dir() / "server.lock"


def _data_lock_file() -> Path:
    return state_dir() / "server-state.lock"


def _port_file() -> Path:
    return state_dir() / "server.port"


def _ensure_state_dir() -> Path:
    folder = state_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(folder))
        with open(folder / ".write-test", "w"):
            pass
        (folder / ".write-test").unlink()
    except OSError as error:
        raise ServerError(
            f"Cannot use {folder} for the server's files ({error.strerror or error}): "
            f"set {ENV_HOME} to a folder you can write."
        ) from None
    return folder


@contextlib.contextmanager
def _exclusive(path: Path, timeout: float = 60.0) -> Iterator[None]:
    """Hold an exclusive :func:`fcntl.flock` on ``path``, waiting up to ``timeout`` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServerError(
                        f"Another `kms-course server` command has held {path} for {timeout:.0f} s; "
                        "wait for it to finish and try again."
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock


# --- ports and probes ------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (int)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    """True if something already listens on ``port`` of 127.0.0.1 (a bind test, no timeout).

    ``SO_REUSEADDR`` is set, as the server sets it, so a port that only has connections in
    TIME_WAIT counts as free (https://man7.org/linux/man-pages/man7/socket.7.html).
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
        return False


def is_loopback_url(url: str) -> bool:
    """True if ``url``'s host is ``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    import ipaddress

    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback(url: str, what: str = ENV_URL) -> str:
    """Return ``url`` without a trailing slash if it is a loopback ``http://`` URL.

    Raises:
        ServerError: any other address; nothing is contacted.
    """
    if not url.startswith(("http://", "https://")) or not is_loopback_url(url):
        raise ServerError(
            f"{what}={url!r} is not a loopback address: the course server runs on 127.0.0.1 "
            f"(e.g. http://127.0.0.1:5000); unset {what} or fix it."
        )
    return url.rstrip("/")


def answers(url: str, timeout: float = 0.5) -> bool:
    """True if a moto server answers at ``url`` within ``timeout`` seconds (loopback only)."""
    if not is_loopback_url(url):
        return False
    try:
        with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=timeout) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def identity(url: str, timeout: float = 1.0) -> dict | None:
    """What the persistent server at ``url`` says about itself (``{"token", "pid"}``), or None."""
    if not is_loopback_url(url):
        return None
    try:
        with urllib.request.urlopen(f"{url}{IDENTITY_PATH}", timeout=timeout) as r:
            answer = json.loads(r.read())
        return answer if isinstance(answer, dict) else None
    except (OSError, urllib.error.URLError, ValueError):
        return None


# --- the record and the process it names ----------------------------------------------------


def _read_state() -> dict | None:
    try:
        state = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("url"), str):
        return None
    return state


def _process_identity(pid: int) -> tuple[float, list[str]] | None:
    """(start time in seconds since the epoch, command line) of process ``pid``, or None."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process.create_time(), process.cmdline()
    except (psutil.Error, OSError, ValueError):
        return None


def _is_server_cmdline(cmdline: list[str], port: Any = None) -> bool:
    if "kms_course.sandbox.server" not in cmdline:
        return False
    return port is None or str(port) in cmdline


def recorded_process_is_server(state: dict) -> bool:
    """True if the process ``state["pid"]`` is the course server that ``state`` records.

    The process must exist, have the recorded start time (to 10 ms) and the recorded command line
    (a record without them, from an older version, needs ``kms_course.sandbox.server`` and its port
    on the command line). A process id reused by another program fails these checks.
    """
    try:
        pid = int(state["pid"])
    except (KeyError, TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    found = _process_identity(pid)
    if found is None:
        return False
    started, cmdline = found
    if "started" in state:
        try:
            same_start = abs(float(state["started"]) - started) < 0.01
        except (TypeError, ValueError):
            return False
        return same_start and cmdline == state.get("cmdline")
    return _is_server_cmdline(cmdline, state.get("port"))


@dataclass
class Status:
    """What ``server status`` found.

    Attributes:
        state: ``"running"``, ``"none"`` (no record), ``"stale"`` (the recorded process is gone
            or is another program), ``"foreign"`` (the recorded port is held by another program)
            or ``"unresponsive"`` (the recorded server process exists but does not answer).
        url: the recorded address, or None.
        message: one line for the user.
    """

    state: str
    url: str | None
    message: str


def inspect() -> Status:
    """Check the record against the process and the port, without changing anything."""
    state = _read_state()
    if state is None:
        if state_file().exists():
            return Status("stale", None, f"{state_file()} is unreadable: it will be replaced.")
        return Status("none", None, "No course moto server is running.")
    url = state["url"]
    if not recorded_process_is_server(state):
        port = state.get("port")
        if isinstance(port, int) and port_in_use(port):
            return Status(
                "foreign", url,
                f"No course moto server is running; port {port} recorded for it is now held by "
                "another program.",
            )
        return Status(
            "stale", url,
            f"No course moto server is running; the record of process {state.get('pid')} is stale.",
        )
    token = state.get("token")
    if token is None:
        alive = answers(url)
    else:
        alive = (identity(url) or {}).get("token") == token
    if alive:
        return Status("running", url, f"Course moto server running at {url}")
    return Status(
        "unresponsive", url,
        f"The course moto server process {state['pid']} exists but does not answer at {url}.",
    )


def running_url() -> str | None:
    """URL of the running course server (``"http://127.0.0.1:PORT"``), or None if none answers.

    ``KMS_COURSE_SERVER_URL``, when set, is used instead of the record.

    Raises:
        ServerError: ``KMS_COURSE_SERVER_URL`` is not a loopback address (it is not contacted).
    """
    url = os.environ.get(ENV_URL)
    if url:
        url = require_loopback(url)
        return url if answers(url) else None
    status = inspect()
    return status.url if status.state == "running" else None


def absence_message() -> str:
    """Why no server is available, in one line (for the sandbox's error)."""
    status = inspect()
    if status.state == "foreign":
        return status.message + " "
    return ""


# --- start, stop, reset ---------------------------------------------------------------------


def _previous_port() -> int | None:
    try:
        port = int(_port_file().read_text().strip())
    except (OSError, ValueError):
        return None
    return port if 1024 <= port <= 65535 else None


def start(port: int | None = None, timeout: float = 30.0) -> str:
    """Start the course server in the background (or find the one running) and return its URL.

    Exclusive: concurrent calls (in any process) leave one server; the later ones return its URL.
    The server loads the data saved by the previous one (see the module docstring).

    Args:
        port: TCP port on 127.0.0.1, 1-65535; default: the previous server's port when it is
            free, else a free one.
        timeout: seconds to wait for the server to answer.

    Returns:
        The server URL, e.g. ``"http://127.0.0.1:50123"``.

    Raises:
        ServerError: ``port`` out of range or in use by another program, the state folder is not
            writable, the saved data cannot be read, or the server did not answer within
            ``timeout``.
    """
    if port is not None and not 1 <= port <= 65535:
        raise ServerError(f"Port {port} is not a TCP port: choose one from 1024 to 65535.")
    _ensure_state_dir()
    with _exclusive(_lock_file()):
        status = inspect()
        if status.state == "running":
            return status.url
        if status.state == "unresponsive":
            raise ServerError(
                f"{status.message} Stop it with `kms-course server stop`, then start again."
            )
        state_file().unlink(missing_ok=True)  # stale or foreign: the record names no server
        if port is None:
            previous = _previous_port()
            port = previous if previous and not port_in_use(previous) else free_port()
        elif port_in_use(port):  # an HTTP probe could time out on a busy machine and miss it
            raise ServerError(f"Port {port} is already in use: choose another --port.")
        return _spawn(port, timeout)


def _spawn(port: int, timeout: float) -> str:
    url = f"http://{HOST}:{port}"
    token = secrets.token_hex(16)
    log_path = state_dir() / "server.log"
    with open(log_path, "ab") as log:
        log_start = log.tell()
        proc = subprocess.Popen(
            [sys.executable, "-m", "kms_course.sandbox.server", "--port", str(port), "--state", str(state_dir())],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(os.environ, **{ENV_TOKEN: token}),
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(_exit_message(proc.returncode, log_path, log_start))
        if (identity(url, timeout=0.5) or {}).get("token") == token:
            found = _process_identity(proc.pid)
            started, cmdline = found if found else (None, None)
            record = {"url": url, "pid": proc.pid, "port": port, "token": token,
                      "started": started, "cmdline": cmdline}
            atomic_write_text(state_file(), json.dumps(record))
            atomic_write_text(_port_file(), str(port))
            return url
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise ServerError(f"The server did not answer on {url} within {timeout:.0f} s; see {log_path}.")


def _exit_message(code: int, log_path: Path, offset: int) -> str:
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            lines = [line.strip() for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    said = [line[len("kms-course server: "):] for line in lines if line.startswith("kms-course server: ")]
    if said:
        return said[-1]
    return f"The server exited at start (code {code}); see {log_path}."


def stop(timeout: float = 15.0) -> str:
    """Stop the server the record names, after checking it is the course server.

    Returns:
        ``"stopped"``; ``"none"`` (no record); or ``"stale"`` (the record named a process that
        is gone or is another program: the record is removed and nothing is signalled).

    Raises:
        ServerError: the server did not exit within ``timeout`` seconds of SIGTERM and SIGKILL.
    """
    if not state_dir().is_dir():
        return "none"
    _ensure_state_dir()
    with _exclusive(_lock_file()):
        state = _read_state()
        if state is None:
            existed = state_file().exists()
            state_file().unlink(missing_ok=True)
            return "stale" if existed else "none"
        if not recorded_process_is_server(state):
            state_file().unlink(missing_ok=True)
            return "stale"
        pid = int(state["pid"])
        if not _end_process(pid, timeout):
            raise ServerError(f"The course server (process {pid}) did not exit; end it with `kill -9 {pid}`.")
        state_file().unlink(missing_ok=True)
        return "stopped"


def _end_process(pid: int, timeout: float) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except psutil.TimeoutExpired:
            process.kill()  # the saved state is consistent at every instant
            process.wait(5)
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
    return True


def reset() -> str:
    """Empty the course server's data on purpose: the running server's and the saved file.

    Returns:
        ``"running"`` if a running server was emptied, else ``"saved"`` (only the file).

    Raises:
        ServerError: the running server refused or did not answer the reset.
    """
    _ensure_state_dir()
    with _exclusive(_lock_file()):
        status = inspect()
        if status.state == "running":
            request = urllib.request.Request(f"{status.url}/moto-api/reset", method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10):
                    pass
            except (OSError, urllib.error.URLError) as error:
                raise ServerError(f"The server at {status.url} did not reset ({error}).") from None
            return "running"
        data_file().unlink(missing_ok=True)
        return "saved"


# --- the apps ---------------------------------------------------------------------------------


#: Hosts whose moto service a dispatcher remembers (a request may send any Host header).
KNOWN_HOSTS = 64


def make_app():
    """The WSGI app: moto's dispatcher with the course rules installed (no persistence).

    moto finds a request's service from its host name anew for every request, by listing its
    own package folder and matching some 500 URL patterns (1/8 of a grading worker's CPU,
    measured with py-spy); this dispatcher remembers the answer for the first
    :data:`KNOWN_HOSTS` host names (the course sends four: KMS, S3, IAM, STS).
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from kms_course.sandbox import rules

    class Dispatcher(DomainDispatcherApplication):
        def __init__(self, create_app):
            super().__init__(create_app)
            self.known: dict[str | None, object] = {}

        def get_backend_for_host(self, host):  # called under the dispatcher's lock
            if host in self.known:
                return self.known[host]
            backend = super().get_backend_for_host(host)
            if len(self.known) < KNOWN_HOSTS:
                self.known[host] = backend
            return backend

    rules.install()
    return Dispatcher(create_backend_app)


def _lazy_key(spec: str) -> Any:
    import moto.kms.models as models

    return models.generate_private_key(spec)  # the course's lazy key once rules are installed


def _load_private_key(der: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(der, password=None)


class _StatePickler(pickle.Pickler):
    """Pickles moto's backends, including the private keys that plain pickle refuses:
    cryptography's key objects become PKCS#8 DER, and the course's lazy key pairs
    (``kms_course.sandbox.rules``) their key spec until first used."""

    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if cls.__qualname__.endswith("LazyPrivateKey") and cls.__module__ == "kms_course.sandbox.rules":
            inner = obj.__dict__.get("_key")
            if inner is None:
                return _lazy_key, (obj.__dict__["_key_spec"],)
            return _identity, (inner,)
        if cls.__module__.startswith("cryptography.") and hasattr(obj, "private_bytes"):
            from cryptography.hazmat.primitives import serialization

            der = obj.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return _load_private_key, (der,)
        return NotImplemented


def _identity(obj: Any) -> Any:
    return obj


def _dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    _StatePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


class StateStore:
    """moto's in-memory backends saved to and loaded from one file, atomically.

    Args:
        path: the data file (``server-state.pickle``).

    Attributes:
        saves: how many times the file was written; ``save_seconds``: total seconds spent
            pickling and writing; ``checks``: how many snapshots were taken.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._digest: bytes | None = None
        self._last: bytes | None = None
        self.saves = 0
        self.checks = 0
        self.save_seconds = 0.0
        self.skipped: set[str] = set()

    def snapshot(self) -> bytes:
        """Every moto backend in use (except moto's own API), pickled (bytes)."""
        from moto.core.base_backend import BackendDict

        parts = {}
        for backends in list(BackendDict._instances):
            if backends.service_name == "moto_api":
                continue
            for account, per_region in list(backends.items()):
                for region, backend in list(per_region.items()):
                    key = f"{backends.service_name}/{account}/{region}"
                    try:
                        parts[key] = _dumps(backend)
                    except Exception as error:  # a service the course does not use: not kept
                        if key not in self.skipped:
                            self.skipped.add(key)
                            print(f"kms-course server: not saving {key}: {error}", file=sys.stderr)
        return _dumps({"format": STATE_FORMAT, "moto": _moto_version(), "backends": parts})

    def save_if_changed(self) -> bool:
        """Write the snapshot if it differs from the last one written. Returns True if written.

        Raises:
            OSError: the file could not be written (disk full, read-only); the file on disk is
                then the previous state, whole.
        """
        began = time.perf_counter()
        data = self.snapshot()
        self.checks += 1
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if digest == self._digest:
            return False
        atomic_write(self.path, lambda f: f.write(data))
        _fsync_dir(self.path.parent)
        self._digest, self._last = digest, data
        self.saves += 1
        self.save_seconds += time.perf_counter() - began
        return True

    def load(self) -> int:
        """Load the saved backends into moto (after :func:`make_app`). Returns how many.

        Raises:
            ServerError: the file exists but cannot be read (another moto version, damage).
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as error:
            raise ServerError(f"Cannot read {self.path} ({error.strerror}).") from None
        try:
            count = self._restore(data)
        except Exception as error:
            raise ServerError(
                f"The saved server data {self.path} cannot be loaded ({type(error).__name__}: {error}); "
                "`kms-course server reset` starts empty (the keys in it are lost)."
            ) from None
        # Compare later snapshots with what this memory pickles to (a loaded object may pickle to
        # other bytes than the file's), so that a request changing nothing writes nothing.
        self._last = data
        self._digest = hashlib.blake2b(self.snapshot(), digest_size=16).digest()
        return count

    def rollback(self) -> None:
        """Put moto's memory back to the last state written (after a failed write)."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        if self._last is not None:
            self._restore(self._last)
        self._digest = hashlib.blake2b(self.snapshot(), digest_size=16).digest()

    @staticmethod
    def _restore(data: bytes) -> int:
        from moto.backends import get_backend

        outer = pickle.loads(data)
        if outer.get("format") != STATE_FORMAT:
            raise ValueError(f"format {outer.get('format')!r}, expected {STATE_FORMAT}")
        for key, blob in outer["backends"].items():
            service, account, region = key.split("/")
            get_backend(service)[account][region] = pickle.loads(blob)
        return len(outer["backends"])


def _moto_version() -> str:
    try:
        from importlib.metadata import version

        return version("moto")
    except Exception:
        return "unknown"


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (https://man7.org/linux/man-pages/man2/fsync.2.html)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _may_change(environ: dict) -> bool:
    """False for requests that never change moto's data: GET, HEAD and OPTIONS (S3 reads).

    KMS requests are all POST: even a read (GetPublicKey, Sign) may create a key pair on first
    use, so they are snapshotted and compared, and written only if something changed.
    """
    return environ.get("REQUEST_METHOD", "GET").upper() not in ("GET", "HEAD", "OPTIONS")


#: KMS operations that change no key, alias, policy or grant: only the sandbox's trail
#: (kms_course.sandbox.trail) and the key pairs a first use creates. When the disk is full they are
#: still answered, as AWS still answers when a CloudTrail delivery fails; what they changed stays in
#: memory and is written with the next save that succeeds.
READS = frozenset({
    "Decrypt", "Encrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateRandom", "Sign",
    "Verify", "GenerateMac", "VerifyMac", "DescribeKey", "GetKeyPolicy", "GetKeyRotationStatus",
    "GetPublicKey", "ListAliases", "ListGrants", "ListKeyPolicies", "ListKeyRotations", "ListKeys",
    "ListResourceTags", "ListRetirableGrants", "KmsCourseTrail",
})


def _kms_read(environ: dict) -> bool:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    return target.startswith("TrentService.") and target.split(".", 1)[1] in READS


class PersistentApp:
    """WSGI wrapper: one request at a time; after each one that may change data, the data is
    saved (:class:`StateStore`) before the answer leaves. Also answers :data:`IDENTITY_PATH`.

    A failed save (e.g. disk full) puts the data back to the last saved state and answers
    HTTP 500 (``KMSInternalException`` or S3's ``InternalError``) saying so.
    """

    def __init__(self, app: Any, store: StateStore, token: str):
        self.app = app
        self.store = store
        self.token = token
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any):
        if environ.get("PATH_INFO") == IDENTITY_PATH:
            body = json.dumps({"token": self.token, "pid": os.getpid()}).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        with self.lock:
            captured: list = []

            def capture(status, headers, exc_info=None):
                captured[:] = [status, headers]
                return lambda data: chunks.append(data)

            chunks: list[bytes] = []
            result = self.app(environ, capture)
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if _may_change(environ):
                try:
                    self.store.save_if_changed()
                except OSError as error:
                    if _kms_read(environ):  # nothing the student made can be lost: answer it
                        print(f"kms-course server: could not save the trail ({error.strerror or error})",
                              file=sys.stderr)
                        start_response(*captured)
                        return chunks
                    self.store.rollback()
                    message = (f"The course server could not save its data ({error.strerror or error}); "
                               "nothing was changed. Free some disk space and try again.")
                    print(f"kms-course server: {message}", file=sys.stderr)
                    return _internal_error(environ, start_response, message)
        start_response(*captured)
        return chunks


def _internal_error(environ: dict, start_response: Any, message: str) -> list[bytes]:
    """HTTP 500 in the request's protocol: KMS's JSON ``KMSInternalException``, else S3's XML
    ``InternalError`` (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html)."""
    from xml.sax.saxutils import escape

    if environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps({"__type": "KMSInternalException", "message": message}).encode()
        kind = "application/x-amz-json-1.1"
    else:
        body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code>"
                f"<Message>{escape(message)}</Message></Error>").encode()
        kind = "application/xml"
    start_response("500 Internal Server Error", [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


def serve(port: int, host: str = HOST, state: str | Path | None = None) -> None:
    """Serve in the foreground until SIGTERM or Ctrl-C (what ``python -m kms_course.sandbox.server``
    runs).

    Args:
        port: TCP port on ``host``.
        host: address to bind; loopback.
        state: folder of the saved data; None: keep nothing (in memory only).

    Raises:
        ServerError: another server already uses ``state``, or its saved data cannot be loaded.
    """
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    os.environ.setdefault("MOTO_PORT", str(port))
    app = make_app()
    guard_lock = threading.Lock()
    if state is not None:
        os.umask(0o077)  # the data holds key material: readable by this user only
        folder = Path(state)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_fd = os.open(folder / "server-state.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServerError(f"Another course server already uses {folder}: stop it first.") from None
        for leftover in folder.glob(".server-state.pickle.*.part"):  # from a killed write
            leftover.unlink(missing_ok=True)
        store = StateStore(folder / "server-state.pickle")
        count = store.load()
        print(f"kms-course server: loaded {count} backend(s) from {store.path}", file=sys.stderr)
        app = PersistentApp(app, store, os.environ.get(ENV_TOKEN, ""))
        guard_lock = app.lock

    def terminate(*_: Any) -> None:
        guard_lock.acquire(timeout=10)  # never exit in the middle of a save
        os._exit(0)

    signal.signal(signal.SIGTERM, terminate)
    httpd = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        terminate()


class ThreadedServer:
    """A course server in a thread of this process (tests and the grader use it); never persists.

    ``with ThreadedServer() as url: ...`` serves on a free loopback port.
    """

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._server = None

    def __enter__(self) -> str:
        from werkzeug.serving import make_server

        self._server = make_server(HOST, self.port, make_app(), threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kms_course.sandbox.server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", default=None, help="folder of the saved data (default: none kept)")
    args = parser.parse_args(argv)
    try:
        serve(args.port, state=args.state)
    except (ServerError, OSError) as error:
        print(f"kms-course server: {error}", file=sys.stderr, flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
