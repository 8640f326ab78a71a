"""The composition root: build store → queues → control → engine → the API's services, and
own every background task.

Background tasks are started in `start` and cancelled in `stop` in this order: the log
flusher and the reaper, the async pollers and their running events (their claims let those
run again after a restart), the pool's environments, a final log flush, then the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil

from lamina.api.services import Services
from lamina.clock import Clock
from lamina.config import Settings
from lamina.control.aliases import AliasService
from lamina.control.arns import Arns
from lamina.control.code import CodeCache
from lamina.control.event_config import EventConfigService
from lamina.control.functions import FunctionService
from lamina.control.layer_dirs import LayerDirs
from lamina.control.layer_policies import LayerPolicies
from lamina.control.layers import LayerService
from lamina.control.mappings import Mapping, MappingService
from lamina.control.permissions import PermissionService
from lamina.control.provisioned import ProvisionedService
from lamina.control.recursion import RecursionConfigService
from lamina.engine.async_queue import AsyncQueue
from lamina.engine.cluster import ClusterLink
from lamina.engine.concurrency import Concurrency
from lamina.engine.destinations import Destinations
from lamina.engine.envelope import Envelopes, harden_data_dir
from lamina.engine.global_slots import GlobalSlots
from lamina.engine.init_slots import default_init_budget
from lamina.engine.intake import EventIntake
from lamina.engine.interpreters import parse_overrides
from lamina.engine.invoker import Invoker
from lamina.engine.launcher import Launcher
from lamina.engine.leases import LeaseBook
from lamina.engine.log_sink import LogSink
from lamina.engine.pool import Pool
from lamina.engine.provisioner import ProvisionedBook, Provisioner
from lamina.engine.recursion import RecursionGuard
from lamina.engine.snapshot import Snapshots
from lamina.engine.snapstart import SnapStart
from lamina.engine.sources import Sources
from lamina.engine.storage import StorageKeeper
from lamina.engine.telemetry import Telemetry
from lamina.errors import LaminaError, ResourceNotFound
from lamina.logs.service import LogService
from lamina.queues.service import QueueService
from lamina.store.opening import open_store

log = logging.getLogger("lamina.node")

#: How often idle environments are looked at for reaping.
REAP_INTERVAL_S = 5.0
#: A background task that failed starts again after this long.
RESTART_DELAY_S = 1.0


def default_memory_budget_mb() -> int:
    """Three quarters of this machine's RAM, in MB."""
    return int(psutil.virtual_memory().total) * 3 // 4 // 2**20


