"""The queue service: SQS semantics over the store — queues, send, receive with long polling,
visibility, delete, redrive, purge, tags.

Queues are addressed by name, URL or ARN. Records are cached in memory (this node is the
store's only writer of queue records); messages always go through the store and are committed
before a call returns. Long polls wait on an in-memory signal set by sends and visibility
changes, and otherwise sleep until the next hidden or delayed message becomes visible: no
busy polling.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from lamina.clock import Clock
from lamina.errors import SqsError
from lamina.queues import messages as msg
from lamina.queues import records
from lamina.queues.messages import Attributes, MessageAttribute
from lamina.queues.records import QueueRecord
from lamina.store.base import Delete, Put, Store
from lamina.store.queues import NewMessage, StoredMessage

log = logging.getLogger("lamina.queues")

#: Longest long poll (SQS maximum).
MAX_WAIT_S = 20
MAX_VISIBILITY_S = 43_200
#: A queue name cannot be reused this long after its deletion; purges are this far apart.
COOL_DOWN_S = 60.0
#: How often messages past retention are deleted.
EXPIRY_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str
    md5_of_body: str
    md5_of_message_attributes: str | None


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

    def system_attributes(self) -> dict[str, str]:
        out = {
            "ApproximateReceiveCount": str(self.receive_count),
            "SentTimestamp": str(self.sent_at),
            "SenderId": self.sender_id,
            "ApproximateFirstReceiveTimestamp": str(self.first_receive_at),
        }
        if self.dead_letter_source_arn:
            out["DeadLetterQueueSourceArn"] = self.dead_letter_source_arn
        return out

    def lambda_message_attributes(self) -> dict[str, dict[str, Any]]:
        return {name: a.for_lambda() for name, a in self.attributes.items()}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send (an entry of SendMessageBatch, or a SendMessage)."""

    body: str | None
    attributes: Mapping[str, MessageAttribute] | None = None
    delay_s: int | None = None


