"""The store contract for the async-event queue: enqueue, claims, retries, stats and purges.

Times are plain numbers chosen by the test (the store never reads a clock), so every claim
lapse and retry delay is checked to the boundary without waiting.
"""

from __future__ import annotations

import asyncio

import pytest

from lamina.store.base import Store
from lamina.store.events import AsyncEvent, EventQueueStats

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0


def event(
    rid: str,
    *,
    function: str = "f",
    next_at: float = T0,
    enqueued_at: float = T0,
    qualifier: str | None = None,
    payload: bytes | None = None,
    attempts: int = 0,
    last_error: str | None = None,
    claimed_until: float | None = None,
    lineage: int = 0,
) -> AsyncEvent:
    return AsyncEvent(
        request_id=rid,
        function=function,
        qualifier=qualifier,
        payload=f"payload of {rid}".encode() if payload is None else payload,
        enqueued_at=enqueued_at,
        attempts=attempts,
        next_at=next_at,
        claimed_until=claimed_until,
        last_error=last_error,
        lineage=lineage,
    )


async def ids_claimed(
    store: Store, *, now: float, limit: int = 10, function: str = "f"
) -> list[str]:
    claimed = await store.claim_events(function, now=now, claim_s=30, limit=limit)
    return [e.request_id for e in claimed]


async def test_enqueued_events_are_listed_by_request_id_with_every_field(store: Store) -> None:
    sent = [
        event(
            "r2", qualifier="live", payload=b"\x00\xff", attempts=1, last_error="Boom", lineage=7
        ),
        event("r1", next_at=T0 + 5, enqueued_at=T0 - 1),
        event("r3", function="other"),
    ]
    await store.enqueue_events(sent)

    assert await store.list_events("f", after="", limit=10) == [sent[1], sent[0]]
    assert await store.list_events("other", after="", limit=10) == [sent[2]]
    assert await store.list_events("none", after="", limit=10) == []


async def test_list_events_pages_after_a_request_id(store: Store) -> None:
    await store.enqueue_events([event(f"r{i}") for i in range(5)])

    first = await store.list_events("f", after="", limit=2)
    second = await store.list_events("f", after=first[-1].request_id, limit=2)
    third = await store.list_events("f", after=second[-1].request_id, limit=2)
    assert [[e.request_id for e in page] for page in (first, second, third)] == [
        ["r0", "r1"],
        ["r2", "r3"],
        ["r4"],
    ]


async def test_an_id_already_queued_is_left_as_it_is(store: Store) -> None:
    await store.enqueue_events([event("r1", payload=b"first")])
    await store.enqueue_events([event("r1", payload=b"second"), event("r1", function="other")])

    assert [e.payload for e in await store.list_events("f", after="", limit=10)] == [b"first"]
    assert await store.list_events("other", after="", limit=10) == []


async def test_an_enqueued_event_carries_no_claim(store: Store) -> None:
    await store.enqueue_events([event("r1", claimed_until=T0 + 1000)])

    assert (await store.list_events("f", after="", limit=1))[0].claimed_until is None
    assert await ids_claimed(store, now=T0) == ["r1"]


async def test_claim_takes_due_events_earliest_first_up_to_the_limit(store: Store) -> None:
    await store.enqueue_events(
        [
            event("late", next_at=T0 + 10),
            event("b", next_at=T0 - 5),
            event("a", next_at=T0 - 5),  # same time as "b": request id breaks the tie
            event("first", next_at=T0 - 9),
            event("now", next_at=T0),
            event("elsewhere", function="other", next_at=T0 - 100),
        ]
    )

    assert await ids_claimed(store, now=T0, limit=3) == ["first", "a", "b"]
    assert await ids_claimed(store, now=T0, limit=3) == ["now"]  # the rest are claimed
    assert await ids_claimed(store, now=T0) == []
    assert await ids_claimed(store, now=T0 + 10) == ["late"]
    assert await ids_claimed(store, now=T0, limit=0, function="other") == []


async def test_a_claim_records_its_end_and_leaves_the_attempts(store: Store) -> None:
    await store.enqueue_events([event("r1", attempts=2, last_error="Unhandled")])

    (claimed,) = await store.claim_events("f", now=T0 + 1, claim_s=900, limit=5)
    assert claimed.claimed_until == T0 + 901
    assert (claimed.attempts, claimed.last_error, claimed.payload) == (
        2,
        "Unhandled",
        b"payload of r1",
    )
    assert await store.list_events("f", after="", limit=1) == [claimed]


async def test_a_claim_holds_until_its_end_and_lapses_after(store: Store) -> None:
    """A poller that died never acks: once its claim ends the event is claimed again."""
    await store.enqueue_events([event("r1")])
    assert await ids_claimed(store, now=T0) == ["r1"]  # claimed until T0 + 30

    assert await ids_claimed(store, now=T0 + 29.9) == []
    assert await ids_claimed(store, now=T0 + 30) == []  # a claim ending now still holds
    again = await store.claim_events("f", now=T0 + 30.5, claim_s=30, limit=5)
    assert [(e.request_id, e.attempts, e.claimed_until) for e in again] == [("r1", 0, T0 + 60.5)]


