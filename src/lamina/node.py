"""The composition root: build store → control → engine → api, and own every background task.

Background tasks are started in `start` and cancelled in `stop` in this order: the log
flusher and the reaper, the async pollers and their running events (leases let those run
again after a restart), the pool's environments, a final log flush, then the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil

from lamina.clock import Clock
from lamina.config import Settings
from lamina.control.aliases import AliasService
from lamina.control.arns import Arns
from lamina.control.code import CodeCache
from lamina.control.event_config import EventConfigService
from lamina.control.functions import FunctionService
from lamina.control.mappings import Mapping, MappingService
from lamina.control.permissions import PermissionService
from lamina.control.provisioned import ProvisionedService
from lamina.engine import forkserver
from lamina.engine.async_queue import AsyncQueue
from lamina.engine.cluster import ClusterLink
from lamina.engine.concurrency import Concurrency
from lamina.engine.destinations import Destinations
from lamina.engine.invoker import Invoker
from lamina.engine.leases import LeaseBook
from lamina.engine.log_sink import LogSink
from lamina.engine.pool import Pool
from lamina.engine.provisioner import Provisioner
from lamina.engine.sources import Sources
from lamina.engine.telemetry import Telemetry
from lamina.errors import LaminaError, ResourceNotFound
from lamina.queues.service import QueueService
from lamina.store.base import Store
from lamina.store.memory import MemoryStore
from lamina.store.redis_store import RedisStore
from lamina.store.sqlite import SqliteStore

log = logging.getLogger("lamina.node")

#: How often idle environments are looked at for reaping.
REAP_INTERVAL_S = 5.0
#: A background task that failed starts again after this long.
RESTART_DELAY_S = 1.0


def default_memory_budget_mb() -> int:
    """Three quarters of this machine's RAM, in MB."""
    return int(psutil.virtual_memory().total) * 3 // 4 // 2**20


def open_store(settings: Settings) -> tuple[Store, str]:
    """The store named by `--store`, and a short name for it."""
    if settings.store in ("sqlite", ""):
        return SqliteStore(Path(settings.data_dir), fsync=settings.fsync), "sqlite"
    if settings.store == "memory":  # keeps nothing across restarts: for tests and trials
        return MemoryStore(), "memory"
    if settings.store.startswith(("redis://", "rediss://", "unix://")):
        # Shared by every node on the same URL; --data-dir then holds only local caches.
        return RedisStore.from_url(settings.store), "redis"
    raise LaminaError(
        f"unknown --store {settings.store!r}: use sqlite, memory or redis://host:port/db"
    )


