"""Coalesce writes: group commit at the event-loop level.

Items submitted while no flush is running are flushed at the end of the loop iteration;
items submitted while one is running wait for it and then go out together in the next. Under
load, many invocations finish or many events are accepted during one commit, so one store
call carries all of them: one trip to the writer thread and one transaction instead of one
each. A lone submitter still goes out in the iteration it came in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: Most items one flush carries (the rest go in the next).
MAX_BATCH = 1024


class Batcher(Generic[T]):
    """Gives `flush` the items submitted since the last flush started, one flush at a time;
    each submitter waits for the flush that carries its item and gets its error, if any."""

    def __init__(self, flush: Callable[[list[T]], Awaitable[None]]) -> None:
        self._flush = flush
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._running: asyncio.Task[None] | None = None
        self._scheduled = False

    async def submit(self, item: T) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._items.append(item)
        self._waiters.append(done)
        if self._running is None and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start_flush)
        await done

    def _start_flush(self) -> None:
        self._scheduled = False
        if self._running is not None or not self._items:
            return
        items, waiters = self._items[:MAX_BATCH], self._waiters[:MAX_BATCH]
        del self._items[:MAX_BATCH], self._waiters[:MAX_BATCH]
        self._running = asyncio.create_task(self._run(items, waiters))

    async def _run(self, items: list[T], waiters: list[asyncio.Future[None]]) -> None:
        try:
            await self._flush(items)
        except Exception as exc:  # every submitter of this batch sees the error
            for w in waiters:
                if not w.done():
                    w.set_exception(exc)
        else:
            for w in waiters:
                if not w.done():
                    w.set_result(None)
        finally:
            self._running = None
            if self._items:  # what arrived during this flush goes out now, together
                self._start_flush()

    async def close(self) -> None:
        """Wait for flushes in progress and those queued behind them (their items are already
        on their way to the store)."""
        if self._running is None:
            self._start_flush()
        while self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