async def test_an_extended_claim_holds_until_its_new_end(store: Store) -> None:
    """A live poller extends what it runs; unclaimed, unknown and acked events stay as they are."""
    await store.enqueue_events([event("r1"), event("r2"), event("r3", next_at=T0 + 100)])
    assert await ids_claimed(store, now=T0, limit=1) == ["r1"]  # until T0 + 30

    await store.extend_event_claims(["r1", "r3", "unknown"], until=T0 + 90)

    assert await ids_claimed(store, now=T0 + 60) == ["r2"]  # r1 still held, r3 not yet due
    listed = {
        e.request_id: e.claimed_until for e in await store.list_events("f", after="", limit=9)
    }
    assert listed == {"r1": T0 + 90, "r2": T0 + 90, "r3": None}
    assert await ids_claimed(store, now=T0 + 120) == ["r1", "r2", "r3"]


async def test_racing_pollers_never_claim_the_same_event(store: Store) -> None:
    await store.enqueue_events([event(f"r{i:02d}") for i in range(40)])

    batches = await asyncio.gather(*(ids_claimed(store, now=T0, limit=7) for _ in range(8)))

    every = [rid for batch in batches for rid in batch]
    assert sorted(every) == [f"r{i:02d}" for i in range(40)]


async def test_reset_voids_every_claim(store: Store) -> None:
    await store.enqueue_events([event("r1"), event("r2"), event("r3", function="g")])
    await ids_claimed(store, now=T0)
    await ids_claimed(store, now=T0, function="g")

    assert await store.reset_event_claims() == 3
    assert await store.reset_event_claims() == 0
    assert all(e.claimed_until is None for e in await store.list_events("f", after="", limit=9))
    assert await ids_claimed(store, now=T0) == ["r1", "r2"]


async def test_ack_removes_events_and_is_idempotent(store: Store) -> None:
    await store.enqueue_events([event("r1"), event("r2"), event("r3", function="g")])
    await ids_claimed(store, now=T0)

    await store.ack_events(["r1", "r3", "never-queued"])
    await store.ack_events(["r1"])
    assert [e.request_id for e in await store.list_events("f", after="", limit=9)] == ["r2"]
    assert await store.event_functions() == ["f"]

    await store.ack_events(["r2"])
    assert await store.event_functions() == []


async def test_reschedule_gives_the_event_back_for_a_later_attempt(store: Store) -> None:
    await store.enqueue_events([event("r1"), event("r2")])
    await ids_claimed(store, now=T0)

    await store.reschedule_event("r1", next_at=T0 + 60, attempts=1, last_error="Unhandled")
    await store.reschedule_event("never-queued", next_at=T0, attempts=1, last_error=None)

    (r1, r2) = await store.list_events("f", after="", limit=9)
    assert (r1.next_at, r1.attempts, r1.last_error, r1.claimed_until) == (
        T0 + 60,
        1,
        "Unhandled",
        None,
    )
    assert r2.claimed_until == T0 + 30  # the other claim is untouched
    await store.ack_events(["r2"])
    assert await ids_claimed(store, now=T0 + 59) == []
    assert await ids_claimed(store, now=T0 + 60) == ["r1"]


async def test_event_functions_names_each_function_with_events_once(store: Store) -> None:
    assert await store.event_functions() == []
    await store.enqueue_events([event("r1"), event("r2"), event("r3", function="g")])

    assert sorted(await store.event_functions()) == ["f", "g"]


async def test_event_stats_tell_ready_in_flight_and_delayed(store: Store) -> None:
    empty = EventQueueStats(depth=0, ready=0, in_flight=0, delayed=0, oldest_enqueued_at=None)
    assert await store.event_stats("f", now=T0) == empty

    await store.enqueue_events(
        [
            event("claimed", next_at=T0 - 50, enqueued_at=T0 - 50),
            event("ready", enqueued_at=T0 - 10),
            event("ready-too", next_at=T0 - 1, enqueued_at=T0 - 5),
            event("retry-later", next_at=T0 + 30, enqueued_at=T0 - 20),
            event("elsewhere", function="g", enqueued_at=T0 - 99),
        ]
    )
    await ids_claimed(store, now=T0 - 1, limit=1)  # "claimed", until T0 + 29

    assert await store.event_stats("f", now=T0) == EventQueueStats(
        depth=4, ready=2, in_flight=1, delayed=1, oldest_enqueued_at=T0 - 50
    )
    # Once the claim lapses, the claimed event counts as ready again.
    assert await store.event_stats("f", now=T0 + 29.5) == EventQueueStats(
        depth=4, ready=3, in_flight=0, delayed=1, oldest_enqueued_at=T0 - 50
    )


async def test_purge_removes_every_unclaimed_event_of_one_function(store: Store) -> None:
    await store.enqueue_events(
        [event("held"), event("r2"), event("r3", next_at=T0 + 60), event("g1", function="g")]
    )
    await ids_claimed(store, now=T0, limit=1)

    assert await store.purge_events("f") == 2
    assert await store.purge_events("f") == 0
    assert [e.request_id for e in await store.list_events("f", after="", limit=9)] == ["held"]
    assert len(await store.list_events("g", after="", limit=9)) == 1
