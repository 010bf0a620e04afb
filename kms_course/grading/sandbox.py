"""The sandbox a grading worker owns: a course moto server in the worker's own process.

The student's kernel talks to this server over loopback (``KMS_COURSE_BACKEND=moto-server``),
so the sandbox's data lives in the grader's process, out of reach of the student's code: a kernel
can change it only by calling KMS. moto's control endpoints (``/moto-api/...``: reset, seed,
state transitions, recorder; https://docs.getmoto.org/en/latest/docs/server_mode.html) are refused
to the kernel; the grader resets the data in-process between submissions.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import unquote

from kms_course import server
from kms_course.sandbox import DEFAULT_REGION

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class GuardedApp:
    """WSGI wrapper refusing moto's control API (any path containing ``moto-api``) with 403.

    ``GET /moto-api/data.json`` answers ``{}`` (status 200) without reaching moto: it is the
    liveness probe ``kms_course.server.answers`` uses, and must not reveal data.
    """

    def __init__(self, app: Any):
        self.app = app
        self.refused = 0

    def __call__(self, environ: dict, start_response: Any):
        path = unquote(unquote(environ.get("PATH_INFO", ""))).lower()
        host = environ.get("HTTP_HOST", "").lower()
        if "moto-api" in path or "moto_api" in host or "motoapi" in host:
            if path.rstrip("/") == "/moto-api/data.json" and environ.get("REQUEST_METHOD") == "GET":
                body = b"{}"
                start_response("200 OK", [("Content-Type", "application/json")])
                return [body]
            self.refused += 1
            body = json.dumps({"message": "The grading sandbox refuses moto's control API."})
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [body.encode()]
        return self.app(environ, start_response)


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
            from moto.moto_server.werkzeug_app import MotoRequestHandler
            from werkzeug.serving import make_server

            class QuietHandler(MotoRequestHandler):
                def log_request(self, *args: Any, **kwargs: Any) -> None:
                    pass

            self.app = GuardedApp(server.make_app())
            self._httpd = make_server(
                server.HOST, self.port, self.app, threaded=True, request_handler=QuietHandler
            )
            threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        """Stop serving."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def reset(self) -> None:
        """Empty the sandbox in-process (moto's backend reset), between two submissions."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    def kms(self):
        """A boto3 KMS client of the grader on this server, for running checks.

        It starts :mod:`kms_course.sandbox` in this process with the ``moto-server`` backend
        aimed at this server (so the sandbox's guard lets the client through), which sets fake
        credentials and ``AWS_ENDPOINT_URL`` in ``os.environ``: call it only in a process that
        does nothing but grade (a grading worker).
        """
        from kms_course import sandbox

        os.environ[server.ENV_URL] = self.url
        sandbox.start_sandbox(backend="moto-server", region=self.region, quiet=True)
        return sandbox.kms_client()

    def kernel_env(self, home: str) -> dict[str, str]:
        """Environment for the student's kernel: this server, fake credentials, no AWS settings.

        Args:
            home: a fresh folder for the kernel's ``KMS_COURSE_HOME``.
        """
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "KMS_COURSE_", "BOTO"))
        }
        env.update(FAKE_CREDENTIALS)
        env.update(
            {
                "KMS_COURSE_BACKEND": "moto-server",
                "KMS_COURSE_SERVER_URL": self.url,
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
