"""The store contract for SQS-style messages: receive, receipts, visibility, redrive, expiry."""

from __future__ import annotations

import asyncio
import re

import msgspec
import pytest

from lamina.store.base import Store
from lamina.store.queues import MessageCounts, NewMessage, Redrive, StoredMessage

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
T0_MS = int(T0 * 1000)
#: A retention long enough that nothing expires unless a test says so (SQS's 4 days).
KEEP_S = 345_600.0


def message(body: str, *, sent_at: int = T0_MS, delay_s: float = 0.0) -> NewMessage:
    return NewMessage(
        message_id=f"id-{body}",
        body=body,
        attributes=b'{"a": 1}',
        md5_of_body=f"md5-{body}",
        md5_of_attributes="md5-attrs",
        sent_at=sent_at,
        visible_at=sent_at / 1000 + delay_s,
    )


async def receive(
    store: Store,
    queue: str = "q",
    *,
    now: float = T0,
    hide_s: float = 30.0,
    limit: int = 10,
    retention_s: float = KEEP_S,
    redrive: Redrive | None = None,
) -> list[StoredMessage]:
    return await store.receive_messages(
        queue,
        now=now,
        hide_until=now + hide_s,
        limit=limit,
        retention_s=retention_s,
        redrive=redrive,
    )


def bodies(messages: list[StoredMessage]) -> list[str]:
    return [m.body for m in messages]


async def test_a_received_message_carries_what_was_sent_and_its_first_receipt(
    store: Store,
) -> None:
    await store.put_messages("q", [message("hello")])

    (got,) = await receive(store, now=T0 + 2)
    assert (got.message_id, got.body, got.attributes) == ("id-hello", "hello", b'{"a": 1}')
    assert (got.md5_of_body, got.md5_of_attributes, got.sent_at) == (
        "md5-hello",
        "md5-attrs",
        T0_MS,
    )
    assert (got.receive_count, got.first_receive_at, got.dead_letter_source) == (
        1,
        T0_MS + 2000,
        None,
    )
    assert got.receipt is not None and re.fullmatch("[0-9a-f]{24}", got.receipt)


async def test_messages_come_in_order_of_visibility_then_sending(store: Store) -> None:
    await store.put_messages("q", [message("a"), message("b"), message("delayed", delay_s=5)])
    await store.put_messages("q", [message("c", sent_at=T0_MS - 1000)])  # visible earliest
    await store.put_messages("other", [message("elsewhere")])

    assert bodies(await receive(store, limit=2)) == ["c", "a"]
    assert bodies(await receive(store)) == ["b"]
    assert bodies(await receive(store, now=T0 + 5)) == ["delayed"]
    assert await receive(store, now=T0 + 5) == []


async def test_sequence_numbers_are_unique_and_grow_across_queues(store: Store) -> None:
    await store.put_messages("q", [message("a"), message("b")])
    await store.put_messages("other", [message("c")])
    await store.put_messages("q", [message("d")])

    seqs = [m.seq for m in await receive(store)] + [m.seq for m in await receive(store, "other")]
    assert sorted(seqs) == sorted(set(seqs))
    by_body = {m.body: m.seq for m in await receive(store, now=T0 + 60)}
    assert by_body["a"] < by_body["b"] < by_body["d"]


async def test_a_received_message_is_hidden_until_its_visibility_timeout(store: Store) -> None:
    await store.put_messages("q", [message("m")])
    (first,) = await receive(store, hide_s=30)

    assert await receive(store, now=T0 + 29.9) == []
    (second,) = await receive(store, now=T0 + 30)
    assert second.seq == first.seq
    assert second.receive_count == 2
    assert second.first_receive_at == T0_MS  # the first receive's time is kept
    assert second.receipt != first.receipt


async def test_only_the_newest_receipt_deletes(store: Store) -> None:
    await store.put_messages("q", [message("m"), message("keep", delay_s=100)])
    (old,) = await receive(store, limit=1)
    (new,) = await receive(store, now=T0 + 30, limit=1)
    assert old.receipt is not None and new.receipt is not None

    await store.delete_messages("q", [(old.seq, old.receipt)])
    await store.delete_messages("other", [(new.seq, new.receipt)])  # wrong queue
    assert (await store.message_counts("q", now=T0 + 30)).not_visible == 1

    await store.delete_messages("q", [(new.seq, new.receipt), (new.seq, new.receipt)])
    assert bodies(await receive(store, now=T0 + 100)) == ["keep"]
    assert bodies(await receive(store, now=T0 + 200)) == ["keep"]


async def test_a_message_never_received_cannot_be_deleted_by_a_guess(store: Store) -> None:
    await store.put_messages("q", [message("m")])

    await store.delete_messages("q", [(1, ""), (1, "0" * 24)])
    assert bodies(await receive(store)) == ["m"]


