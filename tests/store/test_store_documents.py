"""The store contract for documents: get, scan and atomic conditional transactions."""

from __future__ import annotations

import asyncio

import pytest

from lamina.store.base import Delete, Expect, LogEvent, Put, Store

pytestmark = pytest.mark.anyio


async def test_put_then_get_and_delete(store: Store) -> None:
    assert await store.transact([Put("k", "a", b"1")])
    first = await store.get("k", "a")
    assert await store.transact([Put("k", "a", b"2")])
    second = await store.get("k", "a")
    assert await store.transact([Delete("k", "a"), Delete("k", "never-there")])

    assert (first, second, await store.get("k", "a")) == (b"1", b"2", None)


async def test_a_missing_document_reads_as_none_and_an_empty_kind_scans_empty(
    store: Store,
) -> None:
    assert await store.get("nothing", "here") is None
    assert await store.scan("nothing") == []


async def test_kinds_are_separate_namespaces(store: Store) -> None:
    await store.transact([Put("a", "key", b"in a"), Put("b", "key", b"in b")])
    await store.transact([Delete("a", "key")])

    assert await store.get("a", "key") is None
    assert await store.get("b", "key") == b"in b"


async def test_transact_applies_everything_when_every_expectation_holds(store: Store) -> None:
    await store.transact([Put("k", "a", b"old"), Put("k", "gone", b"x")])
    ok = await store.transact(
        [
            Expect("k", "a", b"old"),
            Expect("k", "absent", None),
            Put("k", "a", b"new"),
            Put("k", "b", b"added"),
            Delete("k", "gone"),
        ]
    )

    assert ok is True
    assert await store.scan("k") == [("a", b"new"), ("b", b"added")]


@pytest.mark.parametrize(
    "expect",
    [Expect("k", "a", b"stale"), Expect("k", "a", None), Expect("k", "absent", b"something")],
    ids=["wrong-value", "expected-absent", "expected-present"],
)
async def test_transact_writes_nothing_when_an_expectation_fails(
    store: Store, expect: Expect
) -> None:
    await store.transact([Put("k", "a", b"current")])
    ok = await store.transact(
        [Put("k", "b", b"written-first"), expect, Delete("k", "a"), Put("k", "c", b"c")]
    )

    assert (ok, await store.scan("k")) == (False, [("a", b"current")])


async def test_expectations_see_the_state_before_the_transaction(store: Store) -> None:
    """An Expect is checked against what was committed, not against the transaction's own Puts."""
    assert not await store.transact([Put("k", "a", b"1"), Expect("k", "a", b"1")])
    assert await store.get("k", "a") is None
    assert await store.transact([Put("k", "a", b"1"), Expect("k", "a", None)])
    assert await store.get("k", "a") == b"1"


async def test_writes_in_one_transaction_apply_in_order(store: Store) -> None:
    assert await store.transact([Put("k", "a", b"1"), Put("k", "a", b"2")])
    assert await store.transact([Put("k", "b", b"1"), Delete("k", "b")])
    assert await store.transact([Delete("k", "c"), Put("k", "c", b"back")])
    assert await store.transact([])

    assert await store.scan("k") == [("a", b"2"), ("c", b"back")]


async def test_expect_absent_lets_exactly_one_of_many_racing_creates_win(store: Store) -> None:
    results = await asyncio.gather(
        *(
            store.transact([Expect("f", "x", None), Put("f", "x", str(i).encode())])
            for i in range(30)
        )
    )

    assert list(results).count(True) == 1
    assert await store.get("f", "x") == str(list(results).index(True)).encode()


async def test_compare_and_swap_rounds_lose_no_update(store: Store) -> None:
    """Twenty writers that each read, then write on the condition nothing changed, all land."""
    await store.transact([Put("counter", "n", b"0")])

    async def increment() -> None:
        while True:
            raw = await store.get("counter", "n")
            assert raw is not None
            bumped = str(int(raw) + 1).encode()
            if await store.transact([Expect("counter", "n", raw), Put("counter", "n", bumped)]):
                return

    await asyncio.gather(*(increment() for _ in range(20)))
    assert await store.get("counter", "n") == b"20"


async def test_scan_returns_a_kind_by_prefix_in_key_order(store: Store) -> None:
    keys = ["f/0000000010", "f/$LATEST", "f/0000000002", "fg/1", "g/1", "f-2/1", "F/1"]
    await store.transact([Put("v", k, k.encode()) for k in keys])
    await store.transact([Put("other", "f/x", b"")])

    every = [k for k, _ in await store.scan("v")]
    assert every == sorted(every)
    assert [k for k, _ in await store.scan("v", "f/")] == [
        "f/$LATEST",
        "f/0000000002",
        "f/0000000010",
    ]
    assert await store.scan("v", "%") == []  # the prefix is literal, not a LIKE pattern
    assert await store.scan("v", "f_") == []


async def test_keys_sort_by_code_point_beyond_ascii(store: Store) -> None:
    keys = ["é", "z", "a", "日本", "Z", "\U0001f600"]
    await store.transact([Put("u", k, b"") for k in keys])

    assert [k for k, _ in await store.scan("u")] == sorted(keys)
    assert [k for k, _ in await store.scan("u", "日")] == ["日本"]


async def test_values_are_returned_as_the_exact_bytes_written(store: Store) -> None:
    value = bytes(range(256)) * 10
    await store.transact([Put("k", "bin", value), Put("k", "empty", b"")])

    assert await store.get("k", "bin") == value
    assert await store.get("k", "empty") == b""


async def test_concurrent_writes_are_all_committed(store: Store) -> None:
    writes = [store.transact([Put("k", f"key-{i:04d}", str(i).encode())]) for i in range(1000)]
    logs = [store.append_logs([LogEvent("g", "s1", i, "line", ingestion_ms=i)]) for i in range(200)]
    await asyncio.gather(*writes, *logs)

    assert len(await store.scan("k")) == 1000
    assert len(await store.read_logs("g", limit=10_000)) == 200
