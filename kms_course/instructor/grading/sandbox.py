"""The sandbox a grading worker owns: a course moto server in the worker's own process.

The student's kernel talks to this server (``KMS_COURSE_BACKEND=moto-server``), so the sandbox's
data lives in the grader's process, out of reach of the student's code: a kernel can change it
only by calling KMS. A jailed kernel (:mod:`kms_course.instructor.grading.jail`) reaches it only
at ``127.0.0.1:4566`` of its own jail, a listening socket made there and served for its
submission alone (:meth:`GradingServer.channel`); an unjailed one (``--no-jail``) over loopback
TCP. moto's control
endpoints (``/moto-api/...``: reset, seed, state transitions, recorder;
https://docs.getmoto.org/en/latest/docs/server_mode.html) are refused to the kernel; the grader
resets the data in-process between submissions. What one submission may send is limited
(:class:`GuardedApp`), so it cannot grow the grader's memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

from kms_course.sandbox import server
from kms_course.sandbox.start import DEFAULT_REGION

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


MiB = 1024 * 1024


class GuardedApp:
    """WSGI wrapper refusing moto's control API (any path containing ``moto-api``) with 403, and
    requests past the submission's storage budget with 413. ``POST /moto-api/reset`` (what
    ``kms_course.reset()`` sends) is let through: it empties only the submission's own data.

    ``GET /moto-api/data.json`` answers ``{}`` (status 200) without reaching moto: it is the
    liveness probe ``kms_course.sandbox.server.answers`` uses, and must not reveal data.

    Args:
        app: the course's moto WSGI app.
        max_request: bytes one request body may hold.
        max_total: bytes all request bodies may hold together between two :meth:`new_budget`
            calls (one submission). A body without ``Content-Length`` (chunked) is refused (411).
    """

    def __init__(self, app: Any, max_request: int = 16 * MiB, max_total: int = 128 * MiB):
        self.app = app
        self.refused = 0
        self.max_request = max_request
        self.max_total = max_total
        self.received = 0
        self._lock = threading.Lock()

    def new_budget(self, max_request: int | None = None, max_total: int | None = None) -> None:
        """Start a new submission's budget (and optionally change its limits, bytes)."""
        with self._lock:
            self.received = 0
            self.max_request = max_request or self.max_request
            self.max_total = max_total or self.max_total

    @staticmethod
    def _answer(start_response: Any, status: str, message: str) -> list[bytes]:
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps({"message": message}).encode()]

    def _over_budget(self, environ: dict, start_response: Any) -> list[bytes] | None:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        try:
            size = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = -1
        if chunked or size < 0:
            return self._answer(start_response, "411 Length Required",
                                "The grading sandbox needs a Content-Length on every request.")
        with self._lock:
            if size > self.max_request or self.received + size > self.max_total:
                return self._answer(
                    start_response, "413 Request Entity Too Large",
                    f"The grading sandbox takes at most {self.max_request // MiB} MiB per request "
                    f"and {self.max_total // MiB} MiB per submission.",
                )
            self.received += size
        return None

    def __call__(self, environ: dict, start_response: Any):
        refused = self._over_budget(environ, start_response)
        if refused is not None:
            return refused
        path = unquote(unquote(environ.get("PATH_INFO", ""))).lower()
        host = environ.get("HTTP_HOST", "").lower()
        if "moto-api" in path or "moto_api" in host or "motoapi" in host:
            if (path.rstrip("/") == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST"
                    and not host.startswith(("moto-api", "moto_api", "motoapi"))):
                # kms_course.reset() in an answer empties this submission's own sandbox, as in
                # the lab (one submission at a time per server; issue 11 item 3)
                return self.app(environ, start_response)
            if path.rstrip("/") == "/moto-api/data.json" and environ.get("REQUEST_METHOD") == "GET":
                body = b"{}"
                start_response("200 OK", [("Content-Type", "application/json")])
                return [body]
            self.refused += 1
            body = json.dumps({"message": "The grading sandbox refuses moto's control API."})
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [body.encode()]
        return self.app(environ, start_response)


#: The mark the checks put in the User-Agent of their own KMS calls, which the trail records
#: (``userAgent``), so that a check never takes its own call for the student's
#: (``kms_course.lessons.checks.l04_encrypt_decrypt.CHECK_AGENT``, ``l09_signing.CHECK_AGENT``).
CHECK_AGENT_PREFIX = "kms-course-check"


class StudentSide:
    """WSGI wrapper for the requests of a student's kernel (its channel): any User-Agent token
    holding :data:`CHECK_AGENT_PREFIX` loses it, so a submission cannot pass its own
    calls off as a check's and hide them from the checks that read the trail. The grader's own
    client reaches the server without it (over loopback TCP).
    """

    def __init__(self, app: Any):
        self.app = app

    def __call__(self, environ: dict, start_response: Any):
        agent = environ.get("HTTP_USER_AGENT")
        if agent:
            environ["HTTP_USER_AGENT"] = without_check_mark(agent)
        return self.app(environ, start_response)


def without_check_mark(agent: str) -> str:
    """``agent`` with every occurrence of :data:`CHECK_AGENT_PREFIX` removed, in any case,
    until none is left (so no split or nested spelling puts one back together)."""
    pattern = re.compile(re.escape(CHECK_AGENT_PREFIX), re.IGNORECASE)
    while pattern.search(agent):
        agent = pattern.sub("", agent)
    return agent


