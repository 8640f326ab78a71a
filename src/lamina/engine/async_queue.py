"""The async invocation queue: accept durably, then run each event through the invoker.

One poller per function with queued events. A poller takes concurrency leases first (so a
throttled function's events simply wait — a throttle is never an attempt), then claims that
many due events from the store and runs each through the single invoker path. The outcome
decides what happens next (reference C.1):

- success → ack, OnSuccess destination;
- function error (exception, timeout, crash) → retry after base × 1, then base × 2, up to
  MaximumRetryAttempts; then OnFailure / dead-letter queue with RetriesExhausted;
- too old → OnFailure / dead-letter queue with EventAgeExceeded;
- system error (ours, not the function's) → back off 1 s doubling to 5 min; not an attempt.

The request id of an event never changes across attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lamina.clock import Clock
from lamina.config import Settings
from lamina.control.event_config import EventConfigService, EventInvokeConfig
from lamina.engine.batching import Batcher
from lamina.engine.concurrency import Concurrency, Lease
from lamina.engine.destinations import Destinations, invocation_record
from lamina.engine.invoker import Invocation, Invoker, Outcome
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
#: A poller with nothing due looks again after at most this long.
IDLE_POLL_S = 1.0
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


class AsyncQueue:
    """Per-function pollers over the store's event queue."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        invoker: Invoker,
        concurrency: Concurrency,
        configs: EventConfigService,
        destinations: Destinations,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.invoker = invoker
        self.concurrency = concurrency
        self.configs = configs
        self.destinations = destinations
        self.clock = clock
        self._pollers: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._accepting = Batcher[AsyncEvent](self.store.enqueue_events)
        self._acking = Batcher[str](self.store.ack_events)
        self._paused: set[str] = set()
        self._system_failures: Counter[str] = Counter()
        self.received: Counter[str] = Counter()
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

    async def stop(self) -> None:
        """Cancel pollers and running events; their claims let them run again after restart."""
        tasks = [*self._pollers.values(), *self._running]
        if self._renewing is not None:
            tasks.append(self._renewing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._accepting.close()
        await self._acking.close()
        self._pollers.clear()
        self._running.clear()

    # -- accepting ----------------------------------------------------------------------------
    async def accept(
        self, function: str, qualifier: str | None, payload: bytes, request_id: str
    ) -> None:
        """Queue one event durably; returns after commit.

        Accepts that arrive in the same loop iteration share one store write (the store's
        group commit then shares the fsync too).
        """
        now = self.clock.time()
        event = AsyncEvent(
            request_id=request_id,
            function=function,
            qualifier=qualifier,
            payload=payload,
            enqueued_at=now,
            next_at=now,
        )
        await self._accepting.submit(event)
        self.received[function] += 1
        self._ensure_poller(function)
        if self._announce is not None and now - self._announced.get(function, 0.0) >= (
            ANNOUNCE_EVERY_S
        ):
            self._announced[function] = now
            await self._announce("events", function)

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
        wake = self._wake.setdefault(function, asyncio.Event())
        wake.set()
        if function not in self._pollers:
            task = asyncio.create_task(self._poll(function), name=f"lamina-poller-{function}")
            self._pollers[function] = task

    # -- polling ------------------------------------------------------------------------------
    async def _poll(self, function: str) -> None:
        wake = self._wake[function]
        try:
            while True:
                try:
                    if await self._poll_once(function, wake):
                        return
                except StoreError as exc:  # the store is unreachable: keep trying, slowly
                    log.warning("poller of %s: %s", function, exc)
                    await _wait(wake, IDLE_POLL_S)
        finally:
            if self._pollers.get(function) is asyncio.current_task():
                del self._pollers[function]

    async def _poll_once(self, function: str, wake: asyncio.Event) -> bool:
        """One round: claim and start what is due; True when the queue is empty (stop)."""
        wake.clear()
        if function in self._paused:
            await wake.wait()
            return False
        free = min(MAX_BATCH, self.concurrency.available(function))
        if free == 0:
            await self.concurrency.wait_capacity(IDLE_POLL_S)
            return False
        events = await self.store.claim_events(
            function, now=self.clock.time(), claim_s=self._claim_s, limit=free
        )
        for event in events:
            lease = self.concurrency.try_acquire(function)
            if lease is None:  # a sync caller took the slot meanwhile: not an attempt
                await self.store.reschedule_event(
                    event.request_id,
                    next_at=event.next_at,
                    attempts=event.attempts,
                    last_error=event.last_error,
                )
            else:
                self._start_run(event, lease)
        if events:
            return False
        if await self._finished(function, wake):
            return True
        await _wait(wake, IDLE_POLL_S)
        return False

    async def _finished(self, function: str, wake: asyncio.Event) -> bool:
        stats = await self.store.event_stats(function, now=self.clock.time())
        # No await between this check and the poller's removal, so an accept that set `wake`
        # after the stats read is never missed.
        return stats.depth == 0 and not wake.is_set()

    def _start_run(self, event: AsyncEvent, lease: Lease) -> None:
        task = asyncio.create_task(self._run(event, lease))
        self._running.add(task)
        self._in_flight.add(event.request_id)
        task.add_done_callback(self._running.discard)
        task.add_done_callback(lambda _t: self._in_flight.discard(event.request_id))

    async def _renew_claims(self) -> None:
        """Extend the claims of the events this node runs, for as long as it runs them."""
        while True:
            await asyncio.sleep(SHARED_RENEW_S)
            if not self._in_flight:
                continue
            try:
                until = self.clock.time() + self._claim_s
                await self.store.extend_event_claims(list(self._in_flight), until=until)
            except Exception as exc:  # the store is unreachable: try again next round
                log.warning("could not extend event claims: %s", exc)

    # -- one event ----------------------------------------------------------------------------
    async def _run(self, event: AsyncEvent, lease: Lease) -> None:
        try:
            cfg = await self.configs.effective(event.function, event.qualifier)
            if self.clock.time() - event.enqueued_at > cfg.max_age_s:
                self.concurrency.release(lease)
                await self._give_up(event, cfg, "EventAgeExceeded", event.attempts, None)
                return
            inv = Invocation(event.function, event.qualifier, event.payload, event.request_id)
            outcome = await self.invoker.invoke(inv, lease=lease)
        except ResourceNotFound:
            log.warning("event %s dropped: function %s is gone", event.request_id, event.function)
            self.dropped[event.function] += 1
            await self._acking.submit(event.request_id)
            return
        except Exception as exc:  # a system error: back off, not an attempt
            await self._system_error(event, exc)
            return
        await self._settle(event, cfg, outcome)

    async def _settle(self, event: AsyncEvent, cfg: EventInvokeConfig, out: Outcome) -> None:
        attempts = event.attempts + 1
        self._system_failures.pop(event.request_id, None)
        log.info(
            "event %s attempt %d/%d %s %.1f ms",
            event.request_id,
            attempts,
            cfg.retries + 1,
            out.error_type or "ok",
            out.duration_ms,
        )
        if out.function_error is None:
            self.succeeded[event.function] += 1
            await self._acking.submit(event.request_id)
            if cfg.on_success:
                await self.destinations.deliver(
                    cfg.on_success, self._record(event, "Success", attempts, out)
                )
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
            await self._give_up(event, cfg, "RetriesExhausted", attempts, out)

    async def _give_up(
        self,
        event: AsyncEvent,
        cfg: EventInvokeConfig,
        condition: str,
        attempts: int,
        out: Outcome | None,
    ) -> None:
        self.dropped[event.function] += 1
        log.info("event %s dropped: %s after %d attempts", event.request_id, condition, attempts)
        if cfg.on_failure:
            await self.destinations.deliver(
                cfg.on_failure, self._record(event, condition, attempts, out)
            )
        dlq = await self._dead_letter_target(event)
        if dlq:
            error = _error_text(out) if out else condition
            await self.destinations.dead_letter(dlq, event.payload, event.request_id, error)
        await self._acking.submit(event.request_id)

    async def _dead_letter_target(self, event: AsyncEvent) -> str | None:
        try:
            version, _ = await self.invoker.resolve(event.function, event.qualifier)
        except ResourceNotFound:
            return None
        return version.dead_letter_target

    def _record(
        self, event: AsyncEvent, condition: str, attempts: int, out: Outcome | None
    ) -> dict[str, object]:
        arn = self.invoker.aliases.functions.arns.function(
            event.function, event.qualifier or "$LATEST"
        )
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

    async def _system_error(self, event: AsyncEvent, exc: Exception) -> None:
        n = self._system_failures[event.request_id]
        self._system_failures[event.request_id] = n + 1
        delay = min(SYSTEM_BACKOFF_MAX_S, SYSTEM_BACKOFF_FIRST_S * 2**n)
        log.warning("event %s system error (%s); retry in %.0f s", event.request_id, exc, delay)
        await self.store.reschedule_event(
            event.request_id,
            next_at=self.clock.time() + delay,
            attempts=event.attempts,
            last_error=f"system error: {exc}",
        )

    # -- what AWS lacks -----------------------------------------------------------------------
    async def stats(self, function: str) -> tuple[EventQueueStats, QueueCounters, bool]:
        stats = await self.store.event_stats(function, now=self.clock.time())
        counters = QueueCounters(
            self.received[function],
            self.succeeded[function],
            self.retried[function],
            self.dropped[function],
        )
        return stats, counters, function in self._paused

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


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout_s)
