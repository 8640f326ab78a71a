"""The only source of time: a real clock, and a fake one that tests advance by hand.

The engine and the queues read time and wait through a `Clock`: `time()` (epoch seconds),
`monotonic()` (for deadlines and durations), `sleep()` and `wait()` (an asyncio.Event or a
timeout, whichever comes first). `FakeClock` stands still until `advance` moves it; its sleeps
and waits wake when the clock passes their end, so a 60-second backoff takes no real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock and monotonic time, in seconds, and waits measured on them."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout_s: float) -> bool:
        """Wait until `event` is set or `timeout_s` passed; True if the event was set."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)
        return event.is_set()


class FakeClock(Clock):
    """A clock that moves only when `advance` is called; sleeps wake when it passes them."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleep that ends by then."""
        self._now += seconds
        self._mono += seconds
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many sleeps and waits are pending (tests wait for a task to reach one)."""
        return sum(1 for _, _, w in self._sleepers if not w.done())

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._order), waiter))
        try:
            await waiter
        finally:
            waiter.cancel()

    async def wait(self, event: asyncio.Event, timeout_s: float) -> bool:
        if event.is_set():
            return True
        set_task = asyncio.ensure_future(event.wait())
        sleep_task = asyncio.ensure_future(self.sleep(timeout_s))
        try:
            await asyncio.wait((set_task, sleep_task), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (set_task, sleep_task):
                task.cancel()
        return event.is_set()


def iso8601_ms(ts: float) -> str:
    """AWS's LastModified shape: ``2024-01-31T12:00:00.000+0000``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"
