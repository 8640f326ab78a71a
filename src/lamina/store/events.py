"""The async-event part of the Store contract: one durable queue of events per function.

A poller claims an event for a bounded time; if its holder dies the claim expires and the event
runs again, with its attempt count unchanged (a run the crash cut off is not an attempt).
"Claim" is the word for an event held by a poller; "lease" is reserved for concurrency.
Every write returns only after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec


class AsyncEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One accepted Event invocation and where it stands."""

    request_id: str
    function: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float  # epoch seconds
    attempts: int = 0  # completed attempts that ended in a function error
    next_at: float = 0.0  # not run before this (epoch seconds)
    claimed_until: float | None = None  # held by a poller until then (epoch seconds)
    last_error: str | None = None
    lineage: int = 0  # hops in a chain of invocations it is (recursive loop detection)


class EventQueueStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counts for one function's queue at one moment."""

    depth: int  # every event still queued
    ready: int  # due now and not claimed
    in_flight: int  # claimed
    delayed: int  # waiting for a retry time
    oldest_enqueued_at: float | None


class EventStore(Protocol):
    async def enqueue_events(self, events: Sequence[AsyncEvent]) -> None:
        """Append events; returns only after commit. An id already queued is left as it is."""

    async def claim_events(
        self, function: str, *, now: float, claim_s: float, limit: int
    ) -> list[AsyncEvent]:
        """Atomically claim up to `limit` due, unclaimed events of `function` until
        `now + claim_s` (earliest `next_at` first; a claim that ended before `now` is void)."""

    async def extend_event_claims(self, request_ids: Sequence[str], *, until: float) -> None:
        """Move the end of each listed event's claim to `until`, so a live poller keeps what it
        runs; events not claimed (or gone) are left alone. Nodes sharing a store claim briefly
        and extend while they run, so a dead node's events lapse soon."""

    async def reset_event_claims(self) -> int:
        """Void every claim; return how many. Called at start by a node that is the store's
        only user."""

    async def ack_events(self, request_ids: Sequence[str]) -> None:
        """Remove finished events. Idempotent."""

    async def reschedule_event(
        self, request_id: str, *, next_at: float, attempts: int, last_error: str | None
    ) -> None:
        """Give back a claimed event (voiding its claim) to run again at `next_at` with
        `attempts` recorded. An unknown id is ignored."""

    async def event_functions(self) -> list[str]:
        """Names of functions that have queued events."""

    async def event_stats(self, function: str, *, now: float) -> EventQueueStats:
        """Depth, ready, in-flight and delayed counts and the oldest event's enqueue time."""

    async def list_events(self, function: str, *, after: str, limit: int) -> list[AsyncEvent]:
        """Events of `function` ordered by request id, starting after `after`."""

    async def purge_events(self, function: str) -> int:
        """Delete every queued event of `function` that is not claimed; return how many."""
