"""Helpers for the clock, trail and context-binding tests: a KMS client and the course's own
operations (clock, trail) on each sandbox backend, the in-process ``moto`` backend and the course's
moto server over HTTP (a server thread sharing this process's moto state, so ``sandbox.reset()``
empties both)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import boto3
import botocore.config
import pytest

from kms_course.sandbox import clock, course_api, start as sandbox, trail

ONE_TRY = botocore.config.Config(retries={"max_attempts": 1})


@dataclass
class Sandbox:
    """One sandbox backend: ``kms`` (a KMS client) and the clock and trail as a lesson sees them
    (``endpoint_url`` None: in this process; else over HTTP on the course server)."""

    backend: str
    kms: object
    endpoint_url: str | None

    def advance(self, days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
        if self.endpoint_url is None:
            return clock.advance(days=days, hours=hours, minutes=minutes)
        seconds = days * 86400 + hours * 3600 + minutes * 60
        answer = course_api.call(clock.OPERATION, {"AdvanceSeconds": seconds},
                                 endpoint_url=self.endpoint_url)
        return datetime.fromtimestamp(answer["Now"], timezone.utc)

    def now(self) -> datetime:
        if self.endpoint_url is None:
            return clock.now()
        answer = course_api.call(clock.OPERATION, {}, endpoint_url=self.endpoint_url)
        return datetime.fromtimestamp(answer["Now"], timezone.utc)

    def trail(self, **filters) -> list[dict]:
        if self.endpoint_url is None:
            return trail.trail(**filters)
        names = {"key_id": "KeyId", "event_name": "EventName", "principal": "Principal",
                 "error_code": "ErrorCode"}
        params = {names[k]: v for k, v in filters.items() if v is not None}
        return course_api.call(trail.OPERATION, params, endpoint_url=self.endpoint_url)["Events"]


@pytest.fixture(scope="session")
def time_server_url():
    """The moto sandbox of this process, plus a course server thread sharing its state."""
    from kms_course.sandbox.server import ThreadedServer

    sandbox.start_sandbox("moto", quiet=True)
    with ThreadedServer() as url:
        yield url


@pytest.fixture(params=["moto", "moto-server"])
def box(request, time_server_url) -> Sandbox:
    """An emptied sandbox (clock at real time, empty trail), on each sandbox backend."""
    sandbox.reset()
    if request.param == "moto":
        return Sandbox("moto", sandbox.kms_client(), None)
    kms = boto3.client("kms", endpoint_url=time_server_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing",
                       config=ONE_TRY)
    return Sandbox("moto-server", kms, time_server_url)


def code(call) -> str:
    """The AWS error code of a call that must fail."""
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response["Error"]["Code"]
