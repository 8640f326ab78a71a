"""The store contract for logs: append with ids in commit order, filtered reads, trimming."""

from __future__ import annotations

import pytest

from lamina.store.base import LogEvent, Store

pytestmark = pytest.mark.anyio


def log_events(group: str, n: int, *, stream: str = "s1", start: int = 1000) -> list[LogEvent]:
    return [
        LogEvent(group, stream, start + i, f"line {i}", ingestion_ms=start + i) for i in range(n)
    ]


async def test_logs_are_read_back_in_order_with_increasing_ids(store: Store) -> None:
    await store.append_logs(log_events("/aws/lambda/f", 5))
    await store.append_logs(log_events("/aws/lambda/other", 3))
    await store.append_logs(log_events("/aws/lambda/f", 2, start=2000))

    got = await store.read_logs("/aws/lambda/f")
    assert [e.message for e in got] == [*(f"line {i}" for i in range(5)), "line 0", "line 1"]
    ids = [e.event_id for e in got]
    assert ids == sorted(ids) and len(set(ids)) == 7
    assert {e.group for e in got} == {"/aws/lambda/f"}


async def test_a_log_event_keeps_every_field_but_its_id(store: Store) -> None:
    sent = LogEvent("g", "2026/01/01/[$LATEST]abc", 1234, "héllo\n\ttab", 999, 5678)
    await store.append_logs([sent])

    (got,) = await store.read_logs("g")
    assert (got.group, got.stream, got.timestamp_ms, got.message, got.ingestion_ms) == (
        "g",
        "2026/01/01/[$LATEST]abc",
        1234,
        "héllo\n\ttab",
        5678,
    )
    assert got.event_id > 0  # assigned by the store, not taken from the caller


async def test_read_logs_filters_by_stream_time_id_and_limit(store: Store) -> None:
    await store.append_logs(log_events("g", 4, stream="2026/01/01/[$LATEST]aaa"))
    await store.append_logs(log_events("g", 4, stream="2026/01/01/[1]bbb", start=5000))
    all_ = await store.read_logs("g")

    by_stream = await store.read_logs("g", stream_prefix="2026/01/01/[1]")
    assert [e.stream for e in by_stream] == ["2026/01/01/[1]bbb"] * 4
    by_time = await store.read_logs("g", start_ms=1001, end_ms=1002)
    assert [e.message for e in by_time] == ["line 1", "line 2"]
    after = await store.read_logs("g", after_id=all_[5].event_id)
    assert [e.message for e in after] == ["line 2", "line 3"]
    limited = await store.read_logs("g", limit=3)
    assert [e.message for e in limited] == ["line 0", "line 1", "line 2"]
    assert await store.read_logs("g", stream_prefix="2026/01/01/[%") == []  # literal prefix


async def test_a_page_resumes_after_the_last_id_it_saw(store: Store) -> None:
    await store.append_logs(log_events("g", 7))
    pages: list[list[str]] = []
    after = 0
    while page := await store.read_logs("g", after_id=after, limit=3):
        pages.append([e.message for e in page])
        after = page[-1].event_id

    assert pages == [["line 0", "line 1", "line 2"], ["line 3", "line 4", "line 5"], ["line 6"]]


async def test_trim_logs_keeps_only_the_newest(store: Store) -> None:
    await store.append_logs(log_events("g", 10))
    await store.append_logs(log_events("other", 3))

    removed = await store.trim_logs("g", keep=4)
    again = await store.trim_logs("g", keep=4)
    assert (removed, again) == (6, 0)
    assert [e.message for e in await store.read_logs("g")] == [
        "line 6",
        "line 7",
        "line 8",
        "line 9",
    ]
    assert len(await store.read_logs("other")) == 3
    assert await store.trim_logs("never-written", keep=1) == 0


async def test_ids_are_never_reused_after_a_trim(store: Store) -> None:
    await store.append_logs(log_events("g", 3))
    newest = (await store.read_logs("g"))[-1].event_id

    assert await store.trim_logs("g", keep=0) == 3
    assert await store.read_logs("g") == []
    await store.append_logs(log_events("g", 1))
    assert (await store.read_logs("g"))[0].event_id > newest


async def test_groups_and_streams_are_listed_by_name_with_their_times(store: Store) -> None:
    assert await store.log_groups() == []
    await store.append_logs(log_events("/aws/lambda/b", 2, stream="s2", start=3000))
    await store.append_logs(log_events("/aws/lambda/a", 3, stream="s9", start=1000))
    await store.append_logs(log_events("/aws/lambda/a", 2, stream="s1", start=2000))

    groups = await store.log_groups()
    assert [(g.name, g.created_ms, g.stored_bytes) for g in groups] == [
        ("/aws/lambda/a", 1000, 5 * len("line 0")),
        ("/aws/lambda/b", 3000, 2 * len("line 0")),
    ]
    streams = await store.log_streams("/aws/lambda/a")
    assert [(s.name, s.first_event_ms, s.last_event_ms, s.last_ingestion_ms) for s in streams] == [
        ("s1", 2000, 2001, 2001),
        ("s9", 1000, 1002, 1002),
    ]
    assert await store.log_streams("/aws/lambda/none") == []


async def test_read_logs_newest_reads_backwards_and_returns_oldest_first(store: Store) -> None:
    await store.append_logs(log_events("g", 6, stream="a"))
    await store.append_logs(log_events("g", 2, stream="b", start=5000))
    every = await store.read_logs("g")

    newest = await store.read_logs_newest("g", stream_prefix="a", limit=4)
    assert [e.message for e in newest] == ["line 2", "line 3", "line 4", "line 5"]
    before = await store.read_logs_newest("g", stream_prefix="a", before_id=newest[0].event_id)
    assert [e.message for e in before] == ["line 0", "line 1"]
    by_time = await store.read_logs_newest("g", start_ms=1004, end_ms=5000)
    assert [(e.stream, e.message) for e in by_time] == [
        ("a", "line 4"),
        ("a", "line 5"),
        ("b", "line 0"),
    ]
    assert await store.read_logs_newest("g", before_id=every[0].event_id) == []


async def test_a_trim_keeps_the_listed_group_sizes_and_drops_an_emptied_group(
    store: Store,
) -> None:
    await store.append_logs(log_events("a", 4))
    await store.append_logs(log_events("b", 1))
    assert await store.trim_logs("a", 1) == 3
    assert [(g.name, g.stored_bytes) for g in await store.log_groups()] == [
        ("a", len("line 3")),
        ("b", len("line 0")),
    ]
    assert await store.trim_log_bytes("b", 0) == 1
    assert [g.name for g in await store.log_groups()] == ["a"]
    assert "b" not in (await store.usage()).logs
