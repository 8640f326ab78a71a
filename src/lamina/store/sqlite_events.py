"""SQLite implementation of the async-event queue (`EventStore`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from lamina.store.events import AsyncEvent, EventQueueStats
from lamina.store.sqlite_io import SqliteIO

_COLUMNS = (
    "request_id, function, qualifier, payload, enqueued_at, attempts, next_at, claimed_until,"
    " last_error, lineage"
)


def _row(r: tuple[Any, ...]) -> AsyncEvent:
    return AsyncEvent(
        request_id=str(r[0]),
        function=str(r[1]),
        qualifier=r[2],
        payload=bytes(r[3]),
        enqueued_at=float(r[4]),
        attempts=int(r[5]),
        next_at=float(r[6]),
        claimed_until=r[7],
        last_error=r[8],
        lineage=int(r[9]),
    )


class SqliteEventsMixin:
    """EventStore on the `events` table; mixed into SqliteStore."""

    io: SqliteIO

    async def enqueue_events(self, events: Sequence[AsyncEvent]) -> None:
        rows = [
            (
                e.request_id,
                e.function,
                e.qualifier,
                e.payload,
                e.enqueued_at,
                e.attempts,
                e.next_at,
                None,
                e.last_error,
                e.lineage,
            )
            for e in events
        ]

        def _insert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                f"INSERT OR IGNORE INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

        await self.io.write(_insert)

    async def claim_events(
        self, function: str, *, now: float, claim_s: float, limit: int
    ) -> list[AsyncEvent]:
        def _claim(conn: sqlite3.Connection) -> list[AsyncEvent]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE function = ? AND next_at <= ?"
                " AND (claimed_until IS NULL OR claimed_until < ?)"
                " ORDER BY next_at, request_id LIMIT ?",
                (function, now, now, limit),
            ).fetchall()
            until = now + claim_s
            conn.executemany(
                "UPDATE events SET claimed_until = ? WHERE request_id = ?",
                [(until, r[0]) for r in rows],
            )
            return [_row((*r[:7], until, *r[8:])) for r in rows]

        return await self.io.write(_claim)

    async def reset_event_claims(self) -> int:
        def _reset(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE events SET claimed_until = NULL WHERE claimed_until IS NOT NULL"
            ).rowcount

        return await self.io.write(_reset)

    async def extend_event_claims(self, request_ids: Sequence[str], *, until: float) -> None:
        rows = [(until, rid) for rid in request_ids]

        def _extend(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE events SET claimed_until = ?"
                " WHERE request_id = ? AND claimed_until IS NOT NULL",
                rows,
            )

        await self.io.write(_extend)

    async def ack_events(self, request_ids: Sequence[str]) -> None:
        rows = [(rid,) for rid in request_ids]

        def _ack(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM events WHERE request_id = ?", rows)

        await self.io.write(_ack)

    async def reschedule_event(
        self, request_id: str, *, next_at: float, attempts: int, last_error: str | None
    ) -> None:
        def _reschedule(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE events SET next_at = ?, attempts = ?, last_error = ?, claimed_until = NULL"
                " WHERE request_id = ?",
                (next_at, attempts, last_error, request_id),
            )

        await self.io.write(_reschedule)

    async def event_functions(self) -> list[str]:
        def _names(conn: sqlite3.Connection) -> list[str]:
            return [r[0] for r in conn.execute("SELECT DISTINCT function FROM events")]

        return await self.io.read(_names)

    async def event_stats(self, function: str, *, now: float) -> EventQueueStats:
        def _stats(conn: sqlite3.Connection) -> EventQueueStats:
            row = conn.execute(
                "SELECT COUNT(*),"
                " SUM(CASE WHEN claimed_until >= ? THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN (claimed_until IS NULL OR claimed_until < ?) AND next_at > ?"
                "     THEN 1 ELSE 0 END),"
                " MIN(enqueued_at) FROM events WHERE function = ?",
                (now, now, now, function),
            ).fetchone()
            depth, in_flight, delayed = row[0], row[1] or 0, row[2] or 0
            return EventQueueStats(
                depth=depth,
                ready=depth - in_flight - delayed,
                in_flight=in_flight,
                delayed=delayed,
                oldest_enqueued_at=row[3],
            )

        return await self.io.read(_stats)

    async def list_events(self, function: str, *, after: str, limit: int) -> list[AsyncEvent]:
        def _list(conn: sqlite3.Connection) -> list[AsyncEvent]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE function = ? AND request_id > ?"
                " ORDER BY request_id LIMIT ?",
                (function, after, limit),
            ).fetchall()
            return [_row(r) for r in rows]

        return await self.io.read(_list)

    async def purge_events(self, function: str) -> int:
        def _purge(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM events WHERE function = ? AND claimed_until IS NULL", (function,)
            ).rowcount

        return await self.io.write(_purge)
