"""One snapshot of the node: every stateful service's `statistics()` taken together.

`/lamina/v1/stats` renders a snapshot as JSON and `/metrics` as Prometheus text
(engine/metrics.py); both take it from `Snapshots.take`, so the two views never disagree
about what they count. Each part is a frozen record owned by the service that counts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lamina.control.functions import FunctionService
from lamina.engine.async_queue import AsyncQueue, AsyncQueueStatistics
from lamina.engine.concurrency import Concurrency, ConcurrencyStatistics
from lamina.engine.destinations import DeliveryStatistics, Destinations
from lamina.engine.log_sink import LogSink, LogSinkStatistics
from lamina.engine.pool import Pool, PoolStatistics
from lamina.engine.provisioner import ProvisionedStatistics, Provisioner
from lamina.engine.sources import Sources, SourceStatistics
from lamina.engine.telemetry import InvocationStatistics, Telemetry
from lamina.queues.service import QueueService, QueueServiceStatistics


@dataclass(frozen=True)
class Snapshot:
    """What the node counts, at one moment. `functions` names every function that exists or
    still has live state (running invocations, environments)."""

    functions: tuple[str, ...]
    concurrency: ConcurrencyStatistics
    environments: PoolStatistics
    provisioned: ProvisionedStatistics
    invocations: InvocationStatistics
    async_queue: AsyncQueueStatistics
    queue_depths: Mapping[str, int]
    destinations: DeliveryStatistics
    sources: SourceStatistics
    queues: QueueServiceStatistics
    logs: LogSinkStatistics


@dataclass(frozen=True)
class Snapshots:
    """Takes snapshots of the services it was built with (the node builds the one instance)."""

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

    async def take(self) -> Snapshot:
        """Read every part; the store is read for function names and async queue depths."""
        metas = await self.functions.records.all_meta()
        depths = await self.async_queue.depths()
        concurrency = self.concurrency.statistics()
        pool = self.pool.statistics()
        names = {*(m.name for m in metas), *concurrency.in_use, *pool.functions}
        return Snapshot(
            functions=tuple(sorted(names)),
            concurrency=concurrency,
            environments=pool,
            provisioned=self.provisioner.statistics(),
            invocations=self.telemetry.statistics(),
            async_queue=self.async_queue.statistics(),
            queue_depths=depths,
            destinations=self.destinations.statistics(),
            sources=self.sources.statistics(),
            queues=self.queues.statistics(),
            logs=self.logs.statistics(),
        )
