"""In-memory implementation of the async-event queue (`EventStore`); mixed into MemoryStore."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Sequence

import msgspec

from lamina.store.events import AsyncEvent, EventQueueStats


async def yield_once() -> None:
    """Let other tasks run once, as a real backend's I/O would, before touching the data."""
    await asyncio.sleep(0)


def _claimed(event: AsyncEvent, now: float) -> bool:
    """Whether a poller holds `event` at `now` (a claim ending exactly at `now` still holds)."""
    return event.claimed_until is not None and event.claimed_until >= now


class MemoryEventsMixin:
    """EventStore on one dict of events per function, keyed by request id."""

    def __init__(self) -> None:
        self._events: dict[str, dict[str, AsyncEvent]] = {}
        self._event_owner: dict[str, str] = {}  # request id -> function (ids are unique)

    def _event_bytes(self) -> dict[str, int]:
        """Payload bytes of queued events per function (for `usage`)."""
        sizes = {f: sum(len(e.payload) for e in q.values()) for f, q in self._events.items() if q}
        return dict(sorted(sizes.items()))

    async def enqueue_events(self, events: Sequence[AsyncEvent]) -> None:
        events = list(events)
        await yield_once()
        for e in events:
            if e.request_id in self._event_owner:
                continue
            self._event_owner[e.request_id] = e.function
            queued = msgspec.structs.replace(e, claimed_until=None)
            self._events.setdefault(e.function, {})[e.request_id] = queued

    async def claim_events(
        self, function: str, *, now: float, claim_s: float, limit: int
    ) -> list[AsyncEvent]:
        await yield_once()
        queue = self._events.get(function, {})
        due = (e for e in queue.values() if e.next_at <= now and not _claimed(e, now))
        chosen = heapq.nsmallest(max(limit, 0), due, key=lambda e: (e.next_at, e.request_id))
        until = now + claim_s
        claimed = [msgspec.structs.replace(e, claimed_until=until) for e in chosen]
        for e in claimed:
            queue[e.request_id] = e
        return claimed

    async def extend_event_claims(self, request_ids: Sequence[str], *, until: float) -> None:
        request_ids = list(request_ids)
        await yield_once()
        for rid in request_ids:
            function = self._event_owner.get(rid)
            queue = self._events.get(function or "", {})
            held = queue.get(rid)
            if held is not None and held.claimed_until is not None:
                queue[rid] = msgspec.structs.replace(held, claimed_until=until)

    async def reset_event_claims(self) -> int:
        await yield_once()
        reset = 0
        for queue in self._events.values():
            for rid, e in queue.items():
                if e.claimed_until is not None:
                    queue[rid] = msgspec.structs.replace(e, claimed_until=None)
                    reset += 1
        return reset

    async def ack_events(self, request_ids: Sequence[str]) -> None:
        request_ids = list(request_ids)
        await yield_once()
        for rid in request_ids:
            self._forget_event(rid)

    async def reschedule_event(
        self, request_id: str, *, next_at: float, attempts: int, last_error: str | None
    ) -> None:
        await yield_once()
        function = self._event_owner.get(request_id)
        if function is None:
            return
        queue = self._events[function]
        queue[request_id] = msgspec.structs.replace(
            queue[request_id],
            next_at=next_at,
            attempts=attempts,
            last_error=last_error,
            claimed_until=None,
        )

    async def event_functions(self) -> list[str]:
        await yield_once()
        return [name for name, queue in self._events.items() if queue]

    async def event_stats(self, function: str, *, now: float) -> EventQueueStats:
        await yield_once()
        queue = self._events.get(function, {})
        in_flight = sum(1 for e in queue.values() if _claimed(e, now))
        delayed = sum(1 for e in queue.values() if not _claimed(e, now) and e.next_at > now)
        return EventQueueStats(
            depth=len(queue),
            ready=len(queue) - in_flight - delayed,
            in_flight=in_flight,
            delayed=delayed,
            oldest_enqueued_at=min((e.enqueued_at for e in queue.values()), default=None),
        )

    async def list_events(self, function: str, *, after: str, limit: int) -> list[AsyncEvent]:
        await yield_once()
        queue = self._events.get(function, {})
        later = (queue[rid] for rid in sorted(queue) if rid > after)
        return [e for e, _ in zip(later, range(max(limit, 0)), strict=False)]

    async def purge_events(self, function: str) -> int:
        await yield_once()
        queue = self._events.get(function, {})
        # As in SQLite: an event still carrying a claim (even a lapsed one) is not purged.
        unclaimed = [rid for rid, e in queue.items() if e.claimed_until is None]
        for rid in unclaimed:
            self._forget_event(rid)
        return len(unclaimed)

    def _forget_event(self, request_id: str) -> None:
        function = self._event_owner.pop(request_id, None)
        if function is None:
            return
        queue = self._events[function]
        del queue[request_id]
        if not queue:
            del self._events[function]
