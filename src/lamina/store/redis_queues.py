"""Redis implementation of the SQS-style messages (`QueueStore`); mixed into RedisStore.

Per queue (hash tag `{q:NAME}`): the messages as sent by sequence number, a sorted set of them
by visibility time (members are zero-padded numbers, so ties sort by sequence as SQLite's index
does), one by send time, one by sequence (FIFO order), and hashes of receive counts, first
receive times, newest receipts, dead-letter sources and message groups; FIFO deduplication keys
live in a hash with a sorted set of their expiries. A send (with its deduplication) and a
receive (with its redrive and FIFO order) are one Lua script each: one round trip.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import msgspec

from lamina.store import redis_keys as keys
from lamina.store.queues import (
    DEDUPLICATION_WINDOW_MS,
    MessageCounts,
    NewMessage,
    Redrive,
    Stored,
    StoredMessage,
)
from lamina.store.redis_base import RedisBase, as_bytes, as_text, translated

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(NewMessage).decode


def _stored(found: list[Any], i: int) -> StoredMessage:
    seq, body, count, first, receipt, source = found[i : i + 6]
    m = _decode(body)
    return StoredMessage(
        seq=int(seq),
        message_id=m.message_id,
        body=m.body,
        attributes=m.attributes,
        md5_of_body=m.md5_of_body,
        md5_of_attributes=m.md5_of_attributes,
        sent_at=m.sent_at,
        receive_count=int(count),
        first_receive_at=int(first) if first else None,
        receipt=as_text(receipt),
        dead_letter_source=as_text(source) or None,
        group_id=m.group_id,
        dedup_id=m.dedup_id,
        trace_header=m.trace_header,
    )


class RedisQueuesMixin(RedisBase):
    """QueueStore on per-queue hashes and sorted sets."""

    @translated
    async def put_messages(self, queue: str, messages: Sequence[NewMessage]) -> list[Stored]:
        args: list[Any] = [queue, DEDUPLICATION_WINDOW_MS]
        for m in messages:
            args += [
                _encode(m),
                repr(m.visible_at),
                m.sent_at,
                m.group_id or "",
                m.dedup_key or "",
                m.message_id,
            ]
        if len(args) == 2:
            return []
        found = await self.run(
            "put_messages", [keys.MESSAGE_SEQ, keys.QUEUE_NAMES, *keys.queue_keys(queue)], args
        )
        return [Stored(as_text(found[i]), int(found[i + 1])) for i in range(0, len(found), 2)]

    @translated
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
        if limit <= 0:
            return []
        if redrive is not None and redrive.target == queue:
            redrive = None  # a queue that is its own dead-letter queue keeps its messages
        oldest = int((now - retention_s) * 1000)
        target = queue if redrive is None else redrive.target
        max_receives = -1 if redrive is None else redrive.max_receives
        tokens = os.urandom(12 * limit).hex()  # one read of the random source per receive
        receipts = [tokens[i : i + 24] for i in range(0, 24 * limit, 24)]
        found = await self.run(
            "receive_messages",
            [*keys.queue_keys(queue)[:9], *keys.queue_keys(target)[:9], keys.QUEUE_NAMES],
            [
                repr(now),
                repr(hide_until),
                limit,
                oldest,
                int(now * 1000),
                max_receives,
                queue,
                "1" if fifo else "0",
                target,
                *receipts,
            ],
        )
        return [_stored(found, i) for i in range(0, len(found), 6)]

    @translated
    async def delete_messages(
        self, queue: str, receipts: Sequence[tuple[int, str]], *, in_flight_at: float | None = None
    ) -> list[tuple[int, str]]:
        args = [part for seq, receipt in receipts for part in (keys.seq_member(seq), receipt)]
        if not args:
            return []
        at = "" if in_flight_at is None else repr(in_flight_at)
        left = await self.run("delete_messages", keys.queue_keys(queue)[:9], [at, *args])
        return [(int(left[i]), as_text(left[i + 1])) for i in range(0, len(left), 2)]

    @translated
    async def change_visibility(
        self, queue: str, seq: int, receipt: str, *, now: float, visible_at: float
    ) -> bool:
        vis, rcpt = keys.queue_keys(queue)[1], keys.queue_keys(queue)[5]
        args = [keys.seq_member(seq), receipt, repr(visible_at)]
        return bool(await self.run("change_visibility", [vis, rcpt], args))

    @translated
    async def next_visible_at(self, queue: str, *, now: float) -> float | None:
        vis = keys.queue_keys(queue)[1]
        first = await self.redis.zrangebyscore(
            vis, f"({now!r}", "+inf", start=0, num=1, withscores=True
        )
        return float(first[0][1]) if first else None

    @translated
    async def message_counts(self, queue: str, *, now: float) -> MessageCounts:
        _msg, vis, _sent, rc, *_ = keys.queue_keys(queue)
        visible, in_flight, delayed = await self.run("message_counts", [vis, rc], [repr(now)])
        return MessageCounts(visible=int(visible), not_visible=int(in_flight), delayed=int(delayed))

    @translated
    async def purge_messages(self, queue: str) -> int:
        queue_keys = keys.queue_keys(queue)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hlen(queue_keys[0])
            pipe.delete(*queue_keys)
            count, _deleted = await pipe.execute()
        return int(count)

    @translated
    async def expire_messages(self, queue: str, *, sent_before: int) -> int:
        return int(await self.run("expire_messages", keys.queue_keys(queue)[:9], [sent_before]))

    async def _queue_bytes(self) -> dict[str, int]:
        """UTF-8 body plus attribute bytes of the messages of each queue (for `usage`): reads
        every message, as SQLite's sum reads every row."""
        names = sorted(as_text(n) for n in await self.redis.smembers(keys.QUEUE_NAMES))
        sizes: dict[str, int] = {}
        for name in names:
            held = await self.redis.hvals(keys.queue_keys(name)[0])
            if held:
                sizes[name] = sum(
                    len(m.body.encode("utf-8")) + len(m.attributes)
                    for m in map(_decode, map(as_bytes, held))
                )
        return sizes
