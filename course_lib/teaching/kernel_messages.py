"""Notebooks executed by the course's tools (benchmark, student-version tests, grading) never stall waiting
for a kernel message that has already arrived.

The cause, measured: ``nbclient`` waits for each kernel reply with ``await socket.poll(timeout)`` on a
``zmq.asyncio`` socket. That poll sleeps on the socket's ZMQ_FD, which is *edge*-triggered; when the edge is
consumed elsewhere (the same socket sent the next request, or its events were read), the reply sits in the
socket while the poll sleeps on — until its timeout, when pyzmq checks the socket once more and finds it. With
no timeout (``jupyter nbconvert --execute``'s default) that is forever: the kernel idle, the client waiting. On
a busy 2-core machine it hit about one notebook run in ten, most often on the cell after a widget.

The guard: wait in slices of at most ``slice_seconds``; every slice that ends re-checks the socket, so a missed
wake-up costs at most one slice. The blocking client (used by nbval) polls with libzmq's level-triggered
``zmq_poll`` and is not affected.
"""

from __future__ import annotations

from time import monotonic

from jupyter_client.channels import AsyncZMQSocketChannel

from ..validation import positive_float

_original_get_msg = AsyncZMQSocketChannel.get_msg


def install_wakeup_guard(slice_seconds: float = 0.1) -> None:
    """Make every ``AsyncZMQSocketChannel.get_msg`` (nbclient's shell and IOPub waits) poll in slices of at
    most ``slice_seconds`` s; idempotent, process-wide. Call before executing notebooks with nbclient."""
    slice_seconds = positive_float(slice_seconds, "slice_seconds")

    async def get_msg(self, timeout: float | None = None):
        from queue import Empty

        deadline = None if timeout is None else monotonic() + timeout
        while True:
            remaining = slice_seconds if deadline is None else min(slice_seconds, max(0.0, deadline - monotonic()))
            if await self.socket.poll(int(remaining * 1000)):
                return await self._recv()
            if deadline is not None and monotonic() >= deadline:
                raise Empty

    get_msg.__doc__ = _original_get_msg.__doc__
    get_msg.wakeup_guard = slice_seconds
    AsyncZMQSocketChannel.get_msg = get_msg


def uninstall_wakeup_guard() -> None:
    """Restore jupyter_client's own ``get_msg`` (for tests that measure the difference)."""
    AsyncZMQSocketChannel.get_msg = _original_get_msg