def warm_botocore() -> None:
    """Parse, once in a process about to fork grading workers, the botocore data each worker
    would otherwise parse for itself (~16 MiB of objects per worker), through one loader
    (:mod:`kms_course.sandbox.botocore_data`): for boto3's default session, which the grader's
    KMS client uses (:func:`kms_course.sandbox.start.warm_default_session`), the session moto's
    backends list their Regions with, and the KMS model the sandbox's rules and trail read.
    Never raises: a worker loads what is missing itself."""
    from kms_course.sandbox import botocore_data, start

    start.warm_default_session()
    try:
        from moto.core.base_backend import AccountSpecificBackend

        with start.neutral_environment():
            session = AccountSpecificBackend.get_session()  # moto's one session (cached)
            botocore_data.adopt(session._session)
            for partition in session.get_available_partitions():
                for service in start.WARM_SERVICES:
                    session.get_available_regions(service, partition_name=partition)
            botocore_data.kms_service_model()
    except Exception:  # noqa: BLE001 (only a warm-up)
        pass


class GradingServer:
    """A guarded course moto server on a free loopback port, in a thread of this process.

    ``url`` is the address to give the kernel; :meth:`reset` empties every mocked resource;
    :meth:`kms` is the grader's own client for running checks.
    """

    def __init__(self, region: str = DEFAULT_REGION):
        self.region = region
        self.port = server.free_port()
        self.url = f"http://{server.HOST}:{self.port}"
        self._httpd = None
        self.app: GuardedApp | None = None

    def start(self) -> GradingServer:
        """Start serving (idempotent). Returns self."""
        if self._httpd is None:
            self.app = GuardedApp(server.make_app())
            self._httpd = _serve(server.HOST, self.port, self.app)
        return self

    def close(self) -> None:
        """Stop serving."""
        if self._httpd is not None:
            _stop(self._httpd)
            self._httpd = None

    @contextlib.contextmanager
    def channel(self) -> Iterator[Callable[[socket.socket], None]]:
        """This server for one submission's jail: yields ``serve(listener)``, which answers on
        the listening socket made inside that jail
        (:func:`kms_course.instructor.grading.jail.open_sandbox_listener`, given to
        :class:`kms_course.instructor.grading.zygote.JailSpec`) and takes it over. On exit the
        socket is closed, so no later submission can reach this server through it."""
        servers: list[Any] = []

        def serve(listener: socket.socket) -> None:
            with listener:  # werkzeug serves a copy of it
                servers.append(_serve("127.0.0.1", 0, StudentSide(self.app), fd=listener.fileno()))

        try:
            yield serve
        finally:
            # the jail (and with it every process that could connect) has ended by now; the
            # serving loop notices its shutdown only at its next poll (up to 0.5 s), so it is
            # stopped in the background instead of making every submission wait for it
            for httpd in servers:
                threading.Thread(target=_stop, args=(httpd,), daemon=True).start()

    def reset(self, max_request: int | None = None, max_total: int | None = None) -> None:
        """Empty the sandbox in-process (moto's backend reset) and start a new storage budget
        (bytes; see :class:`GuardedApp`), between two submissions."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        if self.app is not None:
            self.app.new_budget(max_request, max_total)

    def kms(self):
        """A boto3 KMS client of the grader on this server, for running checks.

        It starts :mod:`kms_course.sandbox.start` in this process with the ``moto-server`` backend
        aimed at this server (so the sandbox's guard lets the client through), which sets fake
        credentials and ``AWS_ENDPOINT_URL`` in ``os.environ``: call it only in a process that
        does nothing but grade (a grading worker).
        """
        from kms_course.sandbox import start as sandbox

        os.environ[server.ENV_URL] = self.url
        sandbox.start_sandbox(backend="moto-server", region=self.region, quiet=True)
        return sandbox.kms_client()

    def kernel_env(self, home: str, jailed: bool = False) -> dict[str, str]:
        """Environment for the student's kernel: this server, fake credentials, no AWS settings.

        Args:
            home: a fresh folder for the kernel's ``KMS_COURSE_HOME``.
            jailed: the kernel runs in a jail (:mod:`kms_course.instructor.grading.jail`): it gets
                only what Python and the course need, none of the grader's environment, and reaches
                the server at its jail's own ``127.0.0.1:4566`` (:meth:`channel`).
        """
        from kms_course.instructor.grading import jail

        if jailed:
            keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "VIRTUAL_ENV")
            env = {k: v for k, v in os.environ.items() if k in keep}
            env.update({"HOME": jail.HOME, "TMPDIR": "/tmp"})
        else:
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("AWS_", "KMS_COURSE_", "BOTO"))
            }
        env.update(FAKE_CREDENTIALS)
        env.update(
            {
                "KMS_COURSE_BACKEND": "moto-server",
                "KMS_COURSE_SERVER_URL": jail.SANDBOX_URL if jailed else self.url,
                "KMS_COURSE_REGION": self.region,
                "KMS_COURSE_HOME": home,
                "KMS_COURSE_GRADING": "1",
                "AWS_DEFAULT_REGION": self.region,
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        return env


def _serve(host: str, port: int, app: Any, fd: int | None = None):
    """A threaded werkzeug server for ``app`` on ``host:port``, or on a copy of the listening
    socket ``fd`` when given (https://werkzeug.palletsprojects.com/en/stable/serving/), serving
    in a thread."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    httpd = make_server(host, port, app, threaded=True, request_handler=QuietHandler, fd=fd)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def _stop(httpd: Any) -> None:
    httpd.shutdown()
    httpd.server_close()
