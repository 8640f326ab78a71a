"""In-memory implementation of the SQS-style messages (`QueueStore`); mixed into MemoryStore."""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass

from lamina.store.memory_events import yield_once
from lamina.store.queues import MessageCounts, NewMessage, Redrive, StoredMessage


@dataclass(slots=True)
class _Message:
    """One stored message and where it stands (the fields SQLite keeps in a row)."""

    seq: int
    new: NewMessage
    visible_at: float
    receive_count: int = 0
    first_receive_at: int | None = None
    receipt: str | None = None
    dead_letter_source: str | None = None

    def as_received(self) -> StoredMessage:
        m = self.new
        return StoredMessage(
            seq=self.seq,
            message_id=m.message_id,
            body=m.body,
            attributes=m.attributes,
            md5_of_body=m.md5_of_body,
            md5_of_attributes=m.md5_of_attributes,
            sent_at=m.sent_at,
            receive_count=self.receive_count,
            first_receive_at=self.first_receive_at,
            receipt=self.receipt,
            dead_letter_source=self.dead_letter_source,
        )


class MemoryQueuesMixin:
    """QueueStore on one dict of messages per queue, keyed by sequence number."""

    def __init__(self) -> None:
        self._queues: dict[str, dict[int, _Message]] = {}
        self._seqs = itertools.count(1)  # one sequence for every queue, never reused

    async def put_messages(self, queue: str, messages: Sequence[NewMessage]) -> None:
        messages = list(messages)
        await yield_once()
        held = self._queues.setdefault(queue, {})
        for m in messages:
            seq = next(self._seqs)
            held[seq] = _Message(seq, m, m.visible_at)

    async def receive_messages(
        self,
        queue: str,
        *,
        now: float,
        hide_until: float,
        limit: int,
        retention_s: float,
        redrive: Redrive | None,
    ) -> list[StoredMessage]:
        await yield_once()
        oldest = int((now - retention_s) * 1000)
        now_ms = int(now * 1000)
        taken: list[StoredMessage] = []
        # The same rounds as SQLite's: take a batch of what is visible; if some of it moved to
        # the dead-letter queue, look again for the rest (a queue may even redrive to itself).
        while len(taken) < limit:
            moved = False
            for msg in self._visible(queue, now, oldest, limit - len(taken)):
                if redrive is not None and msg.receive_count >= redrive.max_receives:
                    self._move(queue, msg, redrive.target, now)
                    moved = True
                    continue
                msg.visible_at = hide_until
                msg.receive_count += 1
                if msg.first_receive_at is None:
                    msg.first_receive_at = now_ms
                msg.receipt = os.urandom(12).hex()
                taken.append(msg.as_received())
            if not moved:
                break
        return taken

    async def delete_messages(self, queue: str, receipts: Sequence[tuple[int, str]]) -> None:
        receipts = list(receipts)
        await yield_once()
        held = self._queues.get(queue, {})
        for seq, receipt in receipts:
            msg = held.get(seq)
            if msg is not None and msg.receipt is not None and msg.receipt == receipt:
                del held[seq]

    async def change_visibility(
        self, queue: str, seq: int, receipt: str, *, now: float, visible_at: float
    ) -> bool:
        await yield_once()
        msg = self._queues.get(queue, {}).get(seq)
        if msg is None or msg.receipt is None or msg.receipt != receipt or msg.visible_at <= now:
            return False
        msg.visible_at = visible_at
        return True

    async def next_visible_at(self, queue: str, *, now: float) -> float | None:
        await yield_once()
        hidden = (m.visible_at for m in self._queues.get(queue, {}).values() if m.visible_at > now)
        return min(hidden, default=None)

    async def message_counts(self, queue: str, *, now: float) -> MessageCounts:
        await yield_once()
        held = self._queues.get(queue, {}).values()
        hidden = [m for m in held if m.visible_at > now]
        in_flight = sum(1 for m in hidden if m.receive_count > 0)
        return MessageCounts(
            visible=len(held) - len(hidden),
            not_visible=in_flight,
            delayed=len(hidden) - in_flight,
        )

    async def purge_messages(self, queue: str) -> int:
        await yield_once()
        return len(self._queues.pop(queue, {}))

    async def expire_messages(self, queue: str, *, sent_before: int) -> int:
        await yield_once()
        held = self._queues.get(queue, {})
        old = [seq for seq, m in held.items() if m.new.sent_at < sent_before]
        for seq in old:
            del held[seq]
        return len(old)

    def _visible(self, queue: str, now: float, oldest_ms: int, limit: int) -> list[_Message]:
        """Up to `limit` visible, unexpired messages of `queue`, by visibility time then seq."""
        held = self._queues.get(queue, {}).values()
        ready = (m for m in held if m.visible_at <= now and m.new.sent_at >= oldest_ms)
        return heapq.nsmallest(limit, ready, key=lambda m: (m.visible_at, m.seq))

    def _move(self, source: str, msg: _Message, target: str, now: float) -> None:
        """Redrive `msg` to the dead-letter queue `target`, visible there at once."""
        del self._queues[source][msg.seq]
        msg.visible_at = now
        msg.receive_count = 0
        msg.first_receive_at = None
        msg.receipt = None
        msg.dead_letter_source = source
        self._queues.setdefault(target, {})[msg.seq] = msg
