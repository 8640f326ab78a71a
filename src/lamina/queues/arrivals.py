"""Wake-ups for long polls: one in-memory signal per queue, set when its messages may have
become visible (a send, a visibility change, a redrive into it, its deletion) or the node stops.
"""

from __future__ import annotations

import asyncio
import contextlib


class Arrivals:
    """Per-queue signals shared by the registry and the message service."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self.closing = False

    def signal(self, queue: str) -> asyncio.Event:
        """The event the next `notify(queue)` sets; take it before looking at the queue."""
        return self._events.setdefault(queue, asyncio.Event())

    def notify(self, queue: str) -> None:
        event = self._events.pop(queue, None)
        if event is not None:
            event.set()

    async def wait(self, signal: asyncio.Event, timeout_s: float) -> None:
        """Until `signal` is set or `timeout_s` passed. (Not `wait_for`: on Python 3.11 it
        drops a cancellation that arrives as the signal is set, as it is at shutdown.)"""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await signal.wait()

    def close(self) -> None:
        """The node is stopping: every waiting long poll wakes, new ones return at once."""
        self.closing = True
        for queue in list(self._events):
            self.notify(queue)