def message_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as text, from one read of the system's random source
    (one `uuid4()` per message was a fifth of SendMessageBatch's time)."""
    raw = bytearray(os.urandom(16 * count))
    for at in range(0, len(raw), 16):
        raw[at + 6] = (raw[at + 6] & 0x0F) | 0x40  # version 4
        raw[at + 8] = (raw[at + 8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-"
        f"{h[i + 20 : i + 32]}"
        for i in range(0, len(h), 32)
    ]


def receipt_handle(seq: int, receipt: str) -> str:
    return base64.urlsafe_b64encode(f"{seq}:{receipt}".encode()).decode()


def parse_receipt(handle: str | None) -> tuple[int, str]:
    try:
        seq, token = base64.urlsafe_b64decode((handle or "").encode()).decode().split(":")
        return int(seq), token
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise SqsError(
            "ReceiptHandleIsInvalid",
            f'The input receipt handle "{handle}" is not a valid receipt handle.',
        ) from None


@dataclass(frozen=True, slots=True)
class QueueServiceStatistics:
    """Queues that exist on this node."""

    queues: int = 0


class QueueService:
    """Every SQS operation Lamina serves, over one store."""

    def __init__(
        self, store: Store, clock: Clock, *, region: str, account_id: str, endpoint_url: str
    ) -> None:
        self.store = store
        self.clock = clock
        self.region = region
        self.account_id = account_id
        self.endpoint_url = endpoint_url.rstrip("/")
        self._records: dict[str, QueueRecord] = {}
        self._deleted_at: dict[str, float] = {}
        self._purged_at: dict[str, float] = {}
        self._arrivals: dict[str, asyncio.Event] = {}
        self._closing = False

    async def start(self) -> None:
        self._records = {k: records.decode(v) for k, v in await self.store.scan(records.KIND)}

    # -- naming -----------------------------------------------------------------------------

    def url(self, name: str) -> str:
        return f"{self.endpoint_url}/{self.account_id}/{name}"

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    def record(self, queue: str | None) -> QueueRecord:
        """The queue named by `queue` (a name, URL or ARN), or QueueDoesNotExist."""
        if not queue:
            raise SqsError("MissingParameter", "The request must contain the parameter QueueUrl.")
        name = queue.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        found = self._records.get(name)
        if found is None:
            raise SqsError(
                "QueueDoesNotExist", "The specified queue does not exist for this wsdl version."
            )
        return found

    async def exists(self, queue: str) -> bool:
        name = queue.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
        return name in self._records

    # -- queues -----------------------------------------------------------------------------

    async def create(
        self, name: str | None, attributes: dict[str, str] | None, tags: dict[str, str] | None
    ) -> str:
        name = records.check_name(name)
        given = records.check_settable(attributes or {})
        existing = self._records.get(name)
        if existing is not None:
            for key in attributes or {}:
                if given.get(key) != existing.attributes.get(key):
                    raise SqsError(
                        "QueueNameExists",
                        f"A queue already exists with the same name and a different value for"
                        f" attribute {key}",
                    )
            return self.url(name)
        deleted = self._deleted_at.get(name)
        if deleted is not None and self.clock.monotonic() - deleted < COOL_DOWN_S:
            raise SqsError(
                "QueueDeletedRecently",
                "You must wait 60 seconds after deleting a queue before you can create another"
                " with the same name.",
            )
        self._check_redrive_target(given, name)
        now = int(self.clock.time())
        record = QueueRecord(
            name=name, attributes=given, tags=dict(tags or {}), created=now, modified=now
        )
        await self.store.purge_messages(name)  # leftovers of a deletion cut short by a crash
        await self._save(record)
        log.info("queue %s created", name)
        return self.url(name)

    def _check_redrive_target(self, attributes: dict[str, str], name: str) -> None:
        raw = attributes.get("RedrivePolicy")
        if raw is None:
            return
        target = msgspec.json.decode(raw)["deadLetterTargetArn"].rsplit(":", 1)[-1]
        if target not in self._records or target == name:
            raise records.invalid_attribute("RedrivePolicy", "Dead letter target does not exist.")

    async def _save(self, record: QueueRecord) -> None:
        await self.store.transact([Put(records.KIND, record.name, records.encode(record))])
        self._records[record.name] = record

    async def delete(self, queue: str | None) -> None:
        record = self.record(queue)
        await self.store.transact([Delete(records.KIND, record.name)])
        self._records.pop(record.name, None)
        self._deleted_at[record.name] = self.clock.monotonic()
        await self.store.purge_messages(record.name)
        self._notify(record.name)
        log.info("queue %s deleted", record.name)

    def list_urls(
        self, prefix: str | None, max_results: int | None, next_token: str | None
    ) -> tuple[list[str], str | None]:
        if max_results is not None and not 1 <= max_results <= 1000:
            raise msg.invalid(f"Value {max_results} for parameter MaxResults is invalid.")
        if next_token and max_results is None:
            raise msg.invalid("MaxResults is required when NextToken is given.")
        after = ""
        if next_token:
            try:
                after = base64.urlsafe_b64decode(next_token.encode()).decode()
            except (ValueError, binascii.Error):
                raise msg.invalid("Invalid NextToken value.") from None
        names = sorted(n for n in self._records if n.startswith(prefix or "") and n > after)
        limit = max_results or 1000
        page, more = names[:limit], len(names) > limit
        token = base64.urlsafe_b64encode(page[-1].encode()).decode() if more else None
        return [self.url(n) for n in page], (token if max_results is not None else None)

    async def attributes(self, queue: str | None, names: Sequence[str] | None) -> dict[str, str]:
        record = self.record(queue)
        wanted = set(names or [])
        unknown = wanted - records.ALL_NAMES - {"All"}
        if unknown:
            raise SqsError("InvalidAttributeName", f"Unknown Attribute {sorted(unknown)[0]}.")
        if not wanted:
            return {}
        everything = "All" in wanted
        out: dict[str, str] = {}
        for key, (default, _, _) in records.NUMERIC.items():
            out[key] = record.attributes.get(key, str(default))
        out.update({k: v for k, v in record.attributes.items() if k not in records.NUMERIC})
        out["QueueArn"] = self.arn(record.name)
        out["CreatedTimestamp"] = str(record.created)
        out["LastModifiedTimestamp"] = str(record.modified)
        out.setdefault("SqsManagedSseEnabled", "false")
        if everything or wanted & set(records.COMPUTED[1:4]):
            counts = await self.store.message_counts(record.name, now=self.clock.time())
            out["ApproximateNumberOfMessages"] = str(counts.visible)
            out["ApproximateNumberOfMessagesNotVisible"] = str(counts.not_visible)
            out["ApproximateNumberOfMessagesDelayed"] = str(counts.delayed)
        return out if everything else {k: v for k, v in out.items() if k in wanted}

    async def set_attributes(self, queue: str | None, attributes: dict[str, str] | None) -> None:
        record = self.record(queue)
        given = records.check_settable(attributes or {})
        self._check_redrive_target(given, record.name)
        merged = {**record.attributes, **given}
        for key in attributes or {}:  # set back to the default, or RedrivePolicy cleared
            if key not in given:
                merged.pop(key, None)
        updated = msgspec.structs.replace(
            record, attributes=merged, modified=int(self.clock.time())
        )
        await self._save(updated)
        self._notify(record.name)

    async def purge(self, queue: str | None) -> int:
        record = self.record(queue)
        last = self._purged_at.get(record.name)
        if last is not None and self.clock.monotonic() - last < COOL_DOWN_S:
            raise SqsError(
                "PurgeQueueInProgress",
                f"Only one PurgeQueue operation on {record.name} is allowed every 60 seconds.",
            )
        self._purged_at[record.name] = self.clock.monotonic()
        return await self.store.purge_messages(record.name)

    async def tag(self, queue: str | None, tags: dict[str, str] | None) -> None:
        record = self.record(queue)
        await self._save(msgspec.structs.replace(record, tags={**record.tags, **(tags or {})}))

    async def untag(self, queue: str | None, keys: Sequence[str] | None) -> None:
        record = self.record(queue)
        drop = set(keys or [])
        kept = {k: v for k, v in record.tags.items() if k not in drop}
        await self._save(msgspec.structs.replace(record, tags=kept))

    def tags(self, queue: str | None) -> dict[str, str]:
        return dict(self.record(queue).tags)

    # -- messages ---------------------------------------------------------------------------

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
        record = self.record(queue)
        now = self.clock.time()
        sent_at = int(now * 1000)
        results: list[Sent | SqsError] = []
        rows: list[NewMessage] = []
        ids = message_ids(len(entries))
        for entry, message_id in zip(entries, ids, strict=True):
            try:
                row = self._new_message(record, entry, now, sent_at, message_id)
            except SqsError as exc:
                results.append(exc)
                continue
            rows.append(row)
            results.append(Sent(row.message_id, row.md5_of_body, row.md5_of_attributes))
        if rows:
            await self.store.put_messages(record.name, rows)
            # Delayed messages too: a long poll parked until its deadline must learn when
            # they become visible.
            self._notify(record.name)
        return results

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
        delay = record.number("DelaySeconds") if entry.delay_s is None else entry.delay_s
        if not 0 <= delay <= 900:
            raise msg.invalid(
                f"Value {delay} for parameter DelaySeconds is invalid. Reason: must be between"
                " 0 and 900, if provided."
            )
        return NewMessage(
            message_id=message_id,
            body=body,
            attributes=msg.encode_attributes(attributes),
            md5_of_body=msg.md5_of_body(body),
            md5_of_attributes=msg.md5_of_attributes(attributes),
            sent_at=sent_at,
            visible_at=now + delay,
        )

    async def receive(
        self,
        queue: str | None,
        *,
        max_messages: int | None = None,
        wait_s: float | None = None,
        visibility_s: int | None = None,
    ) -> list[Received]:
        """Up to `max_messages` messages, long-polling up to `wait_s` when none is visible."""
        record = self.record(queue)
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
            arrival = self._arrivals.setdefault(record.name, asyncio.Event())
            got = await self._take(record, count, hide)
            left = deadline - self.clock.monotonic()
            if got or left <= 0 or self._closing:
                return got
            now = self.clock.time()
            nxt = await self.store.next_visible_at(record.name, now=now)
            pause = left if nxt is None else min(left, max(0.005, nxt - now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrival.wait(), pause)
            record = self.record(record.name)  # deleted or reconfigured meanwhile

    async def _take(self, record: QueueRecord, count: int, hide: int) -> list[Received]:
        now = self.clock.time()
        redrive = record.redrive()
        if redrive is not None and redrive.target not in self._records:
            redrive = None  # the dead-letter queue was deleted: keep the messages here
        rows = await self.store.receive_messages(
            record.name, now=now, hide_until=now + hide, limit=count,
            retention_s=record.number("MessageRetentionPeriod"), redrive=redrive,
        )  # fmt: skip
        if redrive is not None:  # some may have moved there: wake its long polls
            self._notify(redrive.target)
        return [self._received(row) for row in rows]

    def _received(self, row: StoredMessage) -> Received:
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
            sender_id=self.account_id,
            dead_letter_source_arn=(
                self.arn(row.dead_letter_source) if row.dead_letter_source else None
            ),
        )

    async def delete_batch(self, queue: str | None, handles: Sequence[str]) -> None:
        """Delete messages by receipt handle; a stale handle (received again since) deletes
        nothing, as on SQS; a malformed one is ReceiptHandleIsInvalid."""
        record = self.record(queue)
        await self.store.delete_messages(record.name, [parse_receipt(h) for h in handles])

    async def change_visibility(
        self, queue: str | None, handle: str | None, timeout_s: int | None
    ) -> None:
        record = self.record(queue)
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
            raise SqsError(
                "MessageNotInflight",
                f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does"
                " not exist or is not available for visibility timeout change.",
            )
        self._notify(record.name)  # long polls re-read when the next message becomes visible

    def statistics(self) -> QueueServiceStatistics:
        return QueueServiceStatistics(queues=len(self._records))

    def close(self) -> None:
        """The node is stopping: open long polls answer with what they have, new ones at once."""
        self._closing = True
        for name in list(self._arrivals):
            self._notify(name)

    def _notify(self, name: str) -> None:
        arrival = self._arrivals.pop(name, None)
        if arrival is not None:
            arrival.set()

    async def expire(self) -> int:
        """Delete messages past their queue's retention period; return how many."""
        now_ms = int(self.clock.time() * 1000)
        total = 0
        for record in list(self._records.values()):
            horizon = now_ms - record.number("MessageRetentionPeriod") * 1000
            total += await self.store.expire_messages(record.name, sent_before=horizon)
        return total

    async def expire_forever(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_INTERVAL_S)
            expired = await self.expire()
            if expired:
                log.info("deleted %d messages past retention", expired)
