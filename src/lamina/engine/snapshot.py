"""One snapshot of the node: every stateful service's `statistics()` taken together.

`/lamina/v1/stats` and the dashboard's live stream render a snapshot as JSON (api/stats_view.py)
and `/metrics` as Prometheus text (engine/metrics.py); all take it from `Snapshots.take`, so
the views never disagree about what they count. Each part is a frozen record owned by the
service that counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from lamina.clock import Clock
from lamina.control.functions import FunctionService
from lamina.engine.async_queue import AsyncQueue, AsyncQueueStatistics
from lamina.engine.concurrency import Concurrency, ConcurrencyStatistics
from lamina.engine.destinations import DeliveryStatistics, Destinations
from lamina.engine.log_sink import LogSink, LogSinkStatistics
from lamina.engine.pool import Pool, PoolStatistics
from lamina.engine.provisioner import ProvisionedStatistics, Provisioner
from lamina.engine.recursion import RecursionGuard
from lamina.engine.sources import Sources, SourceStatistics
from lamina.engine.storage import StorageKeeper, StorageStatistics
from lamina.engine.telemetry import InvocationStatistics, Telemetry
from lamina.queues.service import QueueService, QueueServiceStatistics
from lamina.store.events import EventQueueStats


@dataclass(frozen=True)
class Snapshot:
    """What the node counts, at one moment (`at`, the clock's time). `functions` names every
    function that exists or still has live state (running invocations, environments)."""

    at: float
    functions: tuple[str, ...]
    concurrency: ConcurrencyStatistics
    environments: PoolStatistics
    provisioned: ProvisionedStatistics
    invocations: InvocationStatistics
    async_queue: AsyncQueueStatistics
    event_queues: Mapping[str, EventQueueStats]  # functions with queued events
    destinations: DeliveryStatistics
    sources: SourceStatistics
    queues: QueueServiceStatistics
    logs: LogSinkStatistics
    storage: StorageStatistics
    #: Runs stopped as recursive loops, per function.
    recursive_dropped: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshots:
    """Takes snapshots of the services it was built with (the node builds the one instance)."""

    clock: Clock
    functions: FunctionService
    concurrency: Concurrency
    pool: Pool
    provisioner: Provisioner
    telemetry: Telemetry
    async_queue: AsyncQueue
    destinations: Destinations
    sources: Sources
    queues: QueueService
    logs: LogSink
    storage: StorageKeeper
    recursion: RecursionGuard
    _closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def take(self) -> Snapshot:
        """Read every part; the store is read for function names and async queue depths."""
        metas = await self.functions.records.all_meta()
        event_queues = await self.async_queue.queue_stats()
        concurrency = self.concurrency.statistics()
        pool = self.pool.statistics()
        names = {*(m.name for m in metas), *concurrency.in_use, *pool.functions}
        return Snapshot(
            at=self.clock.time(),
            functions=tuple(sorted(names)),
            concurrency=concurrency,
            environments=pool,
            provisioned=self.provisioner.statistics(),
            invocations=self.telemetry.statistics(),
            async_queue=self.async_queue.statistics(),
            event_queues=event_queues,
            destinations=self.destinations.statistics(),
            sources=self.sources.statistics(),
            queues=self.queues.statistics(),
            logs=self.logs.statistics(),
            storage=self.storage.statistics(),
            recursive_dropped=self.recursion.statistics(),
        )

    async def follow(self, interval_s: float) -> AsyncIterator[Snapshot]:
        """A snapshot now and then one every `interval_s`, until `close`."""
        while not self._closed.is_set():
            yield await self.take()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), interval_s)

    def close(self) -> None:
        """End every `follow` loop (the node is stopping)."""
        self._closed.set()
