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
from lamina.store.base import LOG_EVENT_OVERHEAD, Delete, LogEvent, Op, Put, StorageUsage
from lamina.store.memory import check_digest
from lamina.store.redis_base import RedisBase, as_bytes, as_text, translated
from lamina.store.redis_events import RedisEventsMixin
from lamina.store.redis_logs import LOG_PAGE, RedisLogsMixin, log_event
from lamina.store.redis_queues import RedisQueuesMixin

_LOG_BODY = msgspec.msgpack.Encoder()


def _op_args(op: Op) -> tuple[str, str, bytes]:
    if isinstance(op, Put):
        return "P", op.key, op.value
    if isinstance(op, Delete):
        return "D", op.key, b""
    return ("A", op.key, b"") if op.value is None else ("E", op.key, op.value)


class RedisStore(RedisEventsMixin, RedisQueuesMixin, RedisLogsMixin, RedisBase):
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
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.blob_key(digest), data, nx=True)
            pipe.hset(keys.BLOB_SIZES, digest, len(data))
            await pipe.execute()

    @translated
    async def get_blob(self, digest: str) -> bytes | None:
        check_digest(digest)
        data = await self.redis.get(keys.blob_key(digest))
        return None if data is None else as_bytes(data)

    @translated
    async def delete_blob(self, digest: str) -> None:
        check_digest(digest)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.blob_key(digest))
            pipe.hdel(keys.BLOB_SIZES, digest)
            await pipe.execute()

    # -- logs ---------------------------------------------------------------------------------
    @translated
    async def append_logs(self, events: Sequence[LogEvent]) -> None:
        events = list(events)
        if not events:
            return
        args: list[object] = []
        for e in events:
            body = _LOG_BODY.encode((e.stream, e.timestamp_ms, e.message, e.ingestion_ms))
            args += [e.group, len(e.message.encode("utf-8")), body]
        index = [keys.LOG_SEQ, keys.LOG_GROUPS, keys.LOG_BYTES]
        await self.run("append_logs", [*index, *(keys.log_key(e.group) for e in events)], args)

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
                keys.log_key(group), f"({after_id}", "+inf", start=offset, num=LOG_PAGE
            )
            for member in page:
                event = log_event(group, as_bytes(member))
                if start_ms <= event.timestamp_ms <= end and event.stream.startswith(stream_prefix):
                    found.append(event)
            if len(page) < LOG_PAGE:
                break
            offset += len(page)
        return found[: max(limit, 0)]

    @translated
    async def trim_logs(self, group: str, keep: int) -> int:
        return await self._trim("count", max(keep, 0), group)

    @translated
    async def trim_log_bytes(self, group: str | None, keep_bytes: int) -> int:
        return await self._trim("bytes", max(keep_bytes, 0), group or "")

    async def _trim(self, mode: str, keep: int, group: str) -> int:
        args = [keys.LOG_GROUP, mode, keep, LOG_EVENT_OVERHEAD, group]
        return int(await self.run("trim_logs", [keys.LOG_GROUPS, keys.LOG_BYTES], args))

    # -- storage lifecycle --------------------------------------------------------------------
    @translated
    async def usage(self) -> StorageUsage:
        """Bytes by kind. `files` is {}: the server's own files (RDB, AOF) are its operator's
        to watch. Event and queue sizes read every queued event and message, as SQLite's sums
        read every row; blob and log sizes come from indexes kept with the data."""
        blobs = await self.redis.hgetall(keys.BLOB_SIZES)
        groups = sorted(as_text(g) for g in await self.redis.smembers(keys.LOG_GROUPS))
        logs: dict[str, int] = {}
        if groups:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hmget(keys.LOG_BYTES, groups)
                for group in groups:
                    pipe.zcard(keys.log_key(group))
                sizes, *counts = await pipe.execute()
            logs = {
                g: int(size or 0) + LOG_EVENT_OVERHEAD * int(n)
                for g, size, n in zip(groups, sizes, counts, strict=True)
                if int(n)
            }
        return StorageUsage(
            blobs={as_text(d): int(n) for d, n in sorted(blobs.items())},
            logs=logs,
            events=await self._event_bytes(),
            queues=await self._queue_bytes(),
            files={},
        )

    async def reclaim_space(self, max_bytes: int) -> int:
        """Always 0: the server frees memory as keys go (its RDB and AOF files are rewritten by
        the server itself), as the memory store does."""
        return 0
