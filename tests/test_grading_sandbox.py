"""The grading worker's sandbox server (kms_course.instructor.grading.sandbox): per-submission
channels.

A jailed kernel reaches the server only at the listening socket made inside its own jail, which
the worker serves for that submission alone (:meth:`GradingServer.channel`); once the submission
is done the socket must be closed, so its listener does not outlive it. Here a loopback listener
of the test's own stands in for the jail's. Facts: socketserver's ``shutdown()``
(https://docs.python.org/3/library/socketserver.html#socketserver.BaseServer.shutdown).
"""

from __future__ import annotations

import http.client
import os
import socket
import threading

import pytest

from kms_course.instructor.grading import sandbox
from kms_course.instructor.grading.sandbox import GradingServer


def listener() -> socket.socket:
    """A listening socket on a free loopback port, as jail.open_sandbox_listener makes one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def listening_sockets() -> set[int]:
    """Inodes of IPv4 TCP sockets in state LISTEN (``0A``), from /proc/net/tcp (proc(5)).
    Inodes, not ports: once closed, a port may be bound again at once by another test's
    server (seen under pytest-xdist), but a socket's inode names that socket alone."""
    inodes = set()
    with open("/proc/net/tcp") as table:
        for line in list(table)[1:]:
            fields = line.split()
            if fields[3] == "0A":
                inodes.add(int(fields[9]))
    return inodes


def get_probe(port: int) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/moto-api/data.json")  # the guard's liveness answer
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server():
    grading = GradingServer().start()
    yield grading
    grading.close()


def test_a_channel_answers_while_open_and_its_socket_is_closed_after(server, monkeypatch):
    stopped = threading.Event()
    real_stop = sandbox._stop
    monkeypatch.setattr(sandbox, "_stop", lambda httpd: (real_stop(httpd), stopped.set()))
    sock = listener()
    port = sock.getsockname()[1]
    inode = os.fstat(sock.fileno()).st_ino
    with server.channel() as serve:
        serve(sock)
        assert sock.fileno() == -1  # taken over: the channel owns it now
        assert get_probe(port) == (200, b"{}")
        assert inode in listening_sockets()
    assert stopped.wait(10)
    # that listening socket is gone. Read from the kernel's socket table: a connect could reach
    # a self-connection, a bind could still meet the server's side of the probe's connection,
    # and the port alone may already be another server's (all three flaked)
    assert inode not in listening_sockets()


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
    with server.channel() as serve:
        serve(listener())
    assert stopped.wait(10)
    assert stopped_in[0] is not threading.current_thread()


def test_a_new_channel_works_after_many_closed(server):
    for _ in range(5):
        with server.channel() as serve:
            serve(listener())
    sock = listener()
    port = sock.getsockname()[1]
    with server.channel() as serve:
        serve(sock)
        assert get_probe(port)[0] == 200


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
