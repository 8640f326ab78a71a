"""Coalesce writes: items submitted during one event-loop iteration are written together.

Under load many invocations finish, or many events are accepted, in the same iteration; one
store call for all of them costs one trip to the writer thread instead of one each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    """Gives `flush` every item submitted in the same loop iteration; each submitter waits
    for the flush that carries its item and gets that flush's error, if any."""

    def __init__(self, flush: Callable[[list[T]], Awaitable[None]]) -> None:
        self._flush = flush
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._items.append(item)
        self._waiters.append(done)
        if len(self._items) == 1:
            loop.call_soon(self._start_flush)
        await done

    def _start_flush(self) -> None:
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        task = asyncio.create_task(self._run(items, waiters))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, items: list[T], waiters: list[asyncio.Future[None]]) -> None:
        try:
            await self._flush(items)
        except Exception as exc:  # every submitter of this batch sees the error
            for w in waiters:
                if not w.done():
                    w.set_exception(exc)
            return
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def close(self) -> None:
        """Wait for flushes in progress (their items are already on their way to the store)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
