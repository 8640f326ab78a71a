"""The SQLite store on its own: documents, transactions, blobs, logs, schema, concurrency."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from lamina.errors import StoreError
from lamina.store.base import Delete, Expect, LogEvent, Put
from lamina.store.sqlite import DB_FILE, SqliteStore
from lamina.store.sqlite_schema import MIGRATIONS, migrate

T = TypeVar("T")


def with_store(path: Path, work: Callable[[SqliteStore], Awaitable[T]]) -> T:
    """Open a store at `path`, run `work` on it, close it; return what `work` returned."""

    async def main() -> T:
        store = SqliteStore(path)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


# -- Documents and transactions ---------------------------------------------------------------
def test_put_then_get_and_delete(tmp_path: Path) -> None:
    async def work(s: SqliteStore) -> tuple[bytes | None, bytes | None, bytes | None]:
        assert await s.transact([Put("k", "a", b"1")])
        first = await s.get("k", "a")
        assert await s.transact([Put("k", "a", b"2")])
        second = await s.get("k", "a")
        assert await s.transact([Delete("k", "a"), Delete("k", "never-there")])
        return first, second, await s.get("k", "a")

    assert with_store(tmp_path, work) == (b"1", b"2", None)


def test_transact_applies_everything_when_every_expectation_holds(tmp_path: Path) -> None:
    async def work(s: SqliteStore) -> list[tuple[str, bytes]]:
        await s.transact([Put("k", "a", b"old"), Put("k", "gone", b"x")])
        ok = await s.transact(
            [
                Expect("k", "a", b"old"),
                Expect("k", "absent", None),
                Put("k", "a", b"new"),
                Put("k", "b", b"added"),
                Delete("k", "gone"),
            ]
        )
        assert ok is True
        return await s.scan("k")

    assert with_store(tmp_path, work) == [("a", b"new"), ("b", b"added")]


@pytest.mark.parametrize(
    "expect",
    [Expect("k", "a", b"stale"), Expect("k", "a", None), Expect("k", "absent", b"something")],
    ids=["wrong-value", "expected-absent", "expected-present"],
)
def test_transact_writes_nothing_when_an_expectation_fails(tmp_path: Path, expect: Expect) -> None:
    async def work(s: SqliteStore) -> tuple[bool, list[tuple[str, bytes]]]:
        await s.transact([Put("k", "a", b"current")])
        ok = await s.transact(
            [Put("k", "b", b"written-first"), expect, Delete("k", "a"), Put("k", "c", b"c")]
        )
        return ok, await s.scan("k")

    assert with_store(tmp_path, work) == (False, [("a", b"current")])


def test_expect_absent_lets_exactly_one_of_many_racing_creates_win(tmp_path: Path) -> None:
    async def work(s: SqliteStore) -> tuple[list[bool], bytes | None]:
        results = await asyncio.gather(
            *(
                s.transact([Expect("f", "x", None), Put("f", "x", str(i).encode())])
                for i in range(30)
            )
        )
        return list(results), await s.get("f", "x")

    results, value = with_store(tmp_path, work)
    assert results.count(True) == 1
    assert value == str(results.index(True)).encode()


def test_scan_returns_a_kind_by_prefix_in_key_order(tmp_path: Path) -> None:
    async def work(s: SqliteStore) -> tuple[list[str], list[str], list[str], list[str]]:
        keys = ["f/0000000010", "f/$LATEST", "f/0000000002", "fg/1", "g/1", "f-2/1", "F/1"]
        await s.transact([Put("v", k, k.encode()) for k in keys])
        await s.transact([Put("other", "f/x", b"")])
        every = [k for k, _ in await s.scan("v")]
        under_f = [k for k, _ in await s.scan("v", "f/")]
        under_percent = [k for k, _ in await s.scan("v", "%")]
        underscore = [k for k, _ in await s.scan("v", "f_")]
        return every, under_f, under_percent, underscore

    every, under_f, under_percent, underscore = with_store(tmp_path, work)
    assert every == sorted(every)
    assert under_f == ["f/$LATEST", "f/0000000002", "f/0000000010"]
    assert under_percent == []  # the prefix is literal, not a LIKE pattern
    assert underscore == []


def test_values_are_returned_as_the_exact_bytes_written(tmp_path: Path) -> None:
    value = bytes(range(256)) * 10

    async def work(s: SqliteStore) -> bytes | None:
        await s.transact([Put("k", "bin", value)])
        return await s.get("k", "bin")

    assert with_store(tmp_path, work) == value


# -- Blobs ------------------------------------------------------------------------------------
def test_blob_round_trips_and_is_idempotent(tmp_path: Path) -> None:
    data = b"zip bytes" * 1000
    digest = hashlib.sha256(data).hexdigest()

    async def work(s: SqliteStore) -> tuple[bytes | None, bytes | None]:
        await s.put_blob(digest, data)
        await s.put_blob(digest, data)
        got = await s.get_blob(digest)
        await s.delete_blob(digest)
        await s.delete_blob(digest)
        return got, await s.get_blob(digest)

    assert with_store(tmp_path, work) == (data, None)
    assert not [p for p in (tmp_path / "blobs").iterdir() if ".tmp" in p.name]


def test_blob_with_a_wrong_digest_is_refused(tmp_path: Path) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()

    async def work(s: SqliteStore) -> bytes | None:
        with pytest.raises(StoreError, match="digest mismatch"):
            await s.put_blob(wrong, b"data")
        return await s.get_blob(wrong)

    assert with_store(tmp_path, work) is None


@pytest.mark.parametrize("digest", ["../../etc/passwd", "ABC", "g" * 64, "0" * 63])
def test_blob_keys_must_be_hex_sha256(tmp_path: Path, digest: str) -> None:
    async def work(s: SqliteStore) -> None:
        with pytest.raises(StoreError):
            await s.get_blob(digest)
        with pytest.raises(StoreError):
            await s.put_blob(digest, b"x")

    with_store(tmp_path, work)


def test_blobs_and_documents_survive_a_reopen(tmp_path: Path) -> None:
    data = b"persist me"
    digest = hashlib.sha256(data).hexdigest()

    async def write(s: SqliteStore) -> None:
        await s.put_blob(digest, data)
        await s.transact([Put("k", "a", b"1")])

    async def read(s: SqliteStore) -> tuple[bytes | None, bytes | None]:
        return await s.get_blob(digest), await s.get("k", "a")

    with_store(tmp_path, write)
    assert with_store(tmp_path, read) == (data, b"1")


# -- Logs -------------------------------------------------------------------------------------
def log_events(group: str, n: int, *, stream: str = "s1", start: int = 1000) -> list[LogEvent]:
    return [
        LogEvent(group, stream, start + i, f"line {i}", ingestion_ms=start + i) for i in range(n)
    ]


def test_logs_are_read_back_in_order_with_increasing_ids(tmp_path: Path) -> None:
    async def work(s: SqliteStore) -> list[LogEvent]:
        await s.append_logs(log_events("/aws/lambda/f", 5))
        await s.append_logs(log_events("/aws/lambda/other", 3))
        await s.append_logs(log_events("/aws/lambda/f", 2, start=2000))
        return await s.read_logs("/aws/lambda/f")

    got = with_store(tmp_path, work)
    assert [e.message for e in got] == [*(f"line {i}" for i in range(5)), "line 0", "line 1"]
    ids = [e.event_id for e in got]
    assert ids == sorted(ids) and len(set(ids)) == 7
    assert {e.group for e in got} == {"/aws/lambda/f"}


def test_read_logs_filters_by_stream_time_id_and_limit(tmp_path: Path) -> None:
    async def work(s: SqliteStore) -> dict[str, list[str]]:
        await s.append_logs(log_events("g", 4, stream="2026/01/01/[$LATEST]aaa"))
        await s.append_logs(log_events("g", 4, stream="2026/01/01/[1]bbb", start=5000))
        all_ = await s.read_logs("g")
        return {
            "stream": [e.stream for e in await s.read_logs("g", stream_prefix="2026/01/01/[1]")],
            "time": [e.message for e in await s.read_logs("g", start_ms=1001, end_ms=1002)],
            "after": [e.message for e in await s.read_logs("g", after_id=all_[5].event_id)],
            "limit": [e.message for e in await s.read_logs("g", limit=3)],
        }

    got = with_store(tmp_path, work)
    assert got["stream"] == ["2026/01/01/[1]bbb"] * 4
    assert got["time"] == ["line 1", "line 2"]
    assert got["after"] == ["line 2", "line 3"]
    assert got["limit"] == ["line 0", "line 1", "line 2"]


def test_trim_logs_keeps_only_the_newest(tmp_path: Path) -> None:
    async def work(s: SqliteStore) -> tuple[int, int, list[str], int]:
        await s.append_logs(log_events("g", 10))
        await s.append_logs(log_events("other", 3))
        removed = await s.trim_logs("g", keep=4)
        again = await s.trim_logs("g", keep=4)
        kept = [e.message for e in await s.read_logs("g")]
        return removed, again, kept, len(await s.read_logs("other"))

    removed, again, kept, other = with_store(tmp_path, work)
    assert (removed, again) == (6, 0)
    assert kept == ["line 6", "line 7", "line 8", "line 9"]
    assert other == 3


# -- Schema -----------------------------------------------------------------------------------
def test_migrations_run_once_and_reopening_is_idempotent(tmp_path: Path) -> None:
    async def write(s: SqliteStore) -> None:
        await s.transact([Put("k", "a", b"1")])

    async def read(s: SqliteStore) -> bytes | None:
        return await s.get("k", "a")

    with_store(tmp_path, write)
    with_store(tmp_path, read)
    assert with_store(tmp_path, read) == b"1"

    conn = sqlite3.connect(tmp_path / DB_FILE)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        assert version == len(MIGRATIONS)
        migrate(conn)  # running the migrations again changes nothing
        (again,) = conn.execute("PRAGMA user_version").fetchone()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert again == version
    assert {"docs", "logs", "events"} <= tables


def test_a_database_newer_than_this_lamina_is_refused(tmp_path: Path) -> None:
    with_store(tmp_path, lambda s: s.get("k", "a"))
    conn = sqlite3.connect(tmp_path / DB_FILE)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()

    with pytest.raises(StoreError, match="newer than this Lamina"):
        with_store(tmp_path, lambda s: s.get("k", "a"))


def test_the_database_uses_wal_mode(tmp_path: Path) -> None:
    with_store(tmp_path, lambda s: s.get("k", "a"))

    conn = sqlite3.connect(tmp_path / DB_FILE)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


# -- Concurrency and group commit -------------------------------------------------------------
def test_concurrent_writes_are_all_committed(tmp_path: Path) -> None:
    async def work(s: SqliteStore) -> tuple[int, int]:
        writes = [s.transact([Put("k", f"key-{i:04d}", str(i).encode())]) for i in range(1000)]
        logs = [s.append_logs(log_events("g", 1, start=i)) for i in range(200)]
        await asyncio.gather(*writes, *logs)
        return len(await s.scan("k")), len(await s.read_logs("g", limit=10_000))

    assert with_store(tmp_path, work) == (1000, 200)

    async def reread(s: SqliteStore) -> int:
        return len(await s.scan("k"))

    assert with_store(tmp_path, reread) == 1000


def test_writes_are_grouped_into_fewer_commits(tmp_path: Path) -> None:
    async def work(s: SqliteStore) -> int:
        await asyncio.gather(*(s.transact([Put("k", str(i), b"v")]) for i in range(500)))
        return s.io.commits

    assert with_store(tmp_path, work) < 500


def test_one_failing_write_does_not_undo_its_group(tmp_path: Path) -> None:
    async def work(s: SqliteStore) -> tuple[list[object], list[tuple[str, bytes]]]:
        def boom(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO docs (kind, key, value) VALUES ('k', 'half', x'00')")
            raise RuntimeError("boom")

        results = await asyncio.gather(
            s.transact([Put("k", "before", b"1")]),
            s.io.write(boom),
            s.transact([Put("k", "after", b"2")]),
            return_exceptions=True,
        )
        return list(results), await s.scan("k")

    results, rows = with_store(tmp_path, work)
    assert results[0] is True and results[2] is True
    assert isinstance(results[1], RuntimeError)
    assert rows == [("after", b"2"), ("before", b"1")]


@pytest.mark.parametrize(("fsync", "level"), [(False, 1), (True, 2)])
def test_commits_are_fsynced_only_when_asked(tmp_path: Path, fsync: bool, level: int) -> None:
    """WAL-only commits (NORMAL, survive kill -9) by default; FULL with fsync."""

    async def main() -> int:
        store = SqliteStore(tmp_path, fsync=fsync)
        await store.open()
        try:
            return await store.io.write(
                lambda c: int(c.execute("PRAGMA synchronous").fetchone()[0])
            )
        finally:
            await store.close()

    assert asyncio.run(main()) == level
