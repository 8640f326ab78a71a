"""The queue registry: which queues exist and how they are configured — create, delete, list,
attributes, tags and the dead-letter target checks.

Queue records are control-plane documents in the store, cached in memory. On a store shared
by several nodes (`share`), a node tells the others when it changes a queue (they `refresh` that
record), and a queue this node does not know yet is looked up in the store before a request is
answered QueueDoesNotExist (`found`), so a queue created through one node is usable at once
through any other. Messages are the message service's business; the registry
only asks the store to count them (GetQueueAttributes) and to drop them with their queue.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from lamina.clock import Clock
from lamina.errors import SqsError
from lamina.queues import attributes as qa
from lamina.queues.arrivals import Arrivals
from lamina.queues.attributes import QueueRecord
from lamina.queues.messages import invalid
from lamina.store.base import Delete, Put, Store

log = logging.getLogger("lamina.queues")

#: A queue name cannot be reused this long after its deletion.
COOL_DOWN_S = 60.0

#: Tells the other nodes of a shared store what changed: `publish(kind, name)`.
Publish = Callable[[str, str], Awaitable[None]]


def queue_name(queue: str) -> str:
    """The name in a queue's name, URL or ARN."""
    return queue.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


class UnknownQueue(SqsError):
    """QueueDoesNotExist for the queue `name` (which another node may have just created)."""

    def __init__(self, name: str) -> None:
        super().__init__("QueueDoesNotExist", "The specified queue does not exist.")
        self.name = name


