"""What one attempt of an async event leads to: run it, then ack, retry, drop or back off.

The async queue (engine/async_queue.py) claims events and hands each to `Attempts.run`, which
decides from the outcome's kind alone (reference C.1):

- ok → ack, OnSuccess destination;
- function error (exception, timeout, crash) → retry after base × 1, then base × 2, up to
  MaximumRetryAttempts; then OnFailure / dead-letter queue with RetriesExhausted;
- throttled (a sync caller took the slot meanwhile) → back to the queue untouched;
- platform error (ours, not the function's) → back off 1 s doubling to 5 min; not an attempt;
- too old → OnFailure / dead-letter queue with EventAgeExceeded; a recursive loop (past 16
  hops, engine/recursion.py) → the same with RecursiveInvocationException.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from lamina.clock import Clock
from lamina.config import Settings
from lamina.control.event_config import EventConfigService, EventInvokeConfig
from lamina.engine.destinations import Destinations, invocation_record
from lamina.engine.invoker import Invocation, Invoker, Outcome, OutcomeKind, Target
from lamina.errors import ResourceNotFound
from lamina.store.base import Store
from lamina.store.events import AsyncEvent

log = logging.getLogger("lamina.async")

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
#: How long a claimed event waits for a lease before it goes back to the queue untouched.
ADMISSION_WAIT_S = 1.0
#: Backoff after a system error: first delay, and cap (reference C.1).
SYSTEM_BACKOFF_FIRST_S = 1.0
SYSTEM_BACKOFF_MAX_S = 300.0


class Attempts:
    """Runs attempts of async events and settles them; counts what became of them."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        invoker: Invoker,
        configs: EventConfigService,
        destinations: Destinations,
        clock: Clock,
        ack: Callable[[str], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.store = store
        self.invoker = invoker
        self.configs = configs
        self.destinations = destinations
        self.clock = clock
        self._ack = ack  # removes a settled event (batched by the queue)
        self._system_failures: Counter[str] = Counter()
        self.succeeded: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()

    async def gone(self, event: AsyncEvent) -> None:
        """The event's function no longer exists: drop the event."""
        log.warning("event %s dropped: function %s is gone", event.request_id, event.function)
        self.dropped[event.function] += 1
        await self._ack(event.request_id)

    async def run(self, event: AsyncEvent) -> None:
        """Run one attempt of `event` (or drop it, if too old or a recursive loop) and settle it."""
        try:
            cfg = await self.configs.effective(event.function, event.qualifier)
            if self.clock.time() - event.enqueued_at > cfg.max_age_s:
                target = await self.invoker.resolve(event.function, event.qualifier)
                await self.give_up(event, cfg, "EventAgeExceeded", event.attempts, target)
                return
            lineage = event.lineage
            if lineage and await self.invoker.recursion.stops(event.function, lineage):
                target = await self.invoker.resolve(event.function, event.qualifier)
                await self.give_up(event, cfg, RECURSIVE, event.attempts, target)
                return
            inv = Invocation(
                event.function, event.qualifier, event.payload, event.request_id, lineage=lineage
            )
            outcome = await self.invoker.invoke_queued(inv, wait_s=ADMISSION_WAIT_S)
        except ResourceNotFound:
            await self.gone(event)
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
            await self._ack(event.request_id)
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
            await self.give_up(event, cfg, "RetriesExhausted", attempts, out, out)

    async def give_up(
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
        log.info("event %s dropped: %s after %d attempts", event.request_id, condition, attempts)
        if cfg.on_failure:
            record = self._record(event, condition, attempts, target.invoked_arn, out)
            await self.destinations.deliver(cfg.on_failure, record)
        dlq = target.dead_letter_target
        if dlq:
            error = _error_text(out) if out else DLQ_MESSAGES.get(condition, condition)
            await self.destinations.dead_letter(dlq, event.payload, event.request_id, error)
        await self._ack(event.request_id)

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


def _error_text(out: Outcome | None) -> str:
    if out is None:
        return ""
    return f"{out.error_type}: {out.payload[:512].decode(errors='replace')}"
