"""Event source mappings at work: poll a queue → build a batch → invoke → delete what succeeded.

One poller per enabled mapping. A poller only takes messages when the function has a free
concurrency slot, and a batch waits for its lease in the invoker, so throttling slows it down
and never loses messages: a batch whose invoke fails stays on the queue and reappears after
its visibility timeout (redrive to the queue's dead-letter queue applies), and with
`ReportBatchItemFailures` only the listed items stay (reference F.4). The function is invoked
synchronously through the single invoker path. A mapping's MaximumConcurrency bounds its
batches in flight on this node, and on a shared (Redis) store across every node (`BatchSlots`
holds a lease per batch in `GlobalSlots`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from lamina.clock import Clock
from lamina.control.mappings import REPORT_BATCH_ITEM_FAILURES, Mapping
from lamina.engine.concurrency import Concurrency
from lamina.engine.global_slots import GlobalSlots
from lamina.engine.invoker import Invocation, Invoker, Outcome, OutcomeKind
from lamina.engine.recursion import hop
from lamina.errors import LaminaError, ResourceNotFound
from lamina.store import redis_keys as keys

log = logging.getLogger("lamina.sources")

#: Longest long-poll of one receive (SQS maximum).
LONG_POLL_S = 20
#: Most messages one receive returns (SQS maximum).
RECEIVE_MAX = 10
#: Batches in flight per mapping when ScalingConfig sets no maximum.
DEFAULT_MAX_BATCHES = 1000
#: Receives each mapping keeps open at once.
RECEIVERS = 5
#: Pause after an unexpected poller error before trying again.
ERROR_BACKOFF_S = 1.0
#: Longest wait before asking again for a mapping slot that other nodes hold.
SLOT_RETRY_S = 0.2


class SourceMessage(Protocol):
    @property
    def message_id(self) -> str: ...
    @property
    def receipt_handle(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def md5_of_body(self) -> str: ...
    @property
    def md5_of_message_attributes(self) -> str | None: ...

    def system_attributes(self) -> dict[str, str]: ...

    def lambda_message_attributes(self) -> dict[str, dict[str, Any]]: ...


class QueueReader(Protocol):
    async def receive(
        self, queue: str, *, max_messages: int, wait_s: float
    ) -> Sequence[SourceMessage]: ...

    async def delete_batch(self, queue: str, receipt_handles: Sequence[str]) -> None: ...

    @property
    def closing(self) -> bool:
        """The node stops: receives return at once instead of waiting."""
        ...


class BatchSlots:
    """A mapping's batches in flight, each holding a slot from its receive to its end: at most
    `limit` on this node, and with `GlobalSlots` at most `limit` across every node."""

    def __init__(self, limit: int, key: str, shared: GlobalSlots | None) -> None:
        self.limit = limit
        self.key = key
        self.shared = shared
        self._local = asyncio.Semaphore(limit)
        self._freed = asyncio.Event()

    async def acquire(self) -> str | None:
        """Wait for a slot; its id in `shared` (None without one)."""
        await self._local.acquire()
        if self.shared is None:
            return None
        try:
            while True:
                self._freed.clear()
                try:
                    slot = await self.shared.hold(self.key, self.limit)
                except LaminaError as exc:  # Redis unreachable: ask again after a pause
                    log.warning("mapping slot for %s: %s", self.key, exc)
                    slot = None
                if slot is not None:
                    return slot
                # Other nodes hold every slot: ask again when one of ours ends, or soon.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._freed.wait(), SLOT_RETRY_S)
        except BaseException:
            self._local.release()
            raise

    async def release(self, slot: str | None) -> None:
        self._local.release()
        self._freed.set()
        if slot is not None and self.shared is not None:
            try:
                await self.shared.release(slot)
            except LaminaError as exc:  # the lease ends by itself
                log.warning("mapping slot %s not released: %s", slot, exc)


class SourcePoller:
    """Feeds one mapping's function from its queue until cancelled."""

    def __init__(self, mapping: Mapping, sources: Sources) -> None:
        self.m = mapping
        self.queues = sources.queues
        self.invoker = sources.invoker
        self.concurrency = sources.concurrency
        self.clock = sources.clock
        self.region = sources.region
        self.report = sources.report
        self.shared_slots = sources.shared_slots
        self._batches: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        limit = self.m.maximum_concurrency or DEFAULT_MAX_BATCHES
        shared = self.shared_slots if self.m.maximum_concurrency else None
        slots = BatchSlots(limit, keys.SLOTS_MAPPING + self.m.uuid, shared)
        try:
            await asyncio.gather(*(self._receive_loop(slots) for _ in range(min(RECEIVERS, limit))))
        finally:
            for task in self._batches:
                task.cancel()
            await asyncio.gather(*self._batches, return_exceptions=True)

    async def _receive_loop(self, slots: BatchSlots) -> None:
        """One of the mapping's concurrent receivers (AWS starts with five pollers); ends when
        the node stops (a cancellation can be lost inside a store client's call)."""
        while not self.queues.closing:
            if self.concurrency.available(self.m.function) == 0:
                await self.concurrency.wait_capacity(1.0)
                continue
            slot = await slots.acquire()
            try:
                messages = await self._collect()
            except LaminaError as exc:  # the queue went away or the store failed
                await slots.release(slot)
                log.warning("mapping %s: receive failed: %s", self.m.uuid, exc)
                await self.clock.sleep(ERROR_BACKOFF_S)
                continue
            except BaseException:
                await asyncio.shield(slots.release(slot))
                raise
            if not messages:
                await slots.release(slot)
                continue
            task = asyncio.create_task(self._process_holding(messages, slots, slot))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)
            await asyncio.sleep(0)  # let the batch take its lease before looking at capacity

    async def _process_holding(
        self, messages: list[SourceMessage], slots: BatchSlots, slot: str | None
    ) -> None:
        try:
            await self._process(messages)
        finally:
            await asyncio.shield(slots.release(slot))

    async def _collect(self) -> list[SourceMessage]:
        """Up to BatchSize messages, waiting at most the batching window once any arrive."""
        batch: list[SourceMessage] = []
        window_ends: float | None = None
        while len(batch) < self.m.batch_size:
            left = LONG_POLL_S if window_ends is None else window_ends - self.clock.monotonic()
            got = await self.queues.receive(
                self.m.source_arn,
                max_messages=min(RECEIVE_MAX, self.m.batch_size - len(batch)),
                wait_s=min(max(0.0, left), LONG_POLL_S),
            )
            batch.extend(got)
            if not got and self.queues.closing:  # the node stops: receives no longer wait
                break
            if batch and window_ends is None:
                window_ends = self.clock.monotonic() + self.m.batching_window_s
            if not got and (batch or window_ends is not None):
                break
            if window_ends is not None and self.clock.monotonic() >= window_ends:
                break
        return batch

    async def _process(self, messages: list[SourceMessage]) -> None:
        lineage = max(hop(m.system_attributes().get("AWSTraceHeader")) for m in messages)
        try:
            if lineage and await self.invoker.recursion.stops(self.m.function, lineage):
                # As a failed batch: the messages stay, and the queue's redrive policy moves
                # them to its dead-letter queue after maxReceiveCount receives.
                await self.report(self.m.uuid, "PROBLEM: Recursive invocation stopped")
                return
        except ResourceNotFound:
            await self.report(self.m.uuid, "PROBLEM: Function not found")
            return
        payload = msgspec.json.encode({"Records": [self._record(m) for m in messages]})
        inv = Invocation(
            self.m.function, self.m.qualifier, payload, str(uuid.uuid4()), lineage=lineage
        )
        try:
            outcome = await self.invoker.invoke_queued(inv, wait_s=None)
        except ResourceNotFound:
            await self.report(self.m.uuid, "PROBLEM: Function not found")
            return
        if outcome.kind is OutcomeKind.PLATFORM_ERROR:  # the batch reappears after visibility
            await self.report(self.m.uuid, f"PROBLEM: {outcome.detail}")
            return
        keep = self._failed_items(messages, outcome)
        done = [m.receipt_handle for m in messages if m.message_id not in keep]
        if done:
            await self.queues.delete_batch(self.m.source_arn, done)
        # As AWS: a run that returned (even listing batchItemFailures) is OK; only a function
        # error is a problem.
        result = "PROBLEM: Function call failed" if outcome.function_error else "OK"
        await self.report(self.m.uuid, result)

    def _failed_items(self, messages: list[SourceMessage], out: Outcome) -> set[str]:
        """Message ids to leave on the queue."""
        every = {m.message_id for m in messages}
        if out.function_error:
            return every
        if REPORT_BATCH_ITEM_FAILURES not in self.m.response_types:
            return set()
        failed = partial_failures(out.payload, every)
        return (
            with_rest_of_groups(messages, failed) if self.m.source_arn.endswith(".fifo") else failed
        )

    def _record(self, m: SourceMessage) -> dict[str, Any]:
        record: dict[str, Any] = {
            "messageId": m.message_id,
            "receiptHandle": m.receipt_handle,
            "body": m.body,
            "attributes": m.system_attributes(),
            "messageAttributes": m.lambda_message_attributes(),
            "md5OfBody": m.md5_of_body,
            "eventSource": "aws:sqs",
            "eventSourceARN": self.m.source_arn,
            "awsRegion": self.region,
        }
        if m.md5_of_message_attributes:
            record["md5OfMessageAttributes"] = m.md5_of_message_attributes
        return record


