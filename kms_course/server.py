"""The ``moto-server`` backend: a moto server on 127.0.0.1 with the course's real-KMS rules.

``kms-course server start`` runs ``python -m kms_course.server`` in the background, waits until it
answers, and records its address and process id in ``~/.kms-course/server.json`` (or
``$KMS_COURSE_HOME/server.json``). Keys live as long as that process, so they survive kernel
restarts. ``kms-course server stop`` ends it. ``start_sandbox(backend="moto-server")`` finds the
server through that file, or through ``KMS_COURSE_SERVER_URL`` when set.

The server binds to loopback only and applies :mod:`kms_course.rules` before serving, so a
notebook sees the same behaviour as with the in-kernel ``moto`` backend.

Source: moto's server mode, https://docs.getmoto.org/en/latest/docs/server_mode.html.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from kms_course.atomic import atomic_write_text

ENV_URL = "KMS_COURSE_SERVER_URL"
ENV_HOME = "KMS_COURSE_HOME"
HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """The course server could not be started, found or stopped; the message says what to do."""


def state_dir() -> Path:
    """Folder for the server's state file: ``$KMS_COURSE_HOME`` or ``~/.kms-course``."""
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".kms-course")


def state_file() -> Path:
    """Path of the JSON file ``{"url": str, "pid": int, "port": int}`` of the running server."""
    return state_dir() / "server.json"


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


def answers(url: str, timeout: float = 0.5) -> bool:
    """True if a moto server answers at ``url`` within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=timeout) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _read_state() -> dict | None:
    try:
        return json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None


def running_url() -> str | None:
    """URL of the running course server (``"http://127.0.0.1:PORT"``), or None if none answers."""
    url = os.environ.get(ENV_URL)
    if url:
        return url.rstrip("/") if answers(url) else None
    state = _read_state()
    if state and answers(state["url"]):
        return state["url"]
    return None


def start(port: int | None = None, timeout: float = 20.0) -> str:
    """Start the course server in the background (or find the one running) and return its URL.

    Args:
        port: TCP port on 127.0.0.1; default: a free one.
        timeout: seconds to wait for the server to answer.

    Returns:
        The server URL, e.g. ``"http://127.0.0.1:50123"``.

    Raises:
        ServerError: the port is taken, or the server did not answer within ``timeout``.
    """
    existing = running_url()
    if existing:
        return existing
    port = port or free_port()
    url = f"http://{HOST}:{port}"
    if port_in_use(port):  # an HTTP probe could time out on a busy machine and miss it
        raise ServerError(f"Port {port} is already in use: choose another --port.")
    state_dir().mkdir(parents=True, exist_ok=True)
    log = open(state_dir() / "server.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kms_course.server", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(
                f"The server exited at start (code {proc.returncode}); see {state_dir()}/server.log."
            )
        if answers(url):
            atomic_write_text(state_file(), json.dumps({"url": url, "pid": proc.pid, "port": port}))
            return url
        time.sleep(0.1)
    proc.kill()
    raise ServerError(f"The server did not answer on {url} within {timeout:.0f} s.")


def stop() -> bool:
    """Stop the server recorded in the state file. Returns True if one was stopped."""
    state = _read_state()
    if not state:
        return False
    try:
        os.kill(int(state["pid"]), signal.SIGTERM)
        stopped = True
    except (ProcessLookupError, PermissionError):
        stopped = False
    for _ in range(50):
        if not answers(state["url"], timeout=0.1):
            break
        time.sleep(0.1)
    state_file().unlink(missing_ok=True)
    return stopped


def make_app():
    """The WSGI app: moto's dispatcher with the course rules installed."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from kms_course import rules

    rules.install()
    return DomainDispatcherApplication(create_backend_app)


def serve(port: int, host: str = HOST) -> None:
    """Serve in the foreground until interrupted (what ``python -m kms_course.server`` runs)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(host, port, make_app(), threaded=True, request_handler=MotoRequestHandler)


class ThreadedServer:
    """A course server in a thread of this process (tests and the grader use it).

    ``with ThreadedServer() as url: ...`` serves on a free loopback port.
    """

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._server = None

    def __enter__(self) -> str:
        import threading

        from werkzeug.serving import make_server

        self._server = make_server(HOST, self.port, make_app(), threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kms_course.server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.port)


if __name__ == "__main__":
    main()
