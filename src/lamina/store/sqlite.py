"""The embedded default store: SQLite in WAL mode, one writer thread with group commit.

Layout of the data directory:

    lamina.db            every record (documents, logs, queues, events)
    lamina.db-wal        the write-ahead log (truncated back after checkpoints)
    blobs/<sha256>       function code zips, content-addressed, written atomically

The database uses incremental auto-vacuum: pages freed by deletes go back to the file system
in small steps (`reclaim_space`), never in one long VACUUM.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from lamina.errors import StoreError
from lamina.store.base import LOG_EVENT_OVERHEAD, Delete, Expect, LogEvent, Op, Put, StorageUsage
from lamina.store.sqlite_events import SqliteEventsMixin
from lamina.store.sqlite_io import SqliteIO
from lamina.store.sqlite_logs import SqliteLogsMixin
from lamina.store.sqlite_queues import SqliteQueuesMixin
from lamina.store.sqlite_schema import migrate

#: File name of the database inside the data directory.
DB_FILE = "lamina.db"


def conn_freelist(conn: sqlite3.Connection) -> int:
    """Pages of the database file that deletes freed and nothing reuses yet."""
    (count,) = conn.execute("PRAGMA freelist_count").fetchone()
    return int(count)


class SqliteStore(SqliteEventsMixin, SqliteQueuesMixin, SqliteLogsMixin):
    """`Store` on a SQLite file in `data_dir`."""

    def __init__(self, data_dir: Path, *, fsync: bool = False) -> None:
        self.data_dir = data_dir
        self._blob_dir = data_dir / "blobs"
        self.io = SqliteIO(data_dir / DB_FILE, fsync=fsync)
        self._io = self.io

    async def open(self) -> None:
        def _prepare() -> None:
            self._blob_dir.mkdir(parents=True, exist_ok=True)
            self._io.start(migrate)

        try:
            await asyncio.to_thread(_prepare)
        except OSError as exc:
            raise StoreError(f"cannot open data dir: {exc}") from exc

    async def close(self) -> None:
        await asyncio.to_thread(self._io.stop)

    # -- documents ----------------------------------------------------------------------------
    async def get(self, kind: str, key: str) -> bytes | None:
        def _get(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT value FROM docs WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._io.read(_get)

    async def scan(self, kind: str, prefix: str = "") -> list[tuple[str, bytes]]:
        def _scan(conn: sqlite3.Connection) -> list[tuple[str, bytes]]:
            rows = conn.execute(
                "SELECT key, value FROM docs WHERE kind = ? AND substr(key, 1, ?) = ? ORDER BY key",
                (kind, len(prefix), prefix),
            ).fetchall()
            return [(k, bytes(v)) for k, v in rows]

        return await self._io.read(_scan)

    async def transact(self, ops: Sequence[Op]) -> bool:
        ops = list(ops)

        def _apply(conn: sqlite3.Connection) -> bool:
            for op in ops:
                if isinstance(op, Expect):
                    row = conn.execute(
                        "SELECT value FROM docs WHERE kind = ? AND key = ?", (op.kind, op.key)
                    ).fetchone()
                    current = None if row is None else bytes(row[0])
                    if current != op.value:
                        return False
            for op in ops:
                if isinstance(op, Put):
                    conn.execute(
                        "INSERT OR REPLACE INTO docs (kind, key, value) VALUES (?, ?, ?)",
                        (op.kind, op.key, op.value),
                    )
                elif isinstance(op, Delete):
                    conn.execute("DELETE FROM docs WHERE kind = ? AND key = ?", (op.kind, op.key))
            return True

        return await self._io.write(_apply)

    # -- blobs --------------------------------------------------------------------------------
    def _blob_path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise StoreError(f"not a sha256 hex digest: {digest!r}")
        return self._blob_dir / digest

    async def put_blob(self, digest: str, data: bytes) -> None:
        path = self._blob_path(digest)

        def _write() -> None:
            if path.exists():
                return
            if hashlib.sha256(data).hexdigest() != digest:
                raise StoreError("blob digest mismatch")
            tmp = path.with_suffix(f".tmp{os.getpid()}.{id(data)}")
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except OSError:  # a full disk: leave no partial file behind
                tmp.unlink(missing_ok=True)
                raise
            dir_fd = os.open(self._blob_dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

        try:
            await asyncio.to_thread(_write)
        except OSError as exc:
            raise StoreError(f"cannot write blob: {exc}") from exc

    async def get_blob(self, digest: str) -> bytes | None:
        path = self._blob_path(digest)

        def _read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(_read)

    async def delete_blob(self, digest: str) -> None:
        path = self._blob_path(digest)
        await asyncio.to_thread(path.unlink, True)

    # -- logs ---------------------------------------------------------------------------------
    async def append_logs(self, events: Sequence[LogEvent]) -> None:
        rows = [(e.group, e.stream, e.timestamp_ms, e.ingestion_ms, e.message) for e in events]

        def _append(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO logs (grp, stream, ts, ingest, message) VALUES (?, ?, ?, ?, ?)", rows
            )

        await self._io.write(_append)

    async def read_logs(
        self,
        group: str,
        *,
        stream_prefix: str = "",
        start_ms: int = 0,
        end_ms: int | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[LogEvent]:
        end = end_ms if end_ms is not None else 2**62

        def _read(conn: sqlite3.Connection) -> list[LogEvent]:
            rows = conn.execute(
                "SELECT id, stream, ts, ingest, message FROM logs WHERE grp = ? AND id > ?"
                " AND ts >= ? AND ts <= ? AND substr(stream, 1, ?) = ? ORDER BY id LIMIT ?",
                (group, after_id, start_ms, end, len(stream_prefix), stream_prefix, limit),
            ).fetchall()
            return [LogEvent(group, s, ts, msg, i, ing) for i, s, ts, ing, msg in rows]

        return await self._io.read(_read)

    async def trim_logs(self, group: str, keep: int) -> int:
        def _trim(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT id FROM logs WHERE grp = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                (group, keep),
            ).fetchone()
            if row is None:
                return 0
            cur = conn.execute("DELETE FROM logs WHERE grp = ? AND id <= ?", (group, row[0]))
            return cur.rowcount

        return await self._io.write(_trim)

    async def trim_log_bytes(self, group: str | None, keep_bytes: int) -> int:
        where, args = ("WHERE grp = ?", (group,)) if group is not None else ("", ())

        def _cut(conn: sqlite3.Connection) -> int | None:
            # the newest event that no longer fits: everything up to it goes
            row = conn.execute(
                "SELECT id FROM (SELECT id, SUM(length(CAST(message AS BLOB)) + ?)"
                f" OVER (ORDER BY id DESC) AS run FROM logs {where}) WHERE run > ? LIMIT 1",
                (LOG_EVENT_OVERHEAD, *args, keep_bytes),
            ).fetchone()
            return None if row is None else int(row[0])

        cut = await self._io.read(_cut)  # the scan runs on a reader, not the writer
        if cut is None:
            return 0
        sql = "DELETE FROM logs WHERE id <= ?" + (" AND grp = ?" if group is not None else "")
        return await self._io.write(lambda conn: conn.execute(sql, (cut, *args)).rowcount)

    # -- storage lifecycle --------------------------------------------------------------------
    async def usage(self) -> StorageUsage:
        def _sums(conn: sqlite3.Connection, sql: str) -> dict[str, int]:
            return {str(k): int(v) for k, v in conn.execute(sql).fetchall()}

        def _read(conn: sqlite3.Connection) -> StorageUsage:
            return StorageUsage(
                blobs=self._blob_sizes(),
                logs=_sums(
                    conn,
                    f"SELECT grp, SUM(length(CAST(message AS BLOB)) + {LOG_EVENT_OVERHEAD})"
                    " FROM logs GROUP BY grp ORDER BY grp",
                ),
                events=_sums(
                    conn,
                    "SELECT function, SUM(length(payload)) FROM events"
                    " GROUP BY function ORDER BY function",
                ),
                queues=_sums(
                    conn,
                    "SELECT queue, SUM(length(CAST(body AS BLOB)) + length(attributes))"
                    " FROM messages GROUP BY queue ORDER BY queue",
                ),
                files=self._file_sizes(),
            )

        return await self._io.read(_read)

    def _blob_sizes(self) -> dict[str, int]:
        sizes = {}
        for entry in os.scandir(self._blob_dir):
            if len(entry.name) == 64 and entry.is_file():
                sizes[entry.name] = entry.stat().st_size
        return dict(sorted(sizes.items()))

    def _file_sizes(self) -> dict[str, int]:
        sizes = {}
        for kind, suffix in (("database", ""), ("wal", "-wal")):
            try:
                sizes[kind] = os.stat(f"{self.data_dir / DB_FILE}{suffix}").st_size
            except FileNotFoundError:
                sizes[kind] = 0
        return sizes

    async def reclaim_space(self, max_bytes: int) -> int:
        def _step(conn: sqlite3.Connection) -> int:
            (page_size,) = conn.execute("PRAGMA page_size").fetchone()
            # one page per statement: Python's sqlite3 steps `incremental_vacuum(N)` only once
            for _ in range(min(max(1, max_bytes // page_size), conn_freelist(conn))):
                conn.execute("PRAGMA incremental_vacuum(1)")
            return conn_freelist(conn) * int(page_size)

        return await self._io.write(_step)
