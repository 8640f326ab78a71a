"""In-memory implementation of the SQS-style messages (`QueueStore`); mixed into MemoryStore.

Each queue keeps its messages by sequence number plus a heap of (visible_at, seq) entries, so a
receive from a deep backlog looks at the messages it returns, not at the whole queue (SQLite
uses an index for the same). Entries are never updated in place: a message whose visibility
changes gets a new entry, and the old one is dropped when it reaches the top.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass

from lamina.store.memory_events import yield_once
from lamina.store.queues import (
    DEDUPLICATION_WINDOW_MS,
    MessageCounts,
    NewMessage,
    Redrive,
    Stored,
    StoredMessage,
)


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
            group_id=m.group_id,
            dedup_id=m.dedup_id,
            trace_header=m.trace_header,
        )


class _Queue:
    """One queue's messages, and the heap that finds the visible ones in order."""

    def __init__(self) -> None:
        self.messages: dict[int, _Message] = {}
        self._heap: list[tuple[float, int]] = []
        self.dedup: dict[str, tuple[Stored, int]] = {}  # FIFO key -> (first message, expiry ms)

    def add(self, msg: _Message) -> None:
        self.messages[msg.seq] = msg
        self._push(msg)

    def show_at(self, msg: _Message, visible_at: float) -> None:
        """Make `msg` (held here) visible at `visible_at`."""
        msg.visible_at = visible_at
        self._push(msg)

    def visible(self, now: float, oldest_ms: int, limit: int) -> list[_Message]:
        """Up to `limit` messages visible at `now` and sent at or after `oldest_ms`, by
        visibility time then sequence number. Their entries leave the heap: the caller
        hides, moves or deletes each one."""
        found: dict[int, _Message] = {}  # by seq: an entry pushed twice counts once
        expired: list[tuple[float, int]] = []
        while self._heap and self._heap[0][0] <= now and len(found) < limit:
            entry = heapq.heappop(self._heap)
            msg = self.messages.get(entry[1])
            if msg is None or msg.visible_at != entry[0] or msg.seq in found:
                continue  # deleted, or its visibility changed since (a newer entry exists)
            if msg.new.sent_at < oldest_ms:
                expired.append(entry)  # skipped, not deleted: expire_messages does that
            else:
                found[msg.seq] = msg
        for entry in expired:
            heapq.heappush(self._heap, entry)
        return list(found.values())

    def fifo_visible(self, now: float, oldest_ms: int, limit: int) -> list[_Message]:
        """FIFO: up to `limit` visible messages in sequence order, none after a message of its
        group in flight (a FIFO queue's backlog is walked in order, as SQLite's index does)."""
        first_in_flight: dict[str | None, int] = {}
        for m in self.messages.values():
            if m.visible_at > now and m.receipt is not None:
                group = m.new.group_id
                first_in_flight[group] = min(first_in_flight.get(group, m.seq), m.seq)
        out: list[_Message] = []
        for seq in sorted(self.messages):
            m = self.messages[seq]
            if m.new.group_id is None or m.visible_at > now or m.new.sent_at < oldest_ms:
                continue
            held = first_in_flight.get(m.new.group_id)
            if held is not None and seq > held:
                continue
            out.append(m)
            if len(out) == limit:
                break
        return out

    def _push(self, msg: _Message) -> None:
        heapq.heappush(self._heap, (msg.visible_at, msg.seq))
        if len(self._heap) > 2 * len(self.messages) + 64:  # mostly stale entries: rebuild
            self._heap = [(m.visible_at, m.seq) for m in self.messages.values()]
            heapq.heapify(self._heap)


