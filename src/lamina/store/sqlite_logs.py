"""SQLite implementation of the log index (`LogIndex`): groups, streams, newest events."""

from __future__ import annotations

import sqlite3

from lamina.store.base import LogEvent
from lamina.store.log_index import LogGroupInfo, LogStreamInfo
from lamina.store.sqlite_io import SqliteIO


class SqliteLogsMixin:
    """LogIndex on the `logs` table; mixed into SqliteStore."""

    io: SqliteIO

    async def log_groups(self) -> list[LogGroupInfo]:
        def _groups(conn: sqlite3.Connection) -> list[LogGroupInfo]:
            rows = conn.execute(
                "SELECT grp, MIN(ingest), SUM(length(CAST(message AS BLOB))) FROM logs"
                " GROUP BY grp ORDER BY grp"
            ).fetchall()
            return [LogGroupInfo(str(g), int(c), int(b or 0)) for g, c, b in rows]

        return await self.io.read(_groups)

    async def log_streams(self, group: str) -> list[LogStreamInfo]:
        def _streams(conn: sqlite3.Connection) -> list[LogStreamInfo]:
            rows = conn.execute(
                "SELECT stream, MIN(ts), MAX(ts), MAX(ingest), SUM(length(CAST(message AS BLOB)))"
                " FROM logs WHERE grp = ? GROUP BY stream ORDER BY stream",
                (group,),
            ).fetchall()
            return [
                LogStreamInfo(str(s), int(a), int(z), int(i), int(b or 0)) for s, a, z, i, b in rows
            ]

        return await self.io.read(_streams)

    async def read_logs_newest(
        self,
        group: str,
        *,
        stream_prefix: str = "",
        start_ms: int = 0,
        end_ms: int | None = None,
        before_id: int | None = None,
        limit: int = 1000,
    ) -> list[LogEvent]:
        end = end_ms if end_ms is not None else 2**62
        before = before_id if before_id is not None else 2**62

        def _read(conn: sqlite3.Connection) -> list[LogEvent]:
            rows = conn.execute(
                "SELECT id, stream, ts, ingest, message FROM logs WHERE grp = ? AND id < ?"
                " AND ts >= ? AND ts <= ? AND substr(stream, 1, ?) = ? ORDER BY id DESC LIMIT ?",
                (group, before, start_ms, end, len(stream_prefix), stream_prefix, limit),
            ).fetchall()
            return [LogEvent(group, s, ts, msg, i, ing) for i, s, ts, ing, msg in reversed(rows)]

        return await self.io.read(_read)
