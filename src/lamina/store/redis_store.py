"""The Redis store: every Store protocol on one Redis (7.x) or Valkey server, shared by nodes.

Several nodes given the same `--store redis://HOST:PORT/DB` share functions, code, logs, async
events and SQS messages. Writes return after the server applied them; how durable that is
depends on the server's persistence: with `appendonly yes` and `appendfsync always` no
acknowledged write is lost when the server is killed, with `appendfsync everysec` (Redis's
default) the last second may be. Key layout: store/redis_keys.py; scripts: store/redis_lua/.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import msgspec

from lamina.errors import StoreError
from lamina.store import redis_keys as keys
from lamina.store.base import Delete, LogEvent, Op, Put
from lamina.store.memory import check_digest
from lamina.store.redis_base import RedisBase, as_bytes, as_text, translated
from lamina.store.redis_events import RedisEventsMixin
from lamina.store.redis_queues import RedisQueuesMixin

_LOG_BODY = msgspec.msgpack.Encoder()
_LOG_DECODE = msgspec.msgpack.Decoder(tuple[str, int, str, int])
#: Log events read per round trip while filtering by stream and time.
_LOG_PAGE = 1000


def _op_args(op: Op) -> tuple[str, str, bytes]:
    if isinstance(op, Put):
        return "P", op.key, op.value
    if isinstance(op, Delete):
        return "D", op.key, b""
    return ("A", op.key, b"") if op.value is None else ("E", op.key, op.value)


class RedisStore(RedisEventsMixin, RedisQueuesMixin, RedisBase):
    """`Store` on a Redis server."""

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """A store for `redis://HOST:PORT/DB`, `rediss://…` or `unix:///path?db=N`."""
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise StoreError(f"not a Redis URL: {url!r}")
        return cls(url)

    @translated
    async def open(self) -> None:
        """Check the server answers."""
        await self.redis.ping()

    async def close(self) -> None:
        """Close every connection; each write was applied when its call returned."""
        await self.redis.aclose()

    # -- documents ----------------------------------------------------------------------------
    @translated
    async def get(self, kind: str, key: str) -> bytes | None:
        value = await self.redis.hget(keys.doc_key(kind), key)
        return None if value is None else as_bytes(value)

    @translated
    async def scan(self, kind: str, prefix: str = "") -> list[tuple[str, bytes]]:
        found = await self.redis.hgetall(keys.doc_key(kind))
        docs = {as_text(k): as_bytes(v) for k, v in found.items()}
        return [(k, docs[k]) for k in sorted(docs) if k.startswith(prefix)]

    @translated
    async def transact(self, ops: Sequence[Op]) -> bool:
        ops = list(ops)
        if not ops:
            return True
        args = [part for op in ops for part in _op_args(op)]
        applied = await self.run("transact", [keys.doc_key(op.kind) for op in ops], args)
        return bool(applied)

    # -- blobs --------------------------------------------------------------------------------
    @translated
    async def put_blob(self, digest: str, data: bytes) -> None:
        check_digest(digest)
        if hashlib.sha256(data).hexdigest() != digest:
            raise StoreError("blob digest mismatch")
        await self.redis.set(keys.blob_key(digest), data, nx=True)

    @translated
    async def get_blob(self, digest: str) -> bytes | None:
        check_digest(digest)
        data = await self.redis.get(keys.blob_key(digest))
        return None if data is None else as_bytes(data)

    @translated
    async def delete_blob(self, digest: str) -> None:
        check_digest(digest)
        await self.redis.delete(keys.blob_key(digest))

    # -- logs ---------------------------------------------------------------------------------
    @translated
    async def append_logs(self, events: Sequence[LogEvent]) -> None:
        events = list(events)
        if not events:
            return
        bodies = [
            _LOG_BODY.encode((e.stream, e.timestamp_ms, e.message, e.ingestion_ms)) for e in events
        ]
        await self.run(
            "append_logs", [keys.LOG_SEQ, *(keys.log_key(e.group) for e in events)], bodies
        )

    @translated
    async def read_logs(
        self,
        group: str,
        *,
        stream_prefix: str = "",
        start_ms: int = 0,
        end_ms: int | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[LogEvent]:
        end = end_ms if end_ms is not None else 2**62
        found: list[LogEvent] = []
        offset = 0
        while len(found) < limit:
            page = await self.redis.zrangebyscore(
                keys.log_key(group), f"({after_id}", "+inf", start=offset, num=_LOG_PAGE
            )
            for member in page:
                event = _log_event(group, as_bytes(member))
                if start_ms <= event.timestamp_ms <= end and event.stream.startswith(stream_prefix):
                    found.append(event)
            if len(page) < _LOG_PAGE:
                break
            offset += len(page)
        return found[: max(limit, 0)]

    @translated
    async def trim_logs(self, group: str, keep: int) -> int:
        removed = await self.redis.zremrangebyrank(keys.log_key(group), 0, -max(keep, 0) - 1)
        return int(removed)


def _log_event(group: str, member: bytes) -> LogEvent:
    event_id, _, body = member.partition(b":")
    stream, timestamp_ms, message, ingestion_ms = _LOG_DECODE.decode(body)
    return LogEvent(group, stream, timestamp_ms, message, int(event_id), ingestion_ms)
