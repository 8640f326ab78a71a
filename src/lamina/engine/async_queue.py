"""The async invocation queue: accept durably, then run each event through the invoker.

One poller per function with queued events. A poller claims as many due events from the
store as the function has free concurrency (so a throttled function's events simply wait — a
throttle is never an attempt) and runs each through the single invoker path, which waits
briefly for a lease. The outcome's kind decides what happens next (reference C.1):

- ok → ack, OnSuccess destination;
- function error (exception, timeout, crash) → retry after base × 1, then base × 2, up to
  MaximumRetryAttempts; then OnFailure / dead-letter queue with RetriesExhausted;
- throttled (a sync caller took the slot meanwhile) → back to the queue untouched;
- platform error (ours, not the function's) → back off 1 s doubling to 5 min; not an attempt;
- too old → OnFailure / dead-letter queue with EventAgeExceeded.

The request id of an event never changes across attempts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from lamina.clock import Clock
from lamina.config import Settings
from lamina.control.event_config import EventConfigService, EventInvokeConfig
from lamina.engine.batching import Batcher
from lamina.engine.concurrency import Concurrency
from lamina.engine.destinations import Destinations, invocation_record
from lamina.engine.intake import EventIntake
from lamina.engine.invoker import Invocation, Invoker, Outcome, OutcomeKind, Target
from lamina.errors import ResourceNotFound, StoreError
from lamina.store.base import Delete, Put, Store
from lamina.store.events import AsyncEvent, EventQueueStats

#: Condition of events refused because the function's reserved concurrency is 0.
ZERO_RESERVED = "ZeroReservedConcurrency"
#: Condition of an event stopped as a recursive loop (engine/recursion.py).
RECURSIVE = "RecursiveInvocationException"
#: DLQ ErrorMessage per condition of events that never ran (AWS's text, typo included).
DLQ_MESSAGES = {
    ZERO_RESERVED: "Function not invoked. Function isconfigured with zero reserved concurrent"
    " executions",
    RECURSIVE: "Function not invoked. Lambda detected a recursive loop.",
}
log = logging.getLogger("lamina.async")

#: Most events one poller claims per round.
MAX_BATCH = 64
#: Longest a poller's claim on an event lasts (max function timeout plus slack).
EVENT_CLAIM_S = 960.0
#: On a store shared by several nodes: a short claim, extended every SHARED_RENEW_S while the
#: event runs, so the events of a node that died run elsewhere within SHARED_CLAIM_S.
SHARED_CLAIM_S = 10.0
SHARED_RENEW_S = 3.0
#: A poller with nothing due looks again after at most this long.
IDLE_POLL_S = 1.0
#: How long a claimed event waits for a lease before it goes back to the queue untouched.
ADMISSION_WAIT_S = 1.0
#: First and longest pause before retrying a write the store refused (a full disk).
STORE_RETRY_S = 0.5
STORE_RETRY_MAX_S = 10.0
#: Backoff after a system error: first delay, and cap (reference C.1).
SYSTEM_BACKOFF_FIRST_S = 1.0
SYSTEM_BACKOFF_MAX_S = 300.0
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
        self._system_failures: Counter[str] = Counter()
        self.succeeded: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self._announce: Announce | None = None
        self._claim_s = EVENT_CLAIM_S
        self._in_flight: set[str] = set()  # request ids this node runs
        self._renewing: asyncio.Task[None] | None = None
        self._announced: dict[str, float] = {}  # function -> when the others were last told

    def share(self, announce: Announce) -> None:
        """Tell the other nodes on the same store about accepted events, pauses and resumes;
        claim briefly and extend the claims of running events."""
        self._announce = announce
        self._claim_s = SHARED_CLAIM_S

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
        events = await self.store.claim_events(
            function, now=self.clock.time(), claim_s=self._claim_s, limit=free
        )
        for event in events:
            self._start_run(event)
        if events:
            await asyncio.sleep(0)  # let the runs take their leases before looking again
            return False
        if await self._finished(function, wake):
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
        events = await self.store.claim_events(
            function, now=self.clock.time(), claim_s=self._claim_s, limit=MAX_BATCH
        )
        for event in events:
            try:
                cfg = await self.configs.effective(event.function, event.qualifier)
                target = await self.invoker.resolve(event.function, event.qualifier)
            except ResourceNotFound:
                self.dropped[event.function] += 1
                await self._acking.submit(event.request_id)
                continue
            await self._give_up(event, cfg, ZERO_RESERVED, 0, target)
        return len(events)

    def _start_run(self, event: AsyncEvent) -> None:
        task = asyncio.create_task(self._run(event))
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

    # -- one event ----------------------------------------------------------------------------
    async def _run(self, event: AsyncEvent) -> None:
        try:
            cfg = await self.configs.effective(event.function, event.qualifier)
            if self.clock.time() - event.enqueued_at > cfg.max_age_s:
                target = await self.invoker.resolve(event.function, event.qualifier)
                await self._give_up(event, cfg, "EventAgeExceeded", event.attempts, target)
                return
            lineage = self.invoker.recursion.lineage_of(event.request_id)
            if lineage and await self.invoker.recursion.stops(event.function, lineage):
                target = await self.invoker.resolve(event.function, event.qualifier)
                await self._give_up(event, cfg, RECURSIVE, event.attempts, target)
                return
            inv = Invocation(
                event.function, event.qualifier, event.payload, event.request_id, lineage=lineage
            )
            outcome = await self.invoker.invoke_queued(inv, wait_s=ADMISSION_WAIT_S)
        except ResourceNotFound:
            log.warning("event %s dropped: function %s is gone", event.request_id, event.function)
            self.dropped[event.function] += 1
            await self._acking.submit(event.request_id)
            return
        except Exception as exc:  # a system error: back off, not an attempt
            await self._system_error(event, str(exc))
            return
        await self._settle(event, cfg, outcome)

    async def _settle(self, event: AsyncEvent, cfg: EventInvokeConfig, out: Outcome) -> None:
        if out.kind is OutcomeKind.THROTTLED:  # not an attempt: back to the queue untouched
            await self.store.reschedule_event(
                event.request_id,
                next_at=event.next_at,
                attempts=event.attempts,
                last_error=event.last_error,
            )
            return
        if out.kind is OutcomeKind.PLATFORM_ERROR:
            await self._system_error(event, out.detail or "")
            return
        attempts = event.attempts + 1
        self._system_failures.pop(event.request_id, None)
        log.debug(
            "event %s attempt %d/%d %s %.1f ms",
            event.request_id,
            attempts,
            cfg.retries + 1,
            out.error_type or "ok",
            out.duration_ms,
        )
        if out.kind is OutcomeKind.OK:
            log.info("event %s succeeded after %d attempts", event.request_id, attempts)
            self.succeeded[event.function] += 1
            self.invoker.recursion.settled(event.request_id)
            await self._acking.submit(event.request_id)
            if cfg.on_success:
                record = self._record(event, "Success", attempts, out.invoked_arn, out)
                await self.destinations.deliver(cfg.on_success, record)
        elif attempts <= cfg.retries:
            self.retried[event.function] += 1
            delay = self.settings.async_retry_base_delay * attempts
            await self.store.reschedule_event(
                event.request_id,
                next_at=self.clock.time() + delay,
                attempts=attempts,
                last_error=_error_text(out),
            )
        else:
            await self._give_up(event, cfg, "RetriesExhausted", attempts, out, out)

    async def _give_up(
        self,
        event: AsyncEvent,
        cfg: EventInvokeConfig,
        condition: str,
        attempts: int,
        target: Target | Outcome,
        out: Outcome | None = None,
    ) -> None:
        """Drop the event: OnFailure record, dead-letter queue, ack. `target` says where
        failures of the invoked function go; `out` is the last attempt's outcome, if any."""
        self.dropped[event.function] += 1
        self.invoker.recursion.settled(event.request_id)
        log.info("event %s dropped: %s after %d attempts", event.request_id, condition, attempts)
        if cfg.on_failure:
            record = self._record(event, condition, attempts, target.invoked_arn, out)
            await self.destinations.deliver(cfg.on_failure, record)
        dlq = target.dead_letter_target
        if dlq:
            error = _error_text(out) if out else DLQ_MESSAGES.get(condition, condition)
            await self.destinations.dead_letter(dlq, event.payload, event.request_id, error)
        await self._acking.submit(event.request_id)

    def _record(
        self,
        event: AsyncEvent,
        condition: str,
        attempts: int,
        invoked_arn: str,
        out: Outcome | None,
    ) -> dict[str, object]:
        # AWS names the unqualified function's $LATEST in the record (reference C.3)
        arn = invoked_arn if event.qualifier else f"{invoked_arn}:$LATEST"
        return invocation_record(
            request_id=event.request_id,
            function_arn=arn,
            condition=condition,
            attempts=attempts,
            request_payload=event.payload,
            executed_version=out.executed_version if out else None,
            function_error=out.function_error if out else None,
            response_payload=out.payload if out else None,
            now=self.clock.time(),
        )

    async def _system_error(self, event: AsyncEvent, reason: str) -> None:
        n = self._system_failures[event.request_id]
        self._system_failures[event.request_id] = n + 1
        delay = min(SYSTEM_BACKOFF_MAX_S, SYSTEM_BACKOFF_FIRST_S * 2**n)
        log.warning("event %s system error (%s); retry in %.0f s", event.request_id, reason, delay)
        await self.store.reschedule_event(
            event.request_id,
            next_at=self.clock.time() + delay,
            attempts=event.attempts,
            last_error=f"system error: {reason}",
        )

    # -- what AWS lacks -----------------------------------------------------------------------
    async def stats(self, function: str) -> tuple[EventQueueStats, QueueCounters, bool]:
        stats = await self.store.event_stats(function, now=self.clock.time())
        counters = QueueCounters(
            self.intake.received().get(function, 0),
            self.succeeded[function],
            self.retried[function],
            self.dropped[function],
        )
        return stats, counters, function in self._paused

    def statistics(self) -> AsyncQueueStatistics:
        return AsyncQueueStatistics(
            received=self.intake.received(),
            succeeded=dict(self.succeeded),
            retried=dict(self.retried),
            dropped=dict(self.dropped),
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
        return await self.store.purge_events(function)

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


def _error_text(out: Outcome | None) -> str:
    if out is None:
        return ""
    return f"{out.error_type}: {out.payload[:512].decode(errors='replace')}"


def _report_failed_run(task: asyncio.Task[None]) -> None:
    """A run whose settle could not be written (a full disk): its claim lapses, it runs again."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("settling an event failed; it runs again: %s", task.exception())