async def test_change_visibility_moves_a_message_under_its_newest_receipt(store: Store) -> None:
    await store.put_messages("q", [message("m"), message("waiting")])
    (got,) = await receive(store, limit=1, hide_s=30)
    assert got.receipt is not None

    assert not await store.change_visibility("q", got.seq, "0" * 24, now=T0, visible_at=T0)
    assert not await store.change_visibility("other", got.seq, got.receipt, now=T0, visible_at=T0)
    assert await store.change_visibility("q", got.seq, got.receipt, now=T0 + 1, visible_at=T0 + 500)
    assert await receive(store, now=T0 + 499, limit=1) != []  # "waiting" only
    assert await receive(store, now=T0 + 499) == []
    # Made visible again (timeout 0), its newest receipt still moves it (SQS accepts a late
    # change), until it is received again
    assert await store.change_visibility("q", got.seq, got.receipt, now=T0 + 2, visible_at=T0 + 2)
    assert await store.change_visibility("q", got.seq, got.receipt, now=T0 + 3, visible_at=T0 + 3)
    (again,) = await receive(store, now=T0 + 3)
    assert (again.body, again.receive_count) == ("m", 2)
    assert not await store.change_visibility(
        "q", got.seq, got.receipt, now=T0 + 4, visible_at=T0 + 900
    )


async def test_visibility_changes_reorder_what_comes_next(store: Store) -> None:
    await store.put_messages("q", [message("a"), message("b"), message("c")])
    a, _, c = await receive(store, hide_s=30)
    assert a.receipt is not None and c.receipt is not None

    assert await store.change_visibility("q", c.seq, c.receipt, now=T0, visible_at=T0 + 1)
    assert await store.change_visibility("q", a.seq, a.receipt, now=T0, visible_at=T0 + 2)
    assert bodies(await receive(store, now=T0 + 2, hide_s=100)) == ["c", "a"]
    assert bodies(await receive(store, now=T0 + 30, hide_s=100)) == ["b"]


async def test_a_receive_hiding_for_no_time_leaves_the_message_visible(store: Store) -> None:
    await store.put_messages("q", [message("m")])

    first = await receive(store, hide_s=0)
    again = await receive(store, hide_s=0)
    assert [m.receive_count for m in first + again] == [1, 2]
    assert await store.message_counts("q", now=T0) == MessageCounts(
        visible=1, not_visible=0, delayed=0
    )


async def test_next_visible_at_names_the_soonest_hidden_or_delayed_message(store: Store) -> None:
    assert await store.next_visible_at("q", now=T0) is None
    await store.put_messages("q", [message("now"), message("later", delay_s=40)])
    assert await store.next_visible_at("q", now=T0) == T0 + 40

    await receive(store, hide_s=10)
    assert await store.next_visible_at("q", now=T0) == T0 + 10
    assert await store.next_visible_at("q", now=T0 + 10) == T0 + 40
    assert await store.next_visible_at("q", now=T0 + 40) is None


async def test_counts_tell_visible_in_flight_and_delayed(store: Store) -> None:
    assert await store.message_counts("q", now=T0) == MessageCounts(
        visible=0, not_visible=0, delayed=0
    )
    await store.put_messages(
        "q", [message("a"), message("b"), message("c"), message("d", delay_s=60)]
    )
    await store.put_messages("other", [message("x")])
    await receive(store, limit=1, hide_s=30)

    assert await store.message_counts("q", now=T0) == MessageCounts(
        visible=2, not_visible=1, delayed=1
    )
    assert await store.message_counts("q", now=T0 + 60) == MessageCounts(
        visible=4, not_visible=0, delayed=0
    )


async def test_messages_past_retention_are_skipped_then_expired(store: Store) -> None:
    await store.put_messages(
        "q", [message("old", sent_at=T0_MS - 100_000), message("new", sent_at=T0_MS)]
    )

    assert bodies(await receive(store, retention_s=60)) == ["new"]
    assert await store.expire_messages("q", sent_before=T0_MS - 60_000) == 1
    assert await store.expire_messages("q", sent_before=T0_MS - 60_000) == 0
    assert await store.expire_messages("q", sent_before=T0_MS) == 0  # strictly before
    assert (await store.message_counts("q", now=T0)).visible == 0  # "new" is in flight
    assert bodies(await receive(store, now=T0 + 30)) == ["new"]


async def test_a_message_received_too_often_moves_to_the_dead_letter_queue(store: Store) -> None:
    redrive = Redrive(target="dlq", max_receives=2)
    await store.put_messages("q", [message("poison"), message("fine", delay_s=25)])
    assert bodies(await receive(store, hide_s=10, redrive=redrive)) == ["poison"]
    assert bodies(await receive(store, now=T0 + 10, hide_s=10, redrive=redrive)) == ["poison"]

    # At T0 + 30 "poison" (visible since T0 + 20) comes first: the receive moves it and still
    # fills its limit from what follows.
    got = await receive(store, now=T0 + 30, limit=1, redrive=redrive)
    assert bodies(got) == ["fine"]
    assert await store.message_counts("q", now=T0 + 30) == MessageCounts(
        visible=0, not_visible=1, delayed=0
    )

    (moved,) = await receive(store, "dlq", now=T0 + 30)
    # The receive count and first receive carry over, as on SQS (2 there + 1 here)
    assert (moved.body, moved.receive_count, moved.dead_letter_source) == ("poison", 3, "q")
    assert moved.first_receive_at == T0_MS
    assert moved.sent_at == T0_MS