class QueueRegistry:
    """Queues by name, URL or ARN, and every operation on a queue as a whole."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        arrivals: Arrivals,
        *,
        region: str,
        account_id: str,
        endpoint_url: str,
    ) -> None:
        self.store = store
        self.clock = clock
        self.arrivals = arrivals
        self.region = region
        self.account_id = account_id
        self.endpoint_url = endpoint_url.rstrip("/")
        self._records: dict[str, QueueRecord] = {}
        self._deleted_at: dict[str, float] = {}
        self._publish: Publish | None = None

    async def start(self) -> None:
        self._records = {k: qa.decode(v) for k, v in await self.store.scan(qa.KIND)}

    # -- a store shared with other nodes ----------------------------------------------------

    def share(self, publish: Publish) -> None:
        """The store is shared: publish each queue change, look unknown queues up in the store."""
        self._publish = publish

    async def refresh(self, name: str) -> bool:
        """Read queue `name` again from the store (another node changed it); whether it exists."""
        raw = await self.store.get(qa.KIND, name)
        if raw is None:
            if self._records.pop(name, None) is not None:
                self._deleted_at[name] = self.clock.monotonic()
        else:
            self._records[name] = qa.decode(raw)
        self.arrivals.notify(name)
        return raw is not None

    async def found(self, name: str) -> bool:
        """Whether queue `name`, unknown to this node, exists in a shared store after all."""
        return self._publish is not None and await self.refresh(name)

    async def current(self, queue: str | None) -> QueueRecord:
        """`record(queue)`, read again from a shared store first: what a control-plane read
        through this node shows right after a change through another."""
        if self._publish is not None and queue:
            await self.refresh(queue_name(queue))
        return self.record(queue)

    async def resync(self) -> None:
        """Read every queue record again (before listing queues on a shared store)."""
        if self._publish is not None:
            await self.start()

    async def _changed(self, name: str) -> None:
        if self._publish is not None:
            await self._publish("queue", name)

    # -- naming -----------------------------------------------------------------------------

    def url(self, name: str) -> str:
        return f"{self.endpoint_url}/{self.account_id}/{name}"

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    def record(self, queue: str | None) -> QueueRecord:
        """The queue named by `queue` (a name, URL or ARN), or QueueDoesNotExist."""
        if not queue:
            raise SqsError("MissingParameter", "The request must contain the parameter QueueUrl.")
        name = queue_name(queue)
        found = self._records.get(name)
        if found is None:
            raise UnknownQueue(name)
        return found

    def exists(self, queue: str) -> bool:
        return queue_name(queue) in self._records

    def all(self) -> list[QueueRecord]:
        return list(self._records.values())

    # -- lifecycle --------------------------------------------------------------------------

    async def create(
        self, name: str | None, attributes: dict[str, str] | None, tags: dict[str, str] | None
    ) -> str:
        name = qa.check_name(name, attributes)
        given = qa.check_settable(attributes or {}, fifo=name.endswith(".fifo"))
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
        self._check_redrive_target(given, fifo=name.endswith(".fifo"))
        now = int(self.clock.time())
        record = QueueRecord(
            name=name, attributes=given, tags=dict(tags or {}), created=now, modified=now
        )
        await self.store.purge_messages(name)  # leftovers of a deletion cut short by a crash
        await self._save(record)
        log.info("queue %s created", name)
        return self.url(name)

    def _check_redrive_target(self, attributes: dict[str, str], *, fifo: bool) -> None:
        """The dead-letter queue exists (it may be the queue itself, as on SQS) and is of the
        same type as the source."""
        raw = attributes.get("RedrivePolicy")
        if raw is None:
            return
        target = self._records.get(
            msgspec.json.decode(raw)["deadLetterTargetArn"].rsplit(":", 1)[-1]
        )
        if target is None:
            raise qa.invalid_attribute("RedrivePolicy", "Dead letter target does not exist.")
        if target.fifo != fifo:
            raise invalid(
                f"Value {raw} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue"
                " must be same type of queue as the source.."
            )

    async def _save(self, record: QueueRecord) -> None:
        await self.store.transact([Put(qa.KIND, record.name, qa.encode(record))])
        self._records[record.name] = record
        await self._changed(record.name)

    async def delete(self, queue: str | None) -> None:
        record = self.record(queue)
        await self.store.transact([Delete(qa.KIND, record.name)])
        self._records.pop(record.name, None)
        self._deleted_at[record.name] = self.clock.monotonic()
        await self.store.purge_messages(record.name)
        self.arrivals.notify(record.name)
        await self._changed(record.name)
        log.info("queue %s deleted", record.name)

    def list_urls(
        self, prefix: str | None, max_results: int | None, next_token: str | None
    ) -> tuple[list[str], str | None]:
        if max_results is not None and not 1 <= max_results <= 1000:
            raise invalid(f"Value {max_results} for parameter MaxResults is invalid.")
        if next_token and max_results is None:
            raise invalid("MaxResults is required when NextToken is given.")
        after = ""
        if next_token:
            try:
                after = base64.urlsafe_b64decode(next_token.encode()).decode()
            except (ValueError, binascii.Error):
                raise invalid("Invalid NextToken value.") from None
        names = sorted(n for n in self._records if n.startswith(prefix or "") and n > after)
        limit = max_results or 1000
        page, more = names[:limit], len(names) > limit
        token = base64.urlsafe_b64encode(page[-1].encode()).decode() if more else None
        return [self.url(n) for n in page], (token if max_results is not None else None)

    # -- attributes and tags ----------------------------------------------------------------

    async def attributes(self, queue: str | None, names: Sequence[str] | None) -> dict[str, str]:
        record = await self.current(queue)
        wanted = set(names or [])
        unknown = wanted - qa.ALL_NAMES - {"All"}
        if unknown:
            raise SqsError("InvalidAttributeName", f"Unknown Attribute {sorted(unknown)[0]}.")
        if not wanted:
            return {}
        everything = "All" in wanted
        out = record.shown()
        out["QueueArn"] = self.arn(record.name)
        out["CreatedTimestamp"] = str(record.created)
        out["LastModifiedTimestamp"] = str(record.modified)
        if everything or wanted & set(qa.COMPUTED[1:4]):
            counts = await self.store.message_counts(record.name, now=self.clock.time())
            out["ApproximateNumberOfMessages"] = str(counts.visible)
            out["ApproximateNumberOfMessagesNotVisible"] = str(counts.not_visible)
            out["ApproximateNumberOfMessagesDelayed"] = str(counts.delayed)
        return out if everything else {k: v for k, v in out.items() if k in wanted}

    async def set_attributes(self, queue: str | None, attributes: dict[str, str] | None) -> None:
        record = self.record(queue)
        given = qa.check_settable(attributes or {}, fifo=record.fifo, creating=False)
        self._check_redrive_target(given, fifo=record.fifo)
        merged = {**record.attributes, **given}
        for key in attributes or {}:  # set back to the default, or RedrivePolicy cleared
            if key not in given and key != "FifoQueue":
                merged.pop(key, None)
        updated = msgspec.structs.replace(
            record, attributes=merged, modified=int(self.clock.time())
        )
        await self._save(updated)
        self.arrivals.notify(record.name)

    async def mark_purged(self, record: QueueRecord, at: float) -> None:
        """Remember when `record` was last purged (the cool-down holds on every node)."""
        await self._save(msgspec.structs.replace(record, purged=at))

    async def tag(self, queue: str | None, tags: dict[str, str] | None) -> None:
        record = self.record(queue)
        await self._save(msgspec.structs.replace(record, tags={**record.tags, **(tags or {})}))

    async def untag(self, queue: str | None, keys: Sequence[str] | None) -> None:
        record = self.record(queue)
        drop = set(keys or [])
        kept = {k: v for k, v in record.tags.items() if k not in drop}
        await self._save(msgspec.structs.replace(record, tags=kept))
