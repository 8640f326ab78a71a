"""The message service: send, receive with long polling, visibility, delete, purge and expiry.

Messages always go through the store and are committed before a call returns. Long polls wait
on the queue's arrival signal and otherwise sleep until the next hidden or delayed message
becomes visible: no busy polling. Queues are looked up in the registry on every call, so a
deleted or reconfigured queue is seen at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from lamina.clock import Clock
from lamina.errors import SqsError
from lamina.queues import fifo
from lamina.queues import messages as msg
from lamina.queues.arrivals import Arrivals
from lamina.queues.attributes import QueueRecord
from lamina.queues.messages import Attributes, MessageAttribute
from lamina.queues.receipts import message_ids, parse_receipt, receipt_handle
from lamina.queues.registry import QueueRegistry
from lamina.store.base import Store
from lamina.store.queues import NewMessage, Stored, StoredMessage

log = logging.getLogger("lamina.queues")

#: Longest long poll (SQS maximum).
MAX_WAIT_S = 20
MAX_VISIBILITY_S = 43_200
#: Purges of one queue are at least this far apart.
PURGE_COOL_DOWN_S = 60.0
#: How often messages past retention are deleted.
EXPIRY_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str
    md5_of_body: str
    md5_of_message_attributes: str | None
    md5_of_system_attributes: str | None = None
    sequence_number: str | None = None  # FIFO queues only


@dataclass(frozen=True, slots=True)
class Received:
    """A received message; also the `SourceMessage` event source mappings consume."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    md5_of_message_attributes: str | None
    attributes: Attributes
    sent_at: int
    receive_count: int
    first_receive_at: int
    sender_id: str
    dead_letter_source_arn: str | None
    group_id: str | None = None
    dedup_id: str | None = None
    sequence_number: str | None = None
    trace_header: str | None = None

    def system_attributes(self) -> dict[str, str]:
        out = {
            "ApproximateReceiveCount": str(self.receive_count),
            "SentTimestamp": str(self.sent_at),
            "SenderId": self.sender_id,
            "ApproximateFirstReceiveTimestamp": str(self.first_receive_at),
        }
        optional = {
            "DeadLetterQueueSourceArn": self.dead_letter_source_arn,
            "MessageGroupId": self.group_id,
            "MessageDeduplicationId": self.dedup_id,
            "SequenceNumber": self.sequence_number,
            "AWSTraceHeader": self.trace_header,
        }
        out.update({k: v for k, v in optional.items() if v})
        return out

    def lambda_message_attributes(self) -> dict[str, dict[str, Any]]:
        return {name: a.for_lambda() for name, a in self.attributes.items()}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send (an entry of SendMessageBatch, or a SendMessage)."""

    body: str | None
    attributes: Mapping[str, MessageAttribute] | None = None
    delay_s: int | None = None
    group_id: str | None = None
    dedup_id: str | None = None
    system_attributes: Mapping[str, MessageAttribute] | None = None
    trace_header: str | None = None  # from the X-Amzn-Trace-Id header, when not given above


def _sent(record: QueueRecord, row: NewMessage, system_md5: str | None, stored: Stored) -> Sent:
    """The answer to one sent message (a duplicate's is the earlier message's id)."""
    return Sent(
        message_id=stored.message_id,
        md5_of_body=row.md5_of_body,
        md5_of_message_attributes=row.md5_of_attributes,
        md5_of_system_attributes=system_md5,
        sequence_number=fifo.sequence_number(stored.seq) if record.fifo else None,
    )


class MessageService:
    """Every SQS operation on messages, over one store."""

    def __init__(
        self, store: Store, clock: Clock, registry: QueueRegistry, arrivals: Arrivals
    ) -> None:
        self.store = store
        self.clock = clock
        self.registry = registry
        self.arrivals = arrivals

    # -- send -------------------------------------------------------------------------------

    async def send(
        self,
        queue: str,
        body: str,
        attributes: Mapping[str, Any] | None = None,
        delay_s: int = 0,
    ) -> str:
        """Send one message (used by destinations and dead-letter delivery); its id."""
        typed = msgspec.convert(attributes or {}, dict[str, MessageAttribute])
        (result,) = await self.send_batch(queue, [Outgoing(body, typed, delay_s or None)])
        if isinstance(result, SqsError):
            raise result
        return result.message_id

    async def send_batch(
        self, queue: str | None, entries: Sequence[Outgoing]
    ) -> list[Sent | SqsError]:
        """Validate and store every valid entry in one commit; a result or error per entry."""
        record = self.registry.record(queue)
        now = self.clock.time()
        sent_at = int(now * 1000)
        made: list[tuple[NewMessage, str | None] | SqsError] = []
        for entry, message_id in zip(entries, message_ids(len(entries)), strict=True):
            try:
                row = self._new_message(record, entry, now, sent_at, message_id)
            except SqsError as exc:
                made.append(exc)
                continue
            made.append((row, msg.md5_of_attributes(dict(entry.system_attributes or {}))))
        rows = [m[0] for m in made if not isinstance(m, SqsError)]
        if not rows:
            return [m for m in made if isinstance(m, SqsError)]
        stored = iter(await self.store.put_messages(record.name, rows))
        # Delayed messages too: a long poll parked until its deadline must learn when
        # they become visible.
        self.arrivals.notify(record.name)
        return [m if isinstance(m, SqsError) else _sent(record, *m, next(stored)) for m in made]

    def _new_message(
        self, record: QueueRecord, entry: Outgoing, now: float, sent_at: int, message_id: str
    ) -> NewMessage:
        body = msg.check_body(entry.body)
        attributes = msg.check_attributes(entry.attributes)
        limit = record.number("MaximumMessageSize")
        if len(body.encode()) + msg.attributes_size(attributes) > limit:
            raise msg.invalid(
                f"One or more parameters are invalid. Reason: Message must be shorter than"
                f" {limit} bytes."
            )
        delay = fifo.delay_of(record, entry.delay_s)
        if not 0 <= delay <= 900:
            raise msg.invalid(
                f"Value {delay} for parameter DelaySeconds is invalid. Reason: must be between"
                " 0 and 900, if provided."
            )
        group_id = fifo.group_of(record, entry.group_id)
        dedup_id, dedup_key = fifo.deduplication(record, body, group_id, entry.dedup_id)
        return NewMessage(
            message_id=message_id,
            body=body,
            attributes=msg.encode_attributes(attributes),
            md5_of_body=msg.md5_of_body(body),
            md5_of_attributes=msg.md5_of_attributes(attributes),
            sent_at=sent_at,
            visible_at=now + delay,
            group_id=group_id,
            dedup_id=dedup_id,
            dedup_key=dedup_key,
            trace_header=fifo.trace_header(entry.system_attributes, entry.trace_header),
        )

    # -- receive ----------------------------------------------------------------------------

    async def receive(
        self,
        queue: str | None,
        *,
        max_messages: int | None = None,
        wait_s: float | None = None,
        visibility_s: int | None = None,
    ) -> list[Received]:
        """Up to `max_messages` messages, long-polling up to `wait_s` when none is visible."""
        record = self.registry.record(queue)
        count = 1 if max_messages is None else max_messages
        if not 1 <= count <= 10:
            raise msg.invalid(
                f"Value {count} for parameter MaxNumberOfMessages is invalid. Reason: Must be"
                " between 1 and 10, if provided."
            )
        wait = record.number("ReceiveMessageWaitTimeSeconds") if wait_s is None else wait_s
        if not 0 <= wait <= MAX_WAIT_S:
            raise msg.invalid(
                f"Value {wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0"
                " and <= 20, if provided."
            )
        hide = record.number("VisibilityTimeout") if visibility_s is None else visibility_s
        if not 0 <= hide <= MAX_VISIBILITY_S:
            raise msg.invalid(
                f"Value {hide} for parameter VisibilityTimeout is invalid. Reason: Must be"
                " between 0 and 43200, if provided."
            )
        deadline = self.clock.monotonic() + wait
        while True:
            signal = self.arrivals.signal(record.name)
            # Counted from before the take: a message that becomes visible between the take and
            # the look-up below still ends the wait (a busy store can take longer than a delay).
            taken_at = self.clock.time()
            got = await self._take(record, count, hide)
            left = deadline - self.clock.monotonic()
            if got or left <= 0 or self.arrivals.closing:
                return got
            nxt = await self.store.next_visible_at(record.name, now=taken_at)
            pause = left if nxt is None else min(left, max(0.005, nxt - self.clock.time()))
            await self.arrivals.wait(signal, pause)
            record = self.registry.record(record.name)  # deleted or reconfigured meanwhile

    async def _take(self, record: QueueRecord, count: int, hide: int) -> list[Received]:
        now = self.clock.time()
        redrive = record.redrive()
        if redrive is not None and (
            redrive.target == record.name or not self.registry.exists(redrive.target)
        ):
            redrive = None  # the dead-letter queue is this one or was deleted: keep them here
        rows = await self.store.receive_messages(
            record.name,
            now=now,
            hide_until=now + hide,
            limit=count,
            retention_s=record.number("MessageRetentionPeriod"),
            redrive=redrive,
            fifo=record.fifo,
        )
        if redrive is not None:  # some may have moved there: wake its long polls
            self.arrivals.notify(redrive.target)
        return [self._received(record, row) for row in rows]

    def _received(self, record: QueueRecord, row: StoredMessage) -> Received:
        assert row.receipt is not None and row.first_receive_at is not None
        return Received(
            message_id=row.message_id,
            receipt_handle=receipt_handle(row.seq, row.receipt),
            body=row.body,
            md5_of_body=row.md5_of_body,
            md5_of_message_attributes=row.md5_of_attributes,
            attributes=msg.decode_attributes(row.attributes),
            sent_at=row.sent_at,
            receive_count=row.receive_count,
            first_receive_at=row.first_receive_at,
            sender_id=self.registry.account_id,
            dead_letter_source_arn=(
                self.registry.arn(row.dead_letter_source) if row.dead_letter_source else None
            ),
            group_id=row.group_id,
            dedup_id=row.dedup_id,
            sequence_number=fifo.sequence_number(row.seq) if record.fifo else None,
            trace_header=row.trace_header,
        )

    # -- after a receive --------------------------------------------------------------------

    async def delete_batch(self, queue: str | None, handles: Sequence[str]) -> list[str]:
        """Delete messages by receipt handle; a stale handle (received again since) deletes
        nothing, as on SQS; a malformed one is ReceiptHandleIsInvalid. On a FIFO queue a handle
        whose visibility timeout is over deletes nothing either: those handles are returned."""
        record = self.registry.record(queue)
        parsed = {parse_receipt(h): h for h in handles}
        in_flight_at = self.clock.time() if record.fifo else None
        expired = await self.store.delete_messages(
            record.name, list(parsed), in_flight_at=in_flight_at
        )
        return [parsed[key] for key in expired]

    async def change_visibility(
        self, queue: str | None, handle: str | None, timeout_s: int | None
    ) -> None:
        record = self.registry.record(queue)
        seq, token = parse_receipt(handle)
        if timeout_s is None or not 0 <= timeout_s <= MAX_VISIBILITY_S:
            raise msg.invalid(
                f"Value {timeout_s} for parameter VisibilityTimeout is invalid. Reason: Must be"
                " between 0 and 43200."
            )
        now = self.clock.time()
        changed = await self.store.change_visibility(
            record.name, seq, token, now=now, visible_at=now + timeout_s
        )
        if not changed:
            raise msg.invalid(
                f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does"
                " not exist or is not available for visibility timeout change."
            )
        self.arrivals.notify(record.name)  # long polls re-read when the next one is visible

    # -- whole-queue housekeeping -----------------------------------------------------------

    async def purge(self, queue: str | None) -> int:
        record = self.registry.record(queue)
        now = self.clock.time()
        if record.purged and now - record.purged < PURGE_COOL_DOWN_S:
            raise SqsError(
                "PurgeQueueInProgress",
                f"Only one PurgeQueue operation on {record.name} is allowed every 60 seconds.",
                status=403,
            )
        await self.registry.mark_purged(record, now)
        return await self.store.purge_messages(record.name)

    async def expire(self) -> int:
        """Delete messages past their queue's retention period; return how many."""
        now_ms = int(self.clock.time() * 1000)
        total = 0
        for record in self.registry.all():
            horizon = now_ms - record.number("MessageRetentionPeriod") * 1000
            total += await self.store.expire_messages(record.name, sent_before=horizon)
        return total

    async def expire_forever(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_INTERVAL_S)
            expired = await self.expire()
            if expired:
                log.info("deleted %d messages past retention", expired)