async def test_a_receive_with_nothing_left_after_redrive_returns_empty(store: Store) -> None:
    redrive = Redrive(target="dlq", max_receives=1)
    await store.put_messages("q", [message("a"), message("b")])
    await receive(store, redrive=redrive)

    assert await receive(store, now=T0 + 30, redrive=redrive) == []
    assert bodies(await receive(store, "dlq", now=T0 + 30)) == ["a", "b"]


async def test_racing_receivers_never_get_the_same_message(store: Store) -> None:
    await store.put_messages("q", [message(f"m{i:02d}") for i in range(40)])

    batches = await asyncio.gather(*(receive(store, limit=6) for _ in range(9)))

    every = [body for batch in batches for body in bodies(batch)]
    assert sorted(every) == [f"m{i:02d}" for i in range(40)]
    receipts = [m.receipt for batch in batches for m in batch]
    assert len(set(receipts)) == 40


async def test_purge_deletes_every_message_of_one_queue(store: Store) -> None:
    await store.put_messages("q", [message("a"), message("b", delay_s=9)])
    await store.put_messages("other", [message("c")])
    await receive(store, limit=1)

    assert await store.purge_messages("q") == 2
    assert await store.purge_messages("q") == 0
    assert await store.message_counts("q", now=T0 + 60) == MessageCounts(
        visible=0, not_visible=0, delayed=0
    )
    assert bodies(await receive(store, "other")) == ["c"]


def fifo_message(
    body: str, group: str, key: str | None = None, *, sent_at: int = T0_MS
) -> NewMessage:
    return msgspec.structs.replace(
        message(body, sent_at=sent_at),
        group_id=group,
        dedup_id=key or body,
        dedup_key=key or body,
        trace_header=f"Root={body}",
    )


async def test_fifo_receives_stop_at_a_groups_first_message_in_flight(store: Store) -> None:
    await store.put_messages(
        "f", [fifo_message(b, g) for b, g in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("a3", "a")]]
    )
    first = await store.receive_messages(
        "f", now=T0, hide_until=T0 + 30, limit=1, retention_s=KEEP_S, redrive=None, fifo=True
    )
    assert bodies(first) == ["a1"]
    assert (first[0].group_id, first[0].dedup_id, first[0].trace_header) == ("a", "a1", "Root=a1")
    rest = await store.receive_messages(
        "f", now=T0, hide_until=T0 + 30, limit=10, retention_s=KEEP_S, redrive=None, fifo=True
    )
    assert bodies(rest) == ["b1"]  # a2 and a3 wait behind a1
    assert await store.change_visibility(
        "f", first[0].seq, first[0].receipt or "", now=T0, visible_at=T0
    )
    again = await store.receive_messages(
        "f", now=T0 + 1, hide_until=T0 + 30, limit=10, retention_s=KEEP_S, redrive=None, fifo=True
    )
    assert bodies(again) == ["a1", "a2", "a3"]


async def test_a_deduplication_key_names_the_first_message_for_five_minutes(store: Store) -> None:
    first = await store.put_messages("f", [fifo_message("x", "g", "k"), fifo_message("y", "g")])
    same = await store.put_messages("f", [fifo_message("x2", "g", "k", sent_at=T0_MS + 299_000)])
    later = await store.put_messages("f", [fifo_message("x3", "g", "k", sent_at=T0_MS + 300_000)])
    plain = await store.put_messages("q", [message("p"), message("p")])

    assert same == [first[0]] and later[0] != first[0] and first[0].seq < first[1].seq
    assert later[0].message_id == "id-x3"
    assert len({s.seq for s in plain}) == 2  # no key: every message is stored
    got = await store.receive_messages(
        "f",
        now=T0 + 400,
        hide_until=T0 + 430,
        limit=10,
        retention_s=KEEP_S,
        redrive=None,
        fifo=True,
    )
    assert bodies(got) == ["x", "y", "x3"]


async def test_a_fifo_delete_after_the_visibility_timeout_deletes_nothing(store: Store) -> None:
    await store.put_messages("f", [fifo_message("m", "g")])
    (got,) = await store.receive_messages(
        "f", now=T0, hide_until=T0 + 30, limit=1, retention_s=KEEP_S, redrive=None, fifo=True
    )
    handle = (got.seq, got.receipt or "")
    assert await store.delete_messages("f", [handle], in_flight_at=T0 + 31) == [handle]
    assert await store.delete_messages("f", [(got.seq, "0" * 24)], in_flight_at=T0 + 31) == []
    assert await store.delete_messages("f", [handle], in_flight_at=T0 + 29) == []
    assert await store.message_counts("f", now=T0 + 31) == MessageCounts(
        visible=0, not_visible=0, delayed=0
    )
