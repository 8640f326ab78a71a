"""The queue part of the Store contract: durable SQS-style messages, one table for all queues.

A message is hidden for a visibility timeout each time it is received and gets a new receipt
token then; only the newest token deletes it or changes its visibility. A receive moves messages
received too often to the queue's dead-letter queue in the same transaction. FIFO queues add
message groups (nothing after a group's message in flight is received until it is done) and
deduplication keys remembered for DEDUPLICATION_WINDOW_MS. Every write returns only after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

#: How long a FIFO queue remembers a deduplication key, counted from the first send (SQS: 5 min).
DEDUPLICATION_WINDOW_MS = 300_000


class NewMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A message as sent, before it is stored."""

    message_id: str
    body: str
    attributes: bytes  # JSON of the message attributes as sent ({} when none)
    md5_of_body: str
    md5_of_attributes: str | None
    sent_at: int  # epoch milliseconds
    visible_at: float  # epoch seconds: sent_at + delay
    group_id: str | None = None  # MessageGroupId (FIFO queues; also allowed on standard ones)
    dedup_id: str | None = None  # MessageDeduplicationId as sent or derived from the body
    dedup_key: str | None = None  # FIFO only: what duplicates are recognised by
    trace_header: str | None = None  # the AWSTraceHeader system attribute


class StoredMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A message as received: its newest receipt and receive counts."""

    seq: int
    message_id: str
    body: str
    attributes: bytes
    md5_of_body: str
    md5_of_attributes: str | None
    sent_at: int
    receive_count: int
    first_receive_at: int | None  # epoch milliseconds
    receipt: str | None
    dead_letter_source: str | None  # queue name the message was redriven from
    group_id: str | None = None
    dedup_id: str | None = None
    trace_header: str | None = None


class Stored(msgspec.Struct, frozen=True):
    """Where a sent message went: its id and its sequence number in the message table."""

    message_id: str
    seq: int


class Redrive(msgspec.Struct, frozen=True):
    """Send a message to `target` instead once it was received `max_receives` times."""

    target: str
    max_receives: int


class MessageCounts(msgspec.Struct, frozen=True, kw_only=True):
    visible: int
    not_visible: int  # received and in flight
    delayed: int  # sent with a delay not yet over


class QueueStore(Protocol):
    async def put_messages(self, queue: str, messages: Sequence[NewMessage]) -> list[Stored]:
        """Store messages; returns only after commit, with each message's id and sequence. A
        message whose `dedup_key` was stored on `queue` less than DEDUPLICATION_WINDOW_MS before
        its `sent_at` is not stored again: its entry names the earlier message."""

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
        """Atomically take up to `limit` visible messages, hide them until `hide_until` and give
        each a new receipt. Messages older than `retention_s` are skipped (`expire_messages` deletes
        them); messages already received `redrive.max_receives` times move to `redrive.target`
        instead, visible at once there, keeping their receive counts. With `fifo`, messages come
        in sequence order, and none that comes after a message of its group in flight."""

    async def delete_messages(
        self, queue: str, receipts: Sequence[tuple[int, str]], *, in_flight_at: float | None = None
    ) -> list[tuple[int, str]]:
        """Delete each (seq, receipt) whose receipt is the newest one; others are left alone.
        With `in_flight_at` (FIFO queues), a message whose visibility timeout was over by then is
        left alone too, and its (seq, receipt) is returned (else nothing is)."""

    async def change_visibility(
        self, queue: str, seq: int, receipt: str, *, now: float, visible_at: float
    ) -> bool:
        """Make the message whose newest receipt is `receipt` visible at `visible_at`, in flight
        or not (SQS accepts a late change); False when there is no such message."""

    async def next_visible_at(self, queue: str, *, now: float) -> float | None:
        """When the next hidden or delayed message of `queue` becomes visible."""

    async def message_counts(self, queue: str, *, now: float) -> MessageCounts:
        """Visible, in-flight and delayed counts."""

    async def purge_messages(self, queue: str) -> int:
        """Delete every message and deduplication key of `queue`; return how many messages."""

    async def expire_messages(self, queue: str, *, sent_before: int) -> int:
        """Delete messages sent before `sent_before` (epoch ms); return how many."""
