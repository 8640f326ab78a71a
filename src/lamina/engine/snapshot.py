"""One JSON-ready picture of the node now: what `/lamina/v1/stats`, the live stream and the
dashboard show.

Per function: running invocations against the function's limit, reserved and provisioned
concurrency, counters (invocations, errors, throttles — totals since the node started; a
viewer turns them into rates), environments by state, recent p50/p99 duration, and the async
queue's depth, oldest event age and pause state. Account-wide: the limit, the unreserved pool
and what runs now.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from lamina.clock import Clock
from lamina.control.functions import FunctionService
from lamina.engine.async_queue import AsyncQueue
from lamina.engine.concurrency import Concurrency
from lamina.engine.pool import Pool
from lamina.engine.telemetry import Telemetry
from lamina.store.events import EventQueueStats


class Snapshots:
    """Builds snapshots from the live parts of a node (nothing is cached between calls)."""

    def __init__(
        self,
        functions: FunctionService,
        concurrency: Concurrency,
        pool: Pool,
        telemetry: Telemetry,
        async_queue: AsyncQueue,
        clock: Clock,
    ) -> None:
        self.functions = functions
        self.concurrency = concurrency
        self.pool = pool
        self.telemetry = telemetry
        self.async_queue = async_queue
        self.clock = clock
        self._closed = asyncio.Event()

    def close(self) -> None:
        """End every `follow` loop (the node is stopping)."""
        self._closed.set()

    async def follow(self, interval_s: float) -> AsyncIterator[dict[str, Any]]:
        """A snapshot now and then every `interval_s`, until `close`."""
        while not self._closed.is_set():
            yield await self.take()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), interval_s)

    async def _queues(self) -> tuple[dict[str, EventQueueStats], set[str]]:
        stats: dict[str, EventQueueStats] = {}
        paused: set[str] = set()
        for name in await self.async_queue.functions_with_events():
            stats[name], _, _ = await self.async_queue.stats(name)
        paused.update(self.async_queue.paused())
        return stats, paused

    async def take(self) -> dict[str, Any]:
        """The snapshot: `{"at", "account", "environments", "functions": {name: {...}}}`."""
        c = self.concurrency.statistics()
        pool = self.pool.statistics()
        now = self.clock.time()
        queues, paused = await self._queues()
        metas = {m.name for m in await self.functions.records.all_meta()}
        provisioned = self.pool.provisioned_by_function()
        functions: dict[str, Any] = {}
        for name in sorted({*metas, *c.in_use, *pool.functions}):
            envs = pool.functions.get(name)
            live, busy = provisioned.get(name, (0, 0))
            queue = queues.get(name)
            oldest = queue.oldest_enqueued_at if queue else None
            durations = self.telemetry.percentiles(name)
            reserved = c.reserved.get(name)
            functions[name] = {
                "running": c.in_use.get(name, 0),
                "reserved": reserved,
                "limit": reserved if reserved is not None else c.unreserved_limit,
                "provisioned": {"ready": live - busy, "busy": busy},
                "throttles": c.throttles.get(name, 0),
                "invocations": self.telemetry.invocations.get(name, 0),
                "errors": self.telemetry.errors.get(name, 0),
                "environments": {
                    "total": (envs.starting + envs.ready + envs.busy) if envs else 0,
                    "starting": envs.starting if envs else 0,
                    "idle": envs.idle if envs else 0,
                    "busy": envs.busy if envs else 0,
                },
                "queue_depth": queue.depth if queue else 0,
                "queue_oldest_age_s": round(now - oldest, 3) if oldest is not None else None,
                "queue_paused": name in paused,
                "duration_p50_ms": round(durations[0], 2) if durations else None,
                "duration_p99_ms": round(durations[1], 2) if durations else None,
            }
        return {
            "at": now,
            "account": {
                "limit": c.account_limit,
                "unreserved_limit": c.unreserved_limit,
                "unreserved_in_use": c.unreserved_in_use,
                "in_use": sum(c.in_use.values()),
            },
            "environments": {
                "total": pool.total,
                "cold_starts": pool.cold_starts,
                "evictions": self.pool.evictions,
                "memory_in_use_mb": self.pool.memory_in_use_mb,
                "memory_budget_mb": self.pool.memory_budget_mb,
            },
            "functions": functions,
        }
