"""Redis implementation of the async-event queue (`EventStore`); mixed into RedisStore.

Per function (hash tag `{fn:NAME}`): the events as enqueued, their state after a reschedule,
a sorted set of unclaimed events by `next_at` and one of claimed events by `claimed_until`.
A claim is an entry in the claims set; when it lapses (its holder died) the next claim or stats
call puts the event back among the unclaimed, so another node runs it (at-least-once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from lamina.store import redis_keys as keys
from lamina.store.events import AsyncEvent, EventQueueStats
from lamina.store.redis_base import RedisBase, as_bytes, as_text, translated

_STATE = tuple[int, float, str | None]  # attempts, next_at, last_error after a reschedule
_encode = msgspec.msgpack.Encoder().encode
_decode_event = msgspec.msgpack.Decoder(AsyncEvent).decode
_decode_state = msgspec.msgpack.Decoder(_STATE).decode


def _event(encoded: bytes, state: bytes, claimed_until: float | None) -> AsyncEvent:
    event = _decode_event(encoded)
    if state:
        attempts, next_at, last_error = _decode_state(state)
        event = msgspec.structs.replace(
            event, attempts=attempts, next_at=next_at, last_error=last_error
        )
    return msgspec.structs.replace(event, claimed_until=claimed_until)


class RedisEventsMixin(RedisBase):
    """EventStore on per-function hashes and sorted sets."""

    @translated
    async def enqueue_events(self, events: Sequence[AsyncEvent]) -> None:
        args: list[Any] = [keys.PREFIX]
        for e in events:
            queued = _encode(msgspec.structs.replace(e, claimed_until=None))
            args += [e.request_id, e.function, queued, repr(e.next_at), repr(e.enqueued_at)]
        if len(args) > 1:
            await self.run("enqueue_events", [keys.EVENT_OWNER, keys.EVENT_FUNCTIONS], args)

    @translated
    async def claim_events(
        self, function: str, *, now: float, claim_s: float, limit: int
    ) -> list[AsyncEvent]:
        until = now + claim_s
        next_, claims, nx, ev, st, _enq = keys.event_keys(function)
        found = await self.run(
            "claim_events", [next_, claims, nx, ev, st], [repr(now), repr(until), max(limit, 0)]
        )
        return [_event(found[i + 1], found[i + 2], until) for i in range(0, len(found), 3)]

    @translated
    async def extend_event_claims(self, request_ids: Sequence[str], *, until: float) -> None:
        request_ids = list(request_ids)
        if request_ids:
            args = [keys.PREFIX, repr(until), *request_ids]
            await self.run("extend_event_claims", [keys.EVENT_OWNER], args)

    @translated
    async def reset_event_claims(self) -> int:
        return int(await self.run("reset_event_claims", [keys.EVENT_FUNCTIONS], [keys.PREFIX]))

    @translated
    async def ack_events(self, request_ids: Sequence[str]) -> None:
        request_ids = list(request_ids)
        if request_ids:
            await self.run(
                "ack_events", [keys.EVENT_OWNER, keys.EVENT_FUNCTIONS], [keys.PREFIX, *request_ids]
            )

    @translated
    async def reschedule_event(
        self, request_id: str, *, next_at: float, attempts: int, last_error: str | None
    ) -> None:
        state = _encode((attempts, next_at, last_error))
        await self.run(
            "reschedule_event",
            [keys.EVENT_OWNER],
            [keys.PREFIX, request_id, repr(next_at), state],
        )

    @translated
    async def event_functions(self) -> list[str]:
        return sorted(as_text(f) for f in await self.redis.smembers(keys.EVENT_FUNCTIONS))

    @translated
    async def event_stats(self, function: str, *, now: float) -> EventQueueStats:
        next_, claims, nx, ev, _st, enq = keys.event_keys(function)
        depth, in_flight, delayed, oldest = await self.run(
            "event_stats", [next_, claims, nx, ev, enq], [repr(now)]
        )
        return EventQueueStats(
            depth=int(depth),
            ready=int(depth) - int(in_flight) - int(delayed),
            in_flight=int(in_flight),
            delayed=int(delayed),
            oldest_enqueued_at=float(oldest) if oldest else None,
        )

    @translated
    async def list_events(self, function: str, *, after: str, limit: int) -> list[AsyncEvent]:
        _next, claims, _nx, ev, st, _enq = keys.event_keys(function)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(ev)
            pipe.hgetall(st)
            pipe.zrange(claims, 0, -1, withscores=True)
            events, states, claimed = await pipe.execute()
        held = {as_text(rid): float(until) for rid, until in claimed}
        chosen = sorted(rid for rid in map(as_text, events) if rid > after)[: max(limit, 0)]
        return [
            _event(events[rid.encode()], states.get(rid.encode(), b""), held.get(rid))
            for rid in chosen
        ]

    @translated
    async def purge_events(self, function: str) -> int:
        next_, claims, nx, ev, st, enq = keys.event_keys(function)
        event_index = [keys.EVENT_OWNER, keys.EVENT_FUNCTIONS]
        purged = await self.run(
            "purge_events", [*event_index, next_, claims, nx, ev, st, enq], [function]
        )
        return int(purged)

    async def _event_bytes(self) -> dict[str, int]:
        """Payload bytes of the queued events of each function (for `usage`): reads every
        queued event, as SQLite's sum reads every row."""
        sizes: dict[str, int] = {}
        for function in sorted(as_text(f) for f in await self.redis.smembers(keys.EVENT_FUNCTIONS)):
            held = await self.redis.hvals(keys.event_keys(function)[3])
            if held:
                sizes[function] = sum(len(_decode_event(as_bytes(e)).payload) for e in held)
        return sizes
