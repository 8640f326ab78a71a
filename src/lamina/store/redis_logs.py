"""Redis implementation of the log index (`LogIndex`): groups, streams, newest events.

Each group is a sorted set of its events scored by id (members "<id>:<message bytes>:<body>");
the set of groups holding events and a hash of their message bytes are kept with it by the
append and trim scripts, so listing groups reads no events.
"""

from __future__ import annotations

import msgspec

from lamina.store import redis_keys as keys
from lamina.store.base import LogEvent
from lamina.store.log_index import LogGroupInfo, LogStreamInfo
from lamina.store.redis_base import RedisBase, as_bytes, as_text, translated

_LOG_DECODE = msgspec.msgpack.Decoder(tuple[str, int, str, int])
#: Log events read per round trip while filtering by stream and time.
LOG_PAGE = 1000


def log_event(group: str, member: bytes) -> LogEvent:
    """The event a group's sorted-set member holds."""
    event_id, _, rest = member.partition(b":")
    _size, _, body = rest.partition(b":")
    stream, timestamp_ms, message, ingestion_ms = _LOG_DECODE.decode(body)
    return LogEvent(group, stream, timestamp_ms, message, int(event_id), ingestion_ms)


class RedisLogsMixin(RedisBase):
    """LogIndex on the per-group sorted sets; mixed into RedisStore."""

    @translated
    async def log_groups(self) -> list[LogGroupInfo]:
        """Every group holding events; `created_ms` is the ingestion time of its oldest event."""
        names = sorted(as_text(g) for g in await self.redis.smembers(keys.LOG_GROUPS))
        if not names:
            return []
        async with self.redis.pipeline(transaction=True) as pipe:
            for name in names:
                pipe.zrange(keys.log_key(name), 0, 0)
            pipe.hmget(keys.LOG_BYTES, names)
            *oldest, sizes = await pipe.execute()
        return [
            LogGroupInfo(name, log_event(name, as_bytes(first[0])).ingestion_ms, int(size or 0))
            for name, first, size in zip(names, oldest, sizes, strict=True)
            if first
        ]

    @translated
    async def log_streams(self, group: str) -> list[LogStreamInfo]:
        streams: dict[str, list[int]] = {}  # name -> first ts, last ts, last ingestion, bytes
        for member in await self.redis.zrange(keys.log_key(group), 0, -1):
            e = log_event(group, as_bytes(member))
            size = len(e.message.encode("utf-8"))
            held = streams.get(e.stream)
            if held is None:
                streams[e.stream] = [e.timestamp_ms, e.timestamp_ms, e.ingestion_ms, size]
            else:
                held[0] = min(held[0], e.timestamp_ms)
                held[1] = max(held[1], e.timestamp_ms)
                held[2] = max(held[2], e.ingestion_ms)
                held[3] += size
        return [LogStreamInfo(name, *streams[name]) for name in sorted(streams)]

    @translated
    async def read_logs_newest(
        self,
        group: str,
        *,
        stream_prefix: str = "",
        start_ms: int = 0,
        end_ms: int | None = None,
        before_id: int | None = None,
        limit: int = 1000,
    ) -> list[LogEvent]:
        end = end_ms if end_ms is not None else 2**62
        top = "+inf" if before_id is None else f"({before_id}"
        found: list[LogEvent] = []
        offset = 0
        while len(found) < limit:
            page = await self.redis.zrevrangebyscore(
                keys.log_key(group), top, "-inf", start=offset, num=LOG_PAGE
            )
            for member in page:
                event = log_event(group, as_bytes(member))
                if start_ms <= event.timestamp_ms <= end and event.stream.startswith(stream_prefix):
                    found.append(event)
            if len(page) < LOG_PAGE:
                break
            offset += len(page)
        return found[: max(limit, 0)][::-1]