class Node:
    """One Lamina node: its store, services and background tasks."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        if settings.unreserved_floor > settings.account_concurrency:
            raise LaminaError(
                f"--unreserved-minimum {settings.unreserved_floor} is above the account"
                f" concurrency {settings.account_concurrency}"
            )
        self.settings = settings
        self.clock = clock or Clock()
        self.store, self.store_kind = open_store(settings)
        self.arns = Arns(settings.region, settings.account_id)
        self.code = CodeCache(Path(settings.data_dir) / "code")
        self.functions = FunctionService(self.store, self.arns, self.code, self.clock)
        self.aliases = AliasService(self.functions)
        self.concurrency = Concurrency(settings.account_concurrency)
        # stable across restarts of this node, so a restart takes over its own old record
        node_id = f"{socket.gethostname()}:{settings.port}"
        self.leases = LeaseBook(self.store, self.concurrency, self.clock, node_id=node_id)
        self.pool = Pool(
            idle_timeout_s=settings.env_idle_timeout,
            memory_budget_mb=settings.memory_budget or default_memory_budget_mb(),
        )
        self.logs = LogSink(self.store)
        self.telemetry = Telemetry()
        self.telemetry.watch(self.concurrency, self.pool)
        self.invoker = Invoker(
            settings,
            self.store,
            self.aliases,
            self.pool,
            self.concurrency,
            self.logs,
            self.code.path,
            self.telemetry,
        )
        self.queues = QueueService(
            self.store,
            self.clock,
            region=settings.region,
            account_id=settings.account_id,
            endpoint_url=settings.endpoint_url,
        )
        self.mappings = MappingService(self.store, self.aliases, self.clock, self.queues.exists)
        self.sources = Sources(
            self.queues,
            self.invoker,
            self.concurrency,
            settings.region,
            self.mappings.record_result,
        )
        self.mappings.on_change(self.sources.changed)
        self.provisioned = ProvisionedService(
            self.store, self.aliases, self.clock, settings.unreserved_floor,
            settings.account_concurrency,
        )  # fmt: skip
        self.provisioner = Provisioner(self.provisioned, self.aliases, self.invoker, self.pool)
        self.provisioned.on_change(self.provisioner.changed)
        self.destinations = Destinations(self.arns, self.functions)
        self.event_configs = EventConfigService(
            self.functions, self.clock, self.destinations.exists
        )
        self.permissions = PermissionService(self.functions)
        self.async_queue = AsyncQueue(
            settings,
            self.store,
            self.invoker,
            self.concurrency,
            self.event_configs,
            self.destinations,
            self.clock,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.functions.on_change(self._sync_reserved)
        self.functions.on_change(self.provisioner.changed)
        self.cluster = self._link_cluster(node_id)

    def _link_cluster(self, node_id: str) -> ClusterLink | None:
        """On a shared (Redis) store: publish this node's changes and apply the others'."""
        if self.store_kind != "redis":
            return None
        cluster = ClusterLink(self.settings.store, node_id)
        self.functions.on_change(lambda name: cluster.publish("function", name))
        cluster.handle("function", self.functions.changed)
        self.async_queue.share(cluster.publish)
        cluster.handle("events", self.async_queue.wake)
        cluster.handle("paused", self.async_queue.follow_pause)
        cluster.handle("resumed", self.async_queue.follow_resume)
        self.provisioned.on_change(lambda name: cluster.publish("provisioned", name))
        cluster.handle("provisioned", self.provisioner.changed)
        self.mappings.on_change(lambda _mapping, key: cluster.publish("mapping", key))
        cluster.handle("mapping", self._mapping_changed_elsewhere)
        return cluster

    async def _mapping_changed_elsewhere(self, key: str) -> None:
        try:
            mapping: Mapping | None = await self.mappings.get(key)
        except ResourceNotFound:
            mapping = None
        await self.sources.changed(mapping, key)

    async def _sync_reserved(self, name: str) -> None:
        found = await self.functions.records.meta(name)
        self.concurrency.set_reserved(name, found[0].reserved_concurrency if found else None)

    def _spawn(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            while True:  # a failure (the store unreachable for a while) restarts the task
                try:
                    await work()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("background task %s failed; restarting it", name)
                await asyncio.sleep(RESTART_DELAY_S)

        self._tasks.append(asyncio.create_task(guarded(), name=f"lamina-{name}"))

    def stopping_threadsafe(self) -> None:
        """A stop was asked for (from a signal handler): answer open long polls now."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.queues.close)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.store.open()
        log.info("store opened: %s at %s", self.store_kind, self.settings.data_dir)
        for meta in await self.functions.records.all_meta():
            self.concurrency.set_reserved(meta.name, meta.reserved_concurrency)
        await self.queues.start()
        self.destinations.bind(self.queues, self.async_queue.accept)
        if self.settings.fork_server:
            forked = await forkserver.wait_ready()
            log.info("fork server %s", "ready" if forked else "unavailable; environments spawn")
        if self.cluster is not None:
            self._spawn("cluster", self.cluster.run)
            await self.cluster.wait_subscribed()
        await self.async_queue.start(reset_claims=self.cluster is None)
        await self.sources.start(await self.mappings.all())
        await self.provisioner.start()
        await self.leases.sync()
        self._spawn("leases", self.leases.run)
        self._spawn("reaper", self._reap_forever)
        self._spawn("queue-expiry", self.queues.expire_forever)
        self._spawn("logs", self.logs.run)
        log.info("node ready: account concurrency %d", self.settings.account_concurrency)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            await self.provisioner.maintain()
            reaped = await self.pool.reap_idle()
            if reaped:
                log.info("reaped %d idle environments", reaped)

    async def stop(self) -> None:
        for task in reversed(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.queues.close()
        await self.sources.stop()
        await self.provisioner.stop()
        await self.async_queue.stop()
        log.info("async pollers and event source pollers stopped")
        await self.pool.close()
        await forkserver.close()
        log.info("environments stopped")
        await self.leases.withdraw()
        await self.logs.flush()
        if self.cluster is not None:
            await self.cluster.close()
        await self.store.close()
        log.info("store closed")
