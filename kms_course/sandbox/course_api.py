"""The course's own operations on the sandbox (the clock, the trail), next to KMS's.

The sandbox keeps its clock and its audit trail inside moto's KMS backends (the objects the
course's moto server pickles: see :mod:`kms_course.sandbox.server`), so they must be read and
changed in the process that serves the sandbox. This module gives that process a few private
operations, named ``KmsCourse...`` and handled by moto's ``KmsResponse`` like any KMS operation:

* in the ``moto`` backend (moto in the kernel) :func:`call` runs the handler directly;
* in the ``moto-server`` backend it sends one JSON POST to ``/`` of the server with
  ``X-Amz-Target: TrentService.<Operation>``, the header every KMS request carries
  (https://docs.aws.amazon.com/kms/latest/APIReference/CommonParameters.html). The path holds no
  ``moto-api``, so the grader's guarded server
  (:class:`kms_course.instructor.grading.sandbox.GuardedApp`) lets a student kernel use the clock
  and read the trail while it is graded, and nothing else of moto's control API. These operations
  can only move the clock forward and read the trail: none erases or rewrites what was recorded.

They are not KMS operations: they are never recorded in the trail, and the ``aws`` backend has
none of them (:class:`kms_course.sandbox.start.SandboxError`).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

#: operation name (e.g. ``"KmsCourseClock"``) -> ``handler(backend, params) -> dict``, where
#: ``backend`` is the moto ``KmsBackend`` of the request's account and Region.
HANDLERS: dict[str, Callable[[Any, dict], dict]] = {}
TARGET_PREFIX = "TrentService."
_INSTALLED = False


def operation(name: str):
    """Register ``handler(backend, params) -> dict`` as the course operation ``name``."""
    if not name.startswith("KmsCourse"):
        raise ValueError(f"course operations are named KmsCourse..., not {name!r}")

    def register(handler: Callable[[Any, dict], dict]) -> Callable[[Any, dict], dict]:
        HANDLERS[name] = handler
        return handler

    return register


def install() -> None:
    """Give moto's ``KmsResponse`` a method for every course operation (idempotent), so that the
    course's moto server answers them. A handler's :class:`kms_course.sandbox.rules.KmsError` is
    answered as a KMS error (HTTP 400, ``__type`` and ``message``)."""
    global _INSTALLED
    from moto.core.utils import camelcase_to_underscores
    from moto.kms.responses import KmsResponse

    for name, handler in HANDLERS.items():
        def method(self, _handler=handler) -> str:
            params = json.loads(self.body or "{}")
            return json.dumps(_handler(self.kms_backend, params if isinstance(params, dict) else {}))

        setattr(KmsResponse, camelcase_to_underscores(name), method)
    _INSTALLED = True


def local_backend(region: str | None = None):
    """The moto ``KmsBackend`` of moto's default account in ``region`` (default: the sandbox's
    Region) in this process: where the ``moto`` backend's keys live."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.kms.models import kms_backends

    from kms_course.sandbox import start as sandbox

    return kms_backends[DEFAULT_ACCOUNT_ID][region or sandbox.region() or sandbox.DEFAULT_REGION]


def call(name: str, params: dict | None = None, *, endpoint_url: str | None = None,
         region: str | None = None) -> dict:
    """Run the course operation ``name`` on the active sandbox and return its answer (a dict).

    Args:
        name: a registered operation, e.g. ``"KmsCourseClock"``.
        params: its JSON request (a dict).
        endpoint_url: a course moto server to ask (``http://127.0.0.1:PORT``); default: the
            sandbox's own, in the ``moto-server`` backend, or this process in the ``moto`` backend.
        region: AWS Region of the request (default: the sandbox's).

    Raises:
        kms_course.sandbox.start.SandboxError: the sandbox is not running, the backend is ``aws``
            (which has no course operations), or the server refused or did not answer.
        kms_course.sandbox.rules.KmsError: (``moto`` backend) the handler refused the request.
    """
    from kms_course.sandbox import rules, start as sandbox

    params = dict(params or {})
    backend = sandbox.active_backend()
    if endpoint_url is None:
        if backend is None:
            raise sandbox.SandboxError("The sandbox is not running. " + sandbox.RUN_SETUP)
        if backend == "aws":
            raise sandbox.SandboxError(f"{name} exists only in the offline sandbox, not on AWS.")
        if backend == "moto":
            rules.install()
            return HANDLERS[name](local_backend(region), params)
        endpoint_url = sandbox._STATE.endpoint_url  # the moto-server backend's address
    return _post(endpoint_url, name, params, region or sandbox.region() or sandbox.DEFAULT_REGION)


def _post(endpoint_url: str, name: str, params: dict, region: str) -> dict:
    from kms_course.sandbox import start as sandbox, server

    if not server.is_loopback_url(endpoint_url):
        raise sandbox.SandboxError(f"{endpoint_url} is not the course's moto server (loopback only).")
    access_key = os.environ.get("AWS_ACCESS_KEY_ID") or "testing"
    body = json.dumps(params).encode()
    request = urllib.request.Request(
        endpoint_url.rstrip("/") + "/", data=body, method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": TARGET_PREFIX + name,
            # moto's server finds the service and Region in the credential scope; it does not
            # check the signature (the sandbox has fake credentials).
            "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/20000101/{region}/kms/"
                             "aws4_request, SignedHeaders=host;x-amz-target, Signature=0",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            detail = json.loads(error.read() or b"{}")
        except ValueError:
            detail = {}
        message = detail.get("message") or detail.get("Message") or error.reason
        raise sandbox.SandboxError(
            f"The course server refused {name}: {detail.get('__type', error.code)} {message}"
        ) from None
    except (OSError, ValueError) as error:
        raise sandbox.SandboxError(f"The course server at {endpoint_url} did not answer {name} "
                                   f"({error}).") from None
