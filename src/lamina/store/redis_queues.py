"""Redis implementation of the SQS-style messages (`QueueStore`); mixed into RedisStore.

Per queue (hash tag `{q:NAME}`): the messages as sent by sequence number, a sorted set of them
by visibility time (members are zero-padded numbers, so ties sort by sequence as SQLite's index
does), one by send time, and hashes of receive counts, first receive times, newest receipts and
dead-letter sources. A receive (with its redrive) is one Lua script: one round trip.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import msgspec

from lamina.store import redis_keys as keys
from lamina.store.queues import MessageCounts, NewMessage, Redrive, StoredMessage
from lamina.store.redis_base import RedisBase, as_text, translated

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
    )


class RedisQueuesMixin(RedisBase):
    """QueueStore on per-queue hashes and sorted sets."""

    @translated
    async def put_messages(self, queue: str, messages: Sequence[NewMessage]) -> None:
        args: list[Any] = []
        for m in messages:
            args += [_encode(m), repr(m.visible_at), m.sent_at]
        if args:
            msg, vis, sent = keys.queue_keys(queue)[:3]
            await self.run("put_messages", [keys.MESSAGE_SEQ, msg, vis, sent], args)

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
    ) -> list[StoredMessage]:
        if limit <= 0:
            return []
        oldest = int((now - retention_s) * 1000)
        target = queue if redrive is None else redrive.target
        max_receives = -1 if redrive is None else redrive.max_receives
        receipts = [os.urandom(12).hex() for _ in range(limit)]
        found = await self.run(
            "receive_messages",
            [*keys.queue_keys(queue), *keys.queue_keys(target)],
            [repr(now), repr(hide_until), limit, oldest, int(now * 1000), max_receives, queue,
             *receipts],
        )  # fmt: skip
        return [_stored(found, i) for i in range(0, len(found), 6)]

    @translated
    async def delete_messages(self, queue: str, receipts: Sequence[tuple[int, str]]) -> None:
        args = [part for seq, receipt in receipts for part in (keys.seq_member(seq), receipt)]
        if args:
            await self.run("delete_messages", keys.queue_keys(queue), args)

    @translated
    async def change_visibility(
        self, queue: str, seq: int, receipt: str, *, now: float, visible_at: float
    ) -> bool:
        _msg, vis, _sent, _rc, _fr, rcpt, _dls = keys.queue_keys(queue)
        args = [keys.seq_member(seq), receipt, repr(now), repr(visible_at)]
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
        return int(await self.run("expire_messages", keys.queue_keys(queue), [sent_before]))
