"""The async intake: the one door through which events enter the async queue.

The Event invoke API and function destinations both hand events to `EventIntake.accept`,
which returns once the event is committed (accepts of one loop iteration share one store
write). The intake is built before everything that accepts events and before the queue
that runs them, so neither has to be connected to the other later: the async queue asks
`arrivals()` which functions received events and starts their pollers.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping

from lamina.clock import Clock
from lamina.engine.batching import Batcher
from lamina.store.base import Store
from lamina.store.events import AsyncEvent


class EventIntake:
    """Queues async events durably and tells the async queue which functions have new ones."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.clock = clock
        self._accepting = Batcher[AsyncEvent](store.enqueue_events)
        self._received: Counter[str] = Counter()
        self._wakes: dict[str, asyncio.Event] = {}
        self._new: set[str] = set()
        self._arrived = asyncio.Event()

    async def accept(
        self,
        function: str,
        qualifier: str | None,
        payload: bytes,
        request_id: str,
        lineage: int = 0,
    ) -> None:
        """Queue one event of `function` durably (with its lineage count, for recursive loop
        detection); returns after commit."""
        now = self.clock.time()
        event = AsyncEvent(
            request_id=request_id,
            function=function,
            qualifier=qualifier,
            payload=payload,
            enqueued_at=now,
            next_at=now,
            lineage=lineage,
        )
        await self._accepting.submit(event)
        self._received[function] += 1
        self.wake(function).set()
        self._new.add(function)
        self._arrived.set()

    def wake(self, function: str) -> asyncio.Event:
        """The event set whenever `function` receives an event (its poller waits on it)."""
        return self._wakes.setdefault(function, asyncio.Event())

    async def arrivals(self) -> set[str]:
        """Wait until some functions received events since the last call; their names."""
        await self._arrived.wait()
        self._arrived.clear()
        new, self._new = self._new, set()
        return new

    def received(self) -> Mapping[str, int]:
        """Events accepted per function since the node started (AWS: AsyncEventsReceived)."""
        return dict(self._received)

    async def close(self) -> None:
        """Wait for writes in progress (their events are already on their way to the store)."""
        await self._accepting.close()
