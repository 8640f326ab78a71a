"""The store contract for the storage lifecycle: byte-bounded log trims, usage, space reclaim."""

from __future__ import annotations

import hashlib

import pytest

from lamina.store.base import LOG_EVENT_OVERHEAD, LogEvent, Store, log_event_bytes
from lamina.store.events import AsyncEvent
from lamina.store.queues import NewMessage

pytestmark = pytest.mark.anyio


def lines(group: str, sizes: list[int], start: int = 0) -> list[LogEvent]:
    return [LogEvent(group, "s", start + i, "x" * n) for i, n in enumerate(sizes)]


async def test_a_byte_trim_keeps_the_newest_events_that_fit(store: Store) -> None:
    await store.append_logs(lines("g", [100] * 10))
    per_event = 100 + LOG_EVENT_OVERHEAD
    removed = await store.trim_log_bytes("g", 3 * per_event + 5)
    assert removed == 7
    kept = await store.read_logs("g")
    assert [e.timestamp_ms for e in kept] == [7, 8, 9]
    assert await store.trim_log_bytes("g", 3 * per_event) == 0
    assert await store.trim_log_bytes("g", 0) == 3
    assert await store.read_logs("g") == []


async def test_a_byte_trim_of_one_group_leaves_the_others(store: Store) -> None:
    await store.append_logs(lines("a", [50] * 4))
    await store.append_logs(lines("b", [50] * 4))
    assert await store.trim_log_bytes("a", 0) == 4
    assert len(await store.read_logs("b")) == 4


async def test_a_node_wide_byte_trim_removes_the_oldest_events_of_any_group(store: Store) -> None:
    await store.append_logs(lines("a", [1000, 1000]))
    await store.append_logs(lines("b", [10, 10], start=100))
    await store.append_logs(lines("a", [10], start=200))
    removed = await store.trim_log_bytes(None, 3 * (10 + LOG_EVENT_OVERHEAD) + 999)
    assert removed == 2
    assert [e.timestamp_ms for e in await store.read_logs("a")] == [200]
    assert len(await store.read_logs("b")) == 2


async def test_usage_counts_bytes_by_kind(store: Store) -> None:
    blob = b"zip bytes"
    digest = hashlib.sha256(blob).hexdigest()
    await store.put_blob(digest, blob)
    await store.append_logs([*lines("g", [10, 20]), LogEvent("h", "s", 1, "é")])
    await store.enqueue_events(
        [
            AsyncEvent(
                request_id="r1", function="f", qualifier=None, payload=b"12345", enqueued_at=1.0
            )
        ]
    )
    await store.put_messages(
        "q",
        [
            NewMessage(
                message_id="m",
                body="héllo",
                attributes=b"abc",
                md5_of_body="x",
                md5_of_attributes=None,
                sent_at=1,
                visible_at=1.0,
            )
        ],
    )

    used = await store.usage()
    assert used.blobs == {digest: len(blob)}
    assert used.logs == {"g": 30 + 2 * LOG_EVENT_OVERHEAD, "h": log_event_bytes("é")}
    assert used.events == {"f": 5}
    assert used.queues == {"q": len("héllo".encode()) + 3}

    await store.delete_blob(digest)
    await store.trim_logs("g", 0)
    assert (await store.usage()).blobs == {}
    assert "g" not in (await store.usage()).logs


async def test_reclaiming_space_ends_with_nothing_left_to_reclaim(store: Store) -> None:
    await store.append_logs(lines("g", [2000] * 500))
    await store.trim_log_bytes("g", 0)
    left = await store.reclaim_space(256 * 1024)
    for _ in range(100):
        if left == 0:
            break
        left = await store.reclaim_space(256 * 1024)
    assert left == 0