class Node:
    """One Lamina node: its store, services and background tasks.

    `__init__` builds the parts in dependency order: the store; the queue service (a data
    service on the store, like control, which control validates against and the engine sends
    to); control; the engine; and last the narrow services the API is given. Changes flow back
    up through the listeners defined here: `_function_changed` (the one ordered fan-out),
    `_provisioned_changed` and `_mapping_changed`.
    """

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        if settings.unreserved_floor > settings.account_concurrency:
            raise LaminaError(
                f"--unreserved-minimum {settings.unreserved_floor} is above the account"
                f" concurrency {settings.account_concurrency}"
            )
        self.settings = settings
        self.clock = clock or Clock()
        self.store, self.store_kind = open_store(
            settings.store, Path(settings.data_dir), fsync=settings.fsync
        )
        self.queues = QueueService(
            self.store,
            self.clock,
            region=settings.region,
            account_id=settings.account_id,
            endpoint_url=settings.public_base,
        )
        self._build_control(settings)
        self._build_engine(settings)
        self.services = self._api_services()
        self.cluster = self._link_cluster(self.leases.node_id)
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def _build_control(self, settings: Settings) -> None:
        """The model: functions, aliases and every config, each validated the AWS way."""
        self.arns = Arns(settings.region, settings.account_id)
        self.code = CodeCache(Path(settings.data_dir) / "code")
        self.functions = FunctionService(
            self.store,
            self.arns,
            self.code,
            self.clock,
            changed=self._function_changed,
            shared_store=self.store_kind == "redis",
        )
        self.collector = self.functions.collector
        self.layers = LayerService(self.store, self.arns, self.collector, self.clock)
        self.aliases = AliasService(self.functions)
        self.permissions = PermissionService(self.functions)
        self.event_configs = EventConfigService(self.functions, self.clock, self.queues.exists)
        self.recursion_configs = RecursionConfigService(self.functions)
        self.provisioned = ProvisionedService(
            self.store,
            self.aliases,
            self.clock,
            settings.unreserved_floor,
            settings.account_concurrency,
            changed=self._provisioned_changed,
        )
        self.mappings = MappingService(
            self.store, self.aliases, self.clock, self.queues.exists, self._mapping_changed
        )

    def _build_engine(self, settings: Settings) -> None:
        """The data plane: leases, environments, the invoker and what feeds it."""
        self.concurrency = Concurrency(settings.account_concurrency, self.clock)
        # On a shared (Redis) store, admission goes through slots every node sees at once.
        self.global_slots: GlobalSlots | None = None
        if self.store_kind == "redis":
            self.global_slots = GlobalSlots(settings.store, self.clock)
            self.concurrency.use_global(self.global_slots)
        # stable across restarts of this node, so a restart takes over its own old record
        node_id = f"{socket.gethostname()}:{settings.port}"
        self.leases = LeaseBook(self.store, self.concurrency, self.clock, node_id=node_id)
        self.launcher = Launcher(
            self.clock,
            fork=settings.fork_server,
            runtime_root=Path(settings.data_dir).absolute() / "runtime",
            overrides=parse_overrides(settings.runtime),
        )
        self.pool = Pool(
            self.launcher,
            idle_timeout_s=settings.env_idle_timeout,
            memory_budget_mb=settings.memory_budget or default_memory_budget_mb(),
            init_budget=settings.max_concurrent_inits or default_init_budget(),
        )
        self.provisioned_book = ProvisionedBook(self.pool)
        self.logs = LogSink(
            self.store,
            self.clock,
            group_cap_bytes=int(settings.log_retention_mb * 2**20),
            total_cap_bytes=int(settings.log_retention_total_mb * 2**20),
        )
        self.log_service = LogService(self.store, self.logs)
        self.storage = StorageKeeper(self.store, self.code)
        self.telemetry = Telemetry()
        self.invoker = Invoker(
            settings,
            self.store,
            self.aliases,
            self.pool,
            self.concurrency,
            self.logs,
            self.code.path,
            provisioned=self.provisioned_book,
            telemetry=self.telemetry,
            clock=self.clock,
            recursion=RecursionGuard(self.recursion_configs),
            layer_dirs=LayerDirs(self.code, self.store),
        )
        # a code directory is in use while an environment runs on it, or (merged layers) while
        # an invocation runs with it
        self.collector.in_use = lambda: self.pool.code_dirs_in_use() | self.invoker.opt_in_use()
        self.snapstart = SnapStart(self.functions, self.pool, self.invoker.spec, self.logs)
        self.functions.published = self.snapstart.published
        self.provisioner = Provisioner(
            self.provisioned, self.aliases, self.invoker.spec, self.pool, self.provisioned_book
        )
        self.leases.provisioned = self.provisioner.all_figures
        self.intake = EventIntake(self.store, self.clock)
        self.destinations = Destinations(self.arns, self.functions, self.queues, self.intake)
        self.async_queue = AsyncQueue(
            settings,
            self.store,
            self.intake,
            self.invoker,
            self.concurrency,
            self.event_configs,
            self.destinations,
            self.clock,
        )
        self.sources = Sources(
            self.queues,
            self.invoker,
            self.concurrency,
            settings.region,
            self.mappings.record_result,
            self.clock,
            self.global_slots,
        )
        self.snapshots = Snapshots(
            clock=self.clock,
            functions=self.functions,
            concurrency=self.concurrency,
            pool=self.pool,
            provisioner=self.provisioner,
            telemetry=self.telemetry,
            async_queue=self.async_queue,
            destinations=self.destinations,
            sources=self.sources,
            queues=self.queues,
            logs=self.logs,
            storage=self.storage,
            recursion=self.invoker.recursion,
        )

    def _link_cluster(self, node_id: str) -> ClusterLink | None:
        """On a shared (Redis) store: the link that tells the other nodes what changed here
        (the `_*_changed` listeners publish) and applies what changed there."""
        if self.store_kind != "redis":
            return None
        cluster = ClusterLink(self.settings.store, node_id)
        cluster.handle("function", self._function_changed)
        cluster.handle("provisioned", self._provisioned_changed)
        cluster.handle("mapping", self._mapping_changed_elsewhere)
        self.queues.registry.share(cluster.publish)
        cluster.handle("queue", self.queues.registry.refresh)
        self.provisioner.share(self.leases.others, self.leases.sync)
        self.async_queue.share(cluster.publish)
        cluster.handle("events", self.async_queue.wake)
        cluster.handle("paused", self.async_queue.follow_pause)
        cluster.handle("resumed", self.async_queue.follow_resume)
        return cluster

    async def _publish(self, kind: str, name: str) -> None:
        if self.cluster is not None:
            await self.cluster.publish(kind, name)

    async def _mapping_changed_elsewhere(self, key: str) -> None:
        try:
            mapping: Mapping | None = await self.mappings.get(key)
        except ResourceNotFound:
            mapping = None
        await self.sources.changed(mapping, key)

    def _api_services(self) -> Services:
        """What routes may call: no store, no pool, no node."""
        return Services(
            settings=self.settings,
            clock=self.clock,
            store_kind=self.store_kind,
            arns=self.arns,
            functions=self.functions,
            aliases=self.aliases,
            layers=self.layers,
            layer_policies=LayerPolicies(self.layers),
            event_configs=self.event_configs,
            recursion_configs=self.recursion_configs,
            permissions=self.permissions,
            mappings=self.mappings,
            provisioned=self.provisioned,
            provisioner=self.provisioner,
            invoker=self.invoker,
            intake=self.intake,
            async_queue=self.async_queue,
            queues=self.queues,
            logs=self.logs,
            log_service=self.log_service,
            storage=self.storage,
            leases=self.leases,
            snapshots=self.snapshots,
        )

    async def _function_changed(self, name: str) -> None:
        """Function `name`, one of its aliases or one of its configs changed: tell, in order,
        the caches of resolved versions, the policies (of what was deleted), the reserved
        concurrency, then the provisioner."""
        await self.invoker.forget(name)
        await self.snapstart.changed(name)
        self.event_configs.forget(name)
        await self.permissions.drop_orphans(name)
        found = await self.functions.records.meta(name)
        reserved = found[0].reserved_concurrency if found else None
        self.concurrency.set_reserved(name, reserved)
        if self.global_slots is not None:  # what admission on every node reads
            await self.global_slots.set_reserved(name, reserved)
        await self.provisioner.changed(name)
        await self._publish("function", name)

    async def _provisioned_changed(self, name: str) -> None:
        """A provisioned concurrency config of `name` was put or deleted: re-plan only its
        provisioned environments (the function itself did not change; its environments stay)."""
        await self.provisioner.changed(name)
        await self._publish("provisioned", name)

    async def _mapping_changed(self, mapping: Mapping | None, key: str) -> None:
        """Mapping `key` was created, updated or deleted (None): restart or stop its poller."""
        await self.sources.changed(mapping, key)
        await self._publish("mapping", key)

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
            self._loop.call_soon_threadsafe(self.snapshots.close)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        settings = self.settings
        setup = functools.partial(Envelopes.setup, freeze=settings.freeze)
        self.pool.envelopes = await asyncio.to_thread(
            setup, settings.isolation, share=settings.sandbox_share
        )
        await self.store.open()
        if self.pool.envelopes.drop_user:  # environments run as other users: keep them out
            await asyncio.to_thread(harden_data_dir, Path(settings.data_dir))
        log.info("store opened: %s at %s", self.store_kind, self.settings.data_dir)
        swept = await self.collector.sweep()
        if swept:
            log.info("start-up sweep removed %d unreferenced code packages", swept)
        await self.logs.start()
        metas = await self.functions.records.all_meta()
        await self.concurrency.load_reserved({m.name: m.reserved_concurrency for m in metas})
        await self.queues.start()
        forked = await self.launcher.start()
        if self.settings.fork_server:
            log.info("fork server %s", "ready" if forked else "unavailable; environments spawn")
        await self.snapstart.resume()
        if self.cluster is not None:
            self._spawn("cluster", self.cluster.run)
            await self.cluster.wait_subscribed()
        await self.async_queue.start(reset_claims=self.cluster is None)
        await self.sources.start(await self.mappings.all())
        await self.provisioner.start()
        await self.leases.sync()
        self._spawn("leases", self.leases.run)
        if self.global_slots is not None:
            self._spawn("global-slots", self.global_slots.renew_forever)
        self._spawn("reaper", self._reap_forever)
        self._spawn("queue-expiry", self.queues.expire_forever)
        self._spawn("logs", self.logs.run)
        self._spawn("storage", self.storage.run)
        log.info("node ready: account concurrency %d", self.settings.account_concurrency)

    async def _reap_forever(self) -> None:
        while True:
            await self.clock.sleep(REAP_INTERVAL_S)
            await self.provisioner.maintain()
            reaped = await self.pool.reap_idle()
            if reaped:
                log.info("reaped %d idle environments", reaped)
            await self.collector.retry_deferred()

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
        await self.intake.close()
        log.info("async pollers and event source pollers stopped")
        await self.snapstart.stop()
        await self.pool.close()
        await self.launcher.close()
        log.info("environments stopped")
        await self.leases.withdraw()
        if self.global_slots is not None:
            await self.global_slots.close()
        await self.logs.flush()
        if self.cluster is not None:
            await self.cluster.close()
        await self.store.close()
        log.info("store closed")