def partial_failures(payload: bytes, batch_ids: set[str]) -> set[str]:
    """The ids a ReportBatchItemFailures response lists; the whole batch when it is malformed.

    Empty or null response or list = full success; an identifier that is empty, null or not in
    the batch, or any other shape = the whole batch failed (reference F.4).
    """
    try:
        body = msgspec.json.decode(payload) if payload.strip() else None
    except msgspec.DecodeError:
        return batch_ids
    if body is None:
        return set()
    if not isinstance(body, dict):
        return batch_ids
    items = body.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return batch_ids
    failed: set[str] = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ident not in batch_ids:
            return batch_ids
        failed.add(ident)
    return failed


@dataclass(frozen=True)
class SourceStatistics:
    """Event source mappings with a running poller."""

    pollers: int = 0


def with_rest_of_groups(messages: Sequence[SourceMessage], failed: set[str]) -> set[str]:
    """`failed` plus every later message of a message group that has a failed one: on a FIFO
    queue a failure holds back the rest of its group, so the group's order is kept."""
    held: set[str] = set()
    out = set(failed)
    for m in messages:
        group = m.system_attributes().get("MessageGroupId")
        if group is None:
            continue
        if group in held:
            out.add(m.message_id)
        elif m.message_id in failed:
            held.add(group)
    return out