class MemoryQueuesMixin:
    """QueueStore on one `_Queue` per queue name."""

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._seqs = itertools.count(1)  # one sequence for every queue, never reused

    def _held(self, queue: str) -> dict[int, _Message]:
        found = self._queues.get(queue)
        return {} if found is None else found.messages

    def _queue_bytes(self) -> dict[str, int]:
        """UTF-8 body plus attribute bytes of the messages of each queue (for `usage`)."""
        sizes = {
            name: sum(
                len(m.new.body.encode("utf-8")) + len(m.new.attributes) for m in q.messages.values()
            )
            for name, q in self._queues.items()
            if q.messages
        }
        return dict(sorted(sizes.items()))

    async def put_messages(self, queue: str, messages: Sequence[NewMessage]) -> list[Stored]:
        messages = list(messages)
        await yield_once()
        held = self._queues.setdefault(queue, _Queue())
        out: list[Stored] = []
        for m in messages:
            seen = held.dedup.get(m.dedup_key) if m.dedup_key is not None else None
            if seen is not None and seen[1] > m.sent_at:
                out.append(seen[0])
                continue
            stored = Stored(m.message_id, next(self._seqs))
            held.add(_Message(stored.seq, m, m.visible_at))
            if m.dedup_key is not None:
                held.dedup[m.dedup_key] = (stored, m.sent_at + DEDUPLICATION_WINDOW_MS)
            out.append(stored)
        return out

    async def receive_messages(
        self,
        queue: str,
        *,
        now: float,
        hide_until: float,
        limit: int,
        retention_s: float,
        redrive: Redrive | None,
        fifo: bool = False,
    ) -> list[StoredMessage]:
        if redrive is not None and redrive.target == queue:
            redrive = None  # a queue that is its own dead-letter queue keeps its messages
        await yield_once()
        held = self._queues.get(queue)
        oldest = int((now - retention_s) * 1000)
        now_ms = int(now * 1000)
        taken: list[StoredMessage] = []
        # The same rounds as SQLite's: take a batch of what is visible; if some of it moved to
        # the dead-letter queue, look again for the rest (a queue may even redrive to itself).
        while held is not None and len(taken) < limit:
            moved = False
            find = held.fifo_visible if fifo else held.visible
            for msg in find(now, oldest, limit - len(taken)):
                if redrive is not None and msg.receive_count >= redrive.max_receives:
                    self._move(queue, msg, redrive.target, now)
                    moved = True
                    continue
                msg.receive_count += 1
                if msg.first_receive_at is None:
                    msg.first_receive_at = now_ms
                msg.receipt = os.urandom(12).hex()
                held.show_at(msg, hide_until)
                taken.append(msg.as_received())
            if not moved:
                break
        return taken

    async def delete_messages(
        self, queue: str, receipts: Sequence[tuple[int, str]], *, in_flight_at: float | None = None
    ) -> list[tuple[int, str]]:
        receipts = list(receipts)
        await yield_once()
        held = self._held(queue)
        expired: list[tuple[int, str]] = []
        for seq, receipt in receipts:
            msg = held.get(seq)
            if msg is None or msg.receipt is None or msg.receipt != receipt:
                continue
            if in_flight_at is not None and msg.visible_at <= in_flight_at:
                expired.append((seq, receipt))
            else:
                del held[seq]
        return expired

    async def change_visibility(
        self, queue: str, seq: int, receipt: str, *, now: float, visible_at: float
    ) -> bool:
        await yield_once()
        held = self._queues.get(queue)
        msg = None if held is None else held.messages.get(seq)
        if held is None or msg is None or msg.receipt is None or msg.receipt != receipt:
            return False
        held.show_at(msg, visible_at)
        return True

    async def next_visible_at(self, queue: str, *, now: float) -> float | None:
        await yield_once()
        hidden = (m.visible_at for m in self._held(queue).values() if m.visible_at > now)
        return min(hidden, default=None)

    async def message_counts(self, queue: str, *, now: float) -> MessageCounts:
        await yield_once()
        held = self._held(queue).values()
        hidden = [m for m in held if m.visible_at > now]
        in_flight = sum(1 for m in hidden if m.receive_count > 0)
        return MessageCounts(
            visible=len(held) - len(hidden),
            not_visible=in_flight,
            delayed=len(hidden) - in_flight,
        )

    async def purge_messages(self, queue: str) -> int:
        await yield_once()
        dropped = self._queues.pop(queue, None)
        return 0 if dropped is None else len(dropped.messages)

    async def expire_messages(self, queue: str, *, sent_before: int) -> int:
        await yield_once()
        held = self._held(queue)
        old = [seq for seq, m in held.items() if m.new.sent_at < sent_before]
        for seq in old:
            del held[seq]
        return len(old)

    def _move(self, source: str, msg: _Message, target: str, now: float) -> None:
        """Redrive `msg` to the dead-letter queue `target`, visible there at once."""
        del self._queues[source].messages[msg.seq]
        msg.receipt = None  # the receive count carries over, as on SQS
        msg.dead_letter_source = source
        msg.visible_at = now
        self._queues.setdefault(target, _Queue()).add(msg)
