"""The async invocation queue: accept durably, then run each event through the invoker.

One poller per function with queued events. A poller claims as many due events from the
store as the function has free concurrency (so a throttled function's events simply wait — a
throttle is never an attempt) and runs each through the single invoker path, which waits
briefly for a lease. Each claimed event is one attempt (engine/attempts.py), whose outcome
decides what happens next: ack, retry later, drop to OnFailure / the DLQ, or back off.
Besides, the queue answers what AWS lacks: inspection, purge, pause and resume.

The request id of an event never changes across attempts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from lamina.clock import Clock
from lamina.config import Settings
from lamina.control.event_config import EventConfigService
from lamina.engine.attempts import ZERO_RESERVED, Attempts
from lamina.engine.batching import Batcher
from lamina.engine.concurrency import Concurrency
from lamina.engine.destinations import Destinations
from lamina.engine.intake import EventIntake
from lamina.engine.invoker import Invoker
from lamina.errors import ResourceNotFound, StoreError
from lamina.store.base import Delete, Put, Store
from lamina.store.events import AsyncEvent, EventQueueStats

log = logging.getLogger("lamina.async")

#: Most events one poller claims per round.
MAX_BATCH = 64
#: Longest a poller's claim on an event lasts (max function timeout plus slack).
EVENT_CLAIM_S = 960.0
#: On a store shared by several nodes: a short claim, extended every SHARED_RENEW_S while the
#: event runs, so the events of a node that died run elsewhere within SHARED_CLAIM_S.
SHARED_CLAIM_S = 10.0
SHARED_RENEW_S = 3.0
#: Due events a poller claims ahead of its free concurrency on a store no other node uses, so
#: a slot that frees up is refilled from memory instead of by a claim commit of its own.
PREFETCH = 32
#: A poller with nothing due looks again after at most this long.
IDLE_POLL_S = 1.0
#: First and longest pause before retrying a write the store refused (a full disk).
STORE_RETRY_S = 0.5
STORE_RETRY_MAX_S = 10.0
PAUSED_KIND = "queue-paused"
#: A node sharing its store tells the others about new events of a function at most this often.
ANNOUNCE_EVERY_S = 0.2

#: Tells the other nodes sharing the store: (kind, function name).
Announce = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True)
class QueueCounters:
    received: int
    succeeded: int
    retried: int
    dropped: int


@dataclass(frozen=True)
class AsyncQueueStatistics:
    """Per function since the node started: events received (AWS: AsyncEventsReceived),
    succeeded, retried and dropped (AWS: AsyncEventsDropped); and the paused queues."""

    received: Mapping[str, int] = field(default_factory=dict)
    succeeded: Mapping[str, int] = field(default_factory=dict)
    retried: Mapping[str, int] = field(default_factory=dict)
    dropped: Mapping[str, int] = field(default_factory=dict)
    paused: frozenset[str] = frozenset()


class AsyncQueue:
    """Per-function pollers over the store's event queue."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        intake: EventIntake,
        invoker: Invoker,
        concurrency: Concurrency,
        configs: EventConfigService,
        destinations: Destinations,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.intake = intake
        self.invoker = invoker
        self.concurrency = concurrency
        self.configs = configs
        self.destinations = destinations
        self.clock = clock
        self._pollers: dict[str, asyncio.Task[None]] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._acking = Batcher[str](self._ack)
        self._stopping = False
        self._paused: set[str] = set()
        self.attempts = Attempts(
            settings, store, invoker, configs, destinations, clock, self._acking.submit
        )
        self._announce: Announce | None = None
        self._claim_s = EVENT_CLAIM_S
        self._in_flight: set[str] = set()  # request ids this node runs
        self._prefetch = PREFETCH
        self._ready: dict[str, deque[AsyncEvent]] = {}  # claimed ahead, not started yet
        self._renewing: asyncio.Task[None] | None = None
        self._announced: dict[str, float] = {}  # function -> when the others were last told

    def share(self, announce: Announce) -> None:
        """Tell the other nodes on the same store about accepted events, pauses and resumes;
        claim briefly and extend the claims of running events."""
        self._announce = announce
        self._claim_s = SHARED_CLAIM_S
        self._prefetch = 0  # a purge through another node must not miss claimed events

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self, *, reset_claims: bool = True) -> None:
        """Resume every queue. `reset_claims`: void the event claims of a previous run (when this
        node is the store's only user; on a shared store claims lapse by themselves)."""
        self._paused = {k for k, _ in await self.store.scan(PAUSED_KIND)}
        if reset_claims:
            await self.store.reset_event_claims()
        if self._announce is not None:
            self._renewing = asyncio.create_task(self._renew_claims(), name="lamina-claims")
        for function in await self.store.event_functions():
            self._ensure_poller(function)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="lamina-async-intake")

    async def stop(self) -> None:
        """Cancel pollers and running events; their claims let them run again after restart."""
        self._stopping = True
        tasks = [*self._pollers.values(), *self._running]
        if self._dispatcher is not None:
            tasks.append(self._dispatcher)
        if self._renewing is not None:
            tasks.append(self._renewing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._acking.close()
        self._pollers.clear()
        self._running.clear()

    async def _ack(self, request_ids: list[str]) -> None:
        """Remove settled events, retrying while the store refuses (a full disk) so a settled
        event does not wait out its claim to run again; at stop, the restart's reset does."""
        delay = STORE_RETRY_S
        while True:
            try:
                await self.store.ack_events(request_ids)
                return
            except StoreError as exc:
                if self._stopping:
                    raise
                log.warning("removing %d settled events failed: %s", len(request_ids), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)

    # -- arriving ---------------------------------------------------------------------------
    async def _dispatch(self) -> None:
        """Start the poller of every function the intake accepted events for, and (on a shared
        store) tell the other nodes, at most every ANNOUNCE_EVERY_S per function."""
        while True:
            for function in await self.intake.arrivals():
                self._ensure_poller(function)
                await self._announce_events(function)

    async def _announce_events(self, function: str) -> None:
        if self._announce is None:
            return
        now = self.clock.monotonic()
        if now - self._announced.get(function, -ANNOUNCE_EVERY_S) >= ANNOUNCE_EVERY_S:
            self._announced[function] = now
            try:
                await self._announce("events", function)
            except Exception as exc:  # the others find the events on their next idle poll
                log.warning("could not announce events of %s: %s", function, exc)

    async def wake(self, function: str) -> None:
        """Another node queued events of `function`: run a poller here too."""
        self._ensure_poller(function)

    async def follow_pause(self, function: str) -> None:
        """Another node paused `function`'s queue."""
        self._paused.add(function)

    async def follow_resume(self, function: str) -> None:
        """Another node resumed `function`'s queue."""
        self._paused.discard(function)
        self._ensure_poller(function)

    def _ensure_poller(self, function: str) -> None:
        self.intake.wake(function).set()
        if function not in self._pollers:
            task = asyncio.create_task(self._poll(function), name=f"lamina-poller-{function}")
            self._pollers[function] = task

    # -- polling ------------------------------------------------------------------------------
    async def _poll(self, function: str) -> None:
        wake = self.intake.wake(function)
        try:
            while True:
                try:
                    if await self._poll_once(function, wake):
                        return
                except StoreError as exc:  # a full disk or an unreachable store: keep trying
                    log.warning("poller of %s: %s", function, exc)
                    await self.clock.wait(wake, STORE_RETRY_S)
        finally:
            if self._pollers.get(function) is asyncio.current_task():
                del self._pollers[function]

    async def _poll_once(self, function: str, wake: asyncio.Event) -> bool:
        """One round: claim and start what is due; True when the queue is empty (stop)."""
        wake.clear()
        if function in self._paused:
            await wake.wait()
            return False
        if self.concurrency.reserved(function) == 0:
            if await self._refuse_unrunnable(function):
                return False
            if await self._finished(function, wake):
                return True
            await self.clock.wait(wake, IDLE_POLL_S)
            return False
        free = min(MAX_BATCH, self.concurrency.available(function))
        if free == 0:
            await self.concurrency.wait_capacity(IDLE_POLL_S)
            return False
        ready = self._ready.setdefault(function, deque())
        started = 0
        while ready and started < free:
            self._start_run(ready.popleft())
            started += 1
        free -= started
        if free or len(ready) < self._prefetch // 2:
            events = await self.store.claim_events(
                function,
                now=self.clock.time(),
                claim_s=self._claim_s,
                limit=min(MAX_BATCH, free + self._prefetch - len(ready)),
            )
            for event in events[:free]:
                self._start_run(event)
            ready.extend(events[free:])
            started += len(events)
        if started:
            await asyncio.sleep(0)  # let the runs take their leases before looking again
            return False
        if not ready and await self._finished(function, wake):
            return True
        await self.clock.wait(wake, IDLE_POLL_S)
        return False

    async def _finished(self, function: str, wake: asyncio.Event) -> bool:
        stats = await self.store.event_stats(function, now=self.clock.time())
        # No await between this check and the poller's removal, so an accept that set `wake`
        # after the stats read is never missed.
        return stats.depth == 0 and not wake.is_set()

    async def _refuse_unrunnable(self, function: str) -> int:
        """Reserved concurrency 0: AWS sends each event, not run, to OnFailure / the DLQ
        (condition ZeroReservedConcurrency, approximateInvokeCount 0; recorded, issue 13)."""
        events = list(self._ready.pop(function, ()))
        events += await self.store.claim_events(
            function, now=self.clock.time(), claim_s=self._claim_s, limit=MAX_BATCH
        )
        for event in events:
            try:
                cfg = await self.configs.effective(event.function, event.qualifier)
                target = await self.invoker.resolve(event.function, event.qualifier)
            except ResourceNotFound:
                await self.attempts.gone(event)
                continue
            await self.attempts.give_up(event, cfg, ZERO_RESERVED, 0, target)
        return len(events)

    def _start_run(self, event: AsyncEvent) -> None:
        task = asyncio.create_task(self.attempts.run(event))
        self._running.add(task)
        self._in_flight.add(event.request_id)
        task.add_done_callback(self._running.discard)
        task.add_done_callback(_report_failed_run)
        task.add_done_callback(lambda _t: self._in_flight.discard(event.request_id))

    async def _renew_claims(self) -> None:
        """Extend the claims of the events this node runs, for as long as it runs them."""
        while True:
            await self.clock.sleep(SHARED_RENEW_S)
            if not self._in_flight:
                continue
            try:
                until = self.clock.time() + self._claim_s
                await self.store.extend_event_claims(list(self._in_flight), until=until)
            except Exception as exc:  # the store is unreachable: try again next round
                log.warning("could not extend event claims: %s", exc)

    @property
    def dropped(self) -> Counter[str]:
        """Events dropped per function (AWS: AsyncEventsDropped)."""
        return self.attempts.dropped

    # -- what AWS lacks -----------------------------------------------------------------------
    async def stats(self, function: str) -> tuple[EventQueueStats, QueueCounters, bool]:
        stats = await self.store.event_stats(function, now=self.clock.time())
        counters = QueueCounters(
            self.intake.received().get(function, 0),
            self.attempts.succeeded[function],
            self.attempts.retried[function],
            self.attempts.dropped[function],
        )
        return stats, counters, function in self._paused

    def statistics(self) -> AsyncQueueStatistics:
        return AsyncQueueStatistics(
            received=self.intake.received(),
            succeeded=dict(self.attempts.succeeded),
            retried=dict(self.attempts.retried),
            dropped=dict(self.attempts.dropped),
            paused=frozenset(self._paused),
        )

    async def queue_stats(self) -> dict[str, EventQueueStats]:
        """Each queue with events: depth (ready, delayed or running) and oldest event, from
        the store."""
        now = self.clock.time()
        return {
            f: await self.store.event_stats(f, now=now) for f in await self.store.event_functions()
        }

    async def list(self, function: str, after: str, limit: int) -> list[AsyncEvent]:
        return await self.store.list_events(function, after=after, limit=limit)

    async def purge(self, function: str) -> int:
        """Delete the events of `function` that are not running (those claimed ahead by its
        poller included)."""
        held = [e.request_id for e in self._ready.pop(function, ())]
        if held:
            await self.store.ack_events(held)
        return len(held) + await self.store.purge_events(function)

    async def pause(self, function: str) -> None:
        await self.store.transact([Put(PAUSED_KIND, function, b"1")])
        self._paused.add(function)
        if self._announce is not None:
            await self._announce("paused", function)

    async def resume(self, function: str) -> None:
        await self.store.transact([Delete(PAUSED_KIND, function)])
        self._paused.discard(function)
        self._ensure_poller(function)
        if self._announce is not None:
            await self._announce("resumed", function)


def _report_failed_run(task: asyncio.Task[None]) -> None:
    """A run whose settle could not be written (a full disk): its claim lapses, it runs again."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("settling an event failed; it runs again: %s", task.exception())
