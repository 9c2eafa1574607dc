"""The wake-up guard: a reply whose wake-up was missed is still received within one slice, and a wait with a
timeout still ends with Empty."""

import asyncio
import time
from queue import Empty

import pytest
from jupyter_client.channels import AsyncZMQSocketChannel

from course_lib.teaching.kernel_messages import install_wakeup_guard, uninstall_wakeup_guard


class MissedWakeupSocket:
    """A socket whose message arrived with no wake-up: a poll without a timeout sleeps for ever (as on an
    edge-triggered FD whose edge was consumed); a poll with a timeout finds the message when it expires."""

    def __init__(self, has_message=True):
        self.has_message, self.polls = has_message, []

    async def poll(self, timeout_ms=None):
        self.polls.append(timeout_ms)
        if timeout_ms is None:
            await asyncio.sleep(3600)
        await asyncio.sleep(timeout_ms / 1000)
        return int(self.has_message)


def _channel(socket):
    channel = AsyncZMQSocketChannel.__new__(AsyncZMQSocketChannel)
    channel.socket = socket

    async def recv():
        return {"msg_type": "execute_reply"}

    channel._recv = recv
    return channel


@pytest.fixture(autouse=True)
def restore_get_msg():
    """Leave the process as it was (other test modules install the guard for their notebook runs)."""
    before = AsyncZMQSocketChannel.get_msg
    yield
    AsyncZMQSocketChannel.get_msg = before


@pytest.fixture
def guard():
    install_wakeup_guard(0.05)


def test_without_the_guard_a_missed_wakeup_waits_for_ever():
    uninstall_wakeup_guard()
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(asyncio.wait_for(_channel(MissedWakeupSocket()).get_msg(), 0.5))


def test_with_the_guard_the_reply_arrives_within_a_slice(guard):
    socket = MissedWakeupSocket()
    started = time.perf_counter()
    assert asyncio.run(_channel(socket).get_msg())["msg_type"] == "execute_reply"
    assert time.perf_counter() - started < 0.5 and socket.polls == [50]


def test_with_the_guard_a_timeout_still_raises_empty(guard):
    socket = MissedWakeupSocket(has_message=False)
    started = time.perf_counter()
    with pytest.raises(Empty):
        asyncio.run(_channel(socket).get_msg(timeout=0.2))
    assert 0.15 < time.perf_counter() - started < 1.0 and len(socket.polls) >= 4
    assert all(ms <= 50 for ms in socket.polls)


def test_the_guard_validates_its_slice():
    with pytest.raises(ValueError, match="slice_seconds"):
        install_wakeup_guard(0.0)