class Sources:
    """Owns one poller task per enabled mapping; restarts it when the mapping changes."""

    def __init__(
        self,
        queues: QueueReader,
        invoker: Invoker,
        concurrency: Concurrency,
        region: str,
        report: Callable[[str, str], Awaitable[None]],
        clock: Clock,
        shared_slots: GlobalSlots | None = None,
    ) -> None:
        self.queues = queues
        self.shared_slots = shared_slots
        self.invoker = invoker
        self.concurrency = concurrency
        self.clock = clock
        self.region = region
        self.report = report
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self, mappings: Sequence[Mapping]) -> None:
        for m in mappings:
            await self.changed(m, m.uuid)

    async def changed(self, mapping: Mapping | None, key: str) -> None:
        """(Re)start the poller of `key`, or stop it when the mapping is gone or disabled."""
        old = self._tasks.pop(key, None)
        if old is not None:
            old.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await old
        if mapping is not None and mapping.enabled:
            poller = SourcePoller(mapping, self)
            self._tasks[key] = asyncio.create_task(poller.run(), name=f"lamina-source-{key}")

    def statistics(self) -> SourceStatistics:
        return SourceStatistics(pollers=len(self._tasks))

    async def stop(self) -> None:
        for key in list(self._tasks):
            await self.changed(None, key)
