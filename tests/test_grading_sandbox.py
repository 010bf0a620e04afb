"""The grading worker's sandbox server (kms_course.instructor.grading.sandbox): per-submission
channels.

A jailed kernel reaches the server only through the Unix socket of its own submission
(:meth:`GradingServer.channel`); once the submission is done the socket must be unreachable, and
its listener must not outlive it. Facts: unix(7) (a socket is reached by its path), socketserver's
``shutdown()`` (https://docs.python.org/3/library/socketserver.html#socketserver.BaseServer.shutdown).
"""

from __future__ import annotations

import http.client
import os
import socket
import threading

import pytest

from kms_course.instructor.grading import sandbox
from kms_course.instructor.grading.sandbox import GradingServer


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


@pytest.fixture(scope="module")
def server():
    grading = GradingServer().start()
    yield grading
    grading.close()


def test_a_channel_answers_while_open_and_is_gone_after(server):
    with server.channel() as path:
        conn = UnixHTTPConnection(path)
        conn.request("GET", "/moto-api/data.json")  # the guard's liveness answer
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"{}")
        conn.close()
    assert not os.path.exists(path)
    with pytest.raises(FileNotFoundError):
        UnixHTTPConnection(path).connect()


def test_a_closed_channel_stops_its_listener_without_waiting_for_it(server, monkeypatch):
    """Closing a channel must not wait for the serving loop's poll (it did: 0.5 s per
    submission, a third of the jailed grader's time), yet the listener must still be stopped."""
    stopped = threading.Event()
    stopped_in: list[threading.Thread] = []
    real_stop = sandbox._stop

    def stop(httpd):
        real_stop(httpd)
        assert httpd.socket.fileno() == -1  # the listening socket is closed
        stopped_in.append(threading.current_thread())
        stopped.set()

    monkeypatch.setattr(sandbox, "_stop", stop)
    with server.channel():
        pass
    assert stopped.wait(10)
    assert stopped_in[0] is not threading.current_thread()


def test_a_new_channel_works_after_many_closed(server):
    for _ in range(5):
        with server.channel():
            pass
    with server.channel() as path:
        conn = UnixHTTPConnection(path)
        conn.request("GET", "/moto-api/data.json")
        assert conn.getresponse().status == 200
        conn.close()


@pytest.mark.parametrize("agent", [
    "Boto3/1.35 kms-course-check",
    "Boto3/1.35 kms-course-check/09",
    "Boto3/1.35 xKMS-COURSE-CHECK",
    "kms-kms-course-checkcourse-check/09",
])
def test_a_students_calls_cannot_carry_the_checks_mark(agent):
    """Checks (lessons 04 and 09) skip trail events whose userAgent holds their mark; a
    submission that copied it into its own calls would hide them (found by the lesson 09 trial)."""
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    from kms_course.lessons.checks.l04_encrypt_decrypt import CHECK_AGENT as CHECK_04
    from kms_course.lessons.checks.l09_signing import CHECK_AGENT as CHECK_09

    def echo(environ, start_response):
        return Response(environ.get("HTTP_USER_AGENT", ""))(environ, start_response)

    seen = Client(sandbox.StudentSide(echo)).get("/", headers={"User-Agent": agent}).get_data(True)
    assert CHECK_04.lower() not in seen.lower() and CHECK_09 not in seen
