"""What only the SQLite store promises: files on disk, reopening, schema, WAL and group commit."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from lamina.errors import StoreError
from lamina.store.base import LogEvent, Put
from lamina.store.sqlite import DB_FILE, SqliteStore
from lamina.store.sqlite_schema import MIGRATIONS, migrate

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def opened(path: Path, *, fsync: bool = False) -> AsyncIterator[SqliteStore]:
    """A SqliteStore on `path`, open for the block and closed after it."""
    store = SqliteStore(path, fsync=fsync)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


# -- Files and reopening ----------------------------------------------------------------------
async def test_blob_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    data = b"zip bytes" * 1000
    digest = hashlib.sha256(data).hexdigest()
    async with opened(tmp_path) as s:
        await s.put_blob(digest, data)
        await s.put_blob(digest, data)
        await s.delete_blob(digest)
        await s.put_blob(digest, data)

    assert [p.name for p in (tmp_path / "blobs").iterdir()] == [digest]


async def test_blobs_and_documents_survive_a_reopen(tmp_path: Path) -> None:
    data = b"persist me"
    digest = hashlib.sha256(data).hexdigest()
    async with opened(tmp_path) as s:
        await s.put_blob(digest, data)
        await s.transact([Put("k", "a", b"1")])

    async with opened(tmp_path) as s:
        assert (await s.get_blob(digest), await s.get("k", "a")) == (data, b"1")


async def test_concurrent_writes_are_all_there_after_a_reopen(tmp_path: Path) -> None:
    async with opened(tmp_path) as s:
        writes = [s.transact([Put("k", f"key-{i:04d}", str(i).encode())]) for i in range(1000)]
        logs = [s.append_logs([LogEvent("g", "s1", i, "line")]) for i in range(200)]
        await asyncio.gather(*writes, *logs)

    async with opened(tmp_path) as s:
        assert len(await s.scan("k")) == 1000
        assert len(await s.read_logs("g", limit=10_000)) == 200


# -- Schema -----------------------------------------------------------------------------------
async def test_migrations_run_once_and_reopening_is_idempotent(tmp_path: Path) -> None:
    async with opened(tmp_path) as s:
        await s.transact([Put("k", "a", b"1")])
    async with opened(tmp_path) as s:
        await s.get("k", "a")
    async with opened(tmp_path) as s:
        assert await s.get("k", "a") == b"1"

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


async def test_a_database_newer_than_this_lamina_is_refused(tmp_path: Path) -> None:
    async with opened(tmp_path) as s:
        await s.get("k", "a")
    conn = sqlite3.connect(tmp_path / DB_FILE)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()

    with pytest.raises(StoreError, match="newer than this Lamina"):
        async with opened(tmp_path) as s:
            await s.get("k", "a")


async def test_claims_held_under_the_old_column_name_survive_the_rename(tmp_path: Path) -> None:
    """Schema 3 called an event's claim `leased_until`; migration 4 renames it in place."""
    conn = sqlite3.connect(tmp_path / DB_FILE, isolation_level=None)
    for statement in "".join(MIGRATIONS[:3]).split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute(
        "INSERT INTO events (request_id, function, payload, enqueued_at, next_at, leased_until)"
        " VALUES ('r1', 'f', x'00', 1.0, 1.0, 100.0), ('r2', 'f', x'01', 1.0, 1.0, NULL)"
    )
    conn.close()

    async with opened(tmp_path) as s:
        listed = await s.list_events("f", after="", limit=10)
        claimed = await s.claim_events("f", now=50.0, claim_s=10.0, limit=10)
    assert [(e.request_id, e.claimed_until) for e in listed] == [("r1", 100.0), ("r2", None)]
    assert [(e.request_id, e.claimed_until) for e in claimed] == [("r2", 60.0)]


async def test_the_database_uses_wal_mode(tmp_path: Path) -> None:
    async with opened(tmp_path) as s:
        await s.get("k", "a")

    conn = sqlite3.connect(tmp_path / DB_FILE)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


# -- Group commit -----------------------------------------------------------------------------
async def test_writes_are_grouped_into_fewer_commits(tmp_path: Path) -> None:
    async with opened(tmp_path) as s:
        await asyncio.gather(*(s.transact([Put("k", str(i), b"v")]) for i in range(500)))
        assert s.io.commits < 500


async def test_one_failing_write_does_not_undo_its_group(tmp_path: Path) -> None:
    def boom(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO docs (kind, key, value) VALUES ('k', 'half', x'00')")
        raise RuntimeError("boom")

    async with opened(tmp_path) as s:
        results = await asyncio.gather(
            s.transact([Put("k", "before", b"1")]),
            s.io.write(boom),
            s.transact([Put("k", "after", b"2")]),
            return_exceptions=True,
        )
        rows = await s.scan("k")

    assert results[0] is True and results[2] is True
    assert isinstance(results[1], RuntimeError)
    assert rows == [("after", b"2"), ("before", b"1")]


@pytest.mark.parametrize(("fsync", "level"), [(False, 1), (True, 2)])
async def test_commits_are_fsynced_only_when_asked(tmp_path: Path, fsync: bool, level: int) -> None:
    """WAL-only commits (NORMAL, survive kill -9) by default; FULL with fsync."""
    async with opened(tmp_path, fsync=fsync) as s:
        got = await s.io.write(lambda c: int(c.execute("PRAGMA synchronous").fetchone()[0]))
    assert got == level
