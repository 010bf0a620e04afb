"""The grading kernel client (kms_course.instructor.grading.kernel_client): ready at the kernel_info
request's idle status, per the Jupyter messaging protocol
(https://jupyter-client.readthedocs.io/en/latest/messaging.html#kernel-status: every request is
bracketed by ``status: busy`` and ``status: idle`` on IOPub, with the request as parent)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from queue import Empty

import pytest

from kms_course.instructor.grading.kernel_client import GradingKernelClient
from kms_course.instructor.grading.sandbox import GradingServer
from kms_course.instructor.grading.zygote import ZygoteKernelManager


@pytest.fixture(scope="module")
def server():
    grading = GradingServer().start()
    yield grading
    grading.close()


async def _started(server) -> ZygoteKernelManager:
    home = tempfile.mkdtemp(prefix="kms-kc-")
    km = ZygoteKernelManager(kernel_name="python3")
    await km.start_kernel(cwd=home, env=server.kernel_env(home))
    return km


@contextlib.asynccontextmanager
async def _ready_client(server):
    """A client of a new kernel, after its wait_for_ready; both are stopped on exit."""
    km = await _started(server)
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        yield kc
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


def test_a_ready_kernel_answers_and_its_kernel_info_is_drained(server):
    async def run():
        async with _ready_client(server) as kc:
            leftovers = []
            try:
                while True:
                    leftovers.append(await kc.iopub_channel.get_msg(timeout=0.3))
            except Empty:
                pass
            msg_id = kc.execute("print(6 * 7)")
            reply = await kc.get_shell_msg(timeout=30)
            output = ""
            while True:
                msg = await kc.iopub_channel.get_msg(timeout=30)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    output += msg["content"]["text"]
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
            return type(kc), leftovers, reply["content"]["status"], output

    kind, leftovers, status, output = asyncio.run(run())
    assert kind is GradingKernelClient
    # nothing of the kernel_info request is left on IOPub for the first cell to see
    assert [m for m in leftovers if m["parent_header"].get("msg_type") == "kernel_info_request"] == []
    assert (status, output) == ("ok", "42\n")


def test_a_kernel_that_dies_before_answering_is_reported(server):
    async def run():
        km = await _started(server)
        os.kill(km.provisioner.pid, signal.SIGKILL)
        kc = km.client()
        kc.start_channels()
        try:
            with pytest.raises(RuntimeError, match="died before replying to kernel_info"):
                await kc.wait_for_ready(timeout=30)
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    asyncio.run(run())


def test_the_clients_sockets_retry_a_connection_every_few_milliseconds(server):
    """ZeroMQ retries a connection to a kernel not yet listening after ZMQ_RECONNECT_IVL, 100 ms
    by default (http://api.zeromq.org/master:zmq-setsockopt); a kernel start lost one or more
    such intervals before the client's sockets were given a shorter one."""
    import zmq

    from kms_course.instructor.grading.kernel_client import RECONNECT_MS

    async def run():
        async with _ready_client(server) as kc:
            return [channel.socket.getsockopt(zmq.RECONNECT_IVL)
                    for channel in (kc.shell_channel, kc.iopub_channel, kc.control_channel)]

    assert RECONNECT_MS < 100
    assert asyncio.run(run()) == [RECONNECT_MS] * 3
