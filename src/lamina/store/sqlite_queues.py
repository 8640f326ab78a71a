"""SQLite implementation of the SQS-style message table (`QueueStore`)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from typing import Any

from lamina.store.queues import (
    DEDUPLICATION_WINDOW_MS,
    MessageCounts,
    NewMessage,
    Redrive,
    Stored,
    StoredMessage,
)
from lamina.store.sqlite_io import SqliteIO

_COLUMNS = (
    "seq, message_id, body, attributes, md5_body, md5_attributes, sent_at, receive_count,"
    " first_receive_at, dlq_source, group_id, dedup_id, trace_header"
)
_SELECT = f"SELECT {_COLUMNS} FROM messages"
_INSERT = (
    "INSERT INTO messages (queue, message_id, body, attributes, md5_body, md5_attributes,"
    " sent_at, visible_at, group_id, dedup_id, trace_header)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: FIFO: visible messages in sequence order. Walking the queue's (partial) sequence index lets a
#: receive stop after the messages it may give instead of sorting every visible one.
_SELECT_FIFO = (
    f"SELECT {_COLUMNS} FROM messages INDEXED BY messages_in_group_order"
    " WHERE queue = ? AND group_id IS NOT NULL AND visible_at <= ? AND sent_at >= ?"
    " ORDER BY seq"
)
#: FIFO: each message group's first message in flight; nothing after it may be received.
_FIRST_IN_FLIGHT = (
    "SELECT group_id, MIN(seq) FROM messages WHERE queue = ? AND visible_at > ?"
    " AND receipt IS NOT NULL GROUP BY group_id"
)


def _fifo_visible(
    conn: sqlite3.Connection, queue: str, now: float, oldest: int, wanted: int
) -> list[Any]:
    """Up to `wanted` visible messages that no message of their group in flight precedes."""
    first_in_flight = dict(conn.execute(_FIRST_IN_FLIGHT, (queue, now)).fetchall())
    out: list[Any] = []
    for row in conn.execute(_SELECT_FIFO, (queue, now, oldest)):
        held = first_in_flight.get(row[10])
        if held is not None and row[0] > held:
            continue
        out.append(row)
        if len(out) == wanted:
            break
    return out


def _received(r: tuple[Any, ...], receipt: str, first_at: int) -> StoredMessage:
    return StoredMessage(
        seq=int(r[0]),
        message_id=str(r[1]),
        body=str(r[2]),
        attributes=bytes(r[3]),
        md5_of_body=str(r[4]),
        md5_of_attributes=r[5],
        sent_at=int(r[6]),
        receive_count=int(r[7]) + 1,
        first_receive_at=first_at if r[8] is None else int(r[8]),
        receipt=receipt,
        dead_letter_source=r[9],
        group_id=r[10],
        dedup_id=r[11],
        trace_header=r[12],
    )


def _row(queue: str, m: NewMessage) -> tuple[Any, ...]:
    return (
        queue,
        m.message_id,
        m.body,
        m.attributes,
        m.md5_of_body,
        m.md5_of_attributes,
        m.sent_at,
        m.visible_at,
        m.group_id,
        m.dedup_id,
        m.trace_header,
    )


def _put_deduplicated(
    conn: sqlite3.Connection, queue: str, messages: Sequence[NewMessage]
) -> list[Stored]:
    """One by one: a key seen within the window names the earlier message."""
    conn.execute(
        "DELETE FROM message_dedup WHERE queue = ? AND expires_at <= ?",
        (queue, messages[0].sent_at),
    )
    out: list[Stored] = []
    for m in messages:
        seen = conn.execute(
            "SELECT message_id, seq FROM message_dedup WHERE queue = ? AND key = ?",
            (queue, m.dedup_key),
        ).fetchone()
        if seen is not None:
            out.append(Stored(str(seen[0]), int(seen[1])))
            continue
        seq = int(conn.execute(_INSERT, _row(queue, m)).lastrowid or 0)
        if m.dedup_key is not None:
            conn.execute(
                "INSERT INTO message_dedup (queue, key, message_id, seq, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (queue, m.dedup_key, m.message_id, seq, m.sent_at + DEDUPLICATION_WINDOW_MS),
            )
        out.append(Stored(m.message_id, seq))
    return out


class SqliteQueuesMixin:
    """QueueStore on the `messages` table; mixed into SqliteStore."""

    io: SqliteIO

    async def put_messages(self, queue: str, messages: Sequence[NewMessage]) -> list[Stored]:
        rows = [_row(queue, m) for m in messages]
        deduplicated = any(m.dedup_key is not None for m in messages)

        def _insert(conn: sqlite3.Connection) -> list[Stored]:
            if deduplicated:
                return _put_deduplicated(conn, queue, messages)
            conn.executemany(_INSERT, rows)
            # AUTOINCREMENT hands out consecutive numbers inside one writer transaction
            (last,) = conn.execute("SELECT last_insert_rowid()").fetchone()
            first = int(last) - len(rows) + 1
            return [Stored(m.message_id, first + i) for i, m in enumerate(messages)]

        return await self.io.write(_insert)

    async def receive_messages(
        self,
        queue: str,
        *,
        now: float,
        hide_until: float,
        limit: int,
        retention_s: float,
        redrive: Redrive | None,
        fifo: bool = False,
    ) -> list[StoredMessage]:
        if redrive is not None and redrive.target == queue:
            redrive = None  # a queue that is its own dead-letter queue keeps its messages
        oldest = int((now - retention_s) * 1000)
        now_ms = int(now * 1000)

        def _visible(conn: sqlite3.Connection, wanted: int) -> list[Any]:
            if fifo:
                return _fifo_visible(conn, queue, now, oldest, wanted)
            return conn.execute(
                f"{_SELECT} WHERE queue = ? AND visible_at <= ? AND sent_at >= ?"
                " ORDER BY visible_at, seq LIMIT ?",
                (queue, now, oldest, wanted),
            ).fetchall()

        def _receive(conn: sqlite3.Connection) -> list[StoredMessage]:
            taken: list[StoredMessage] = []
            tokens = os.urandom(12 * limit).hex()  # one read of the random source per receive
            while len(taken) < limit:
                moved: list[tuple[str, float, str, int]] = []
                got: list[StoredMessage] = []
                for r in _visible(conn, limit - len(taken)):
                    if redrive is not None and r[7] >= redrive.max_receives:
                        moved.append((redrive.target, now, queue, r[0]))
                    else:
                        at = 24 * (len(taken) + len(got))
                        got.append(_received(r, tokens[at : at + 24], now_ms))
                conn.executemany(
                    "UPDATE messages SET visible_at = ?, receive_count = ?, first_receive_at = ?,"
                    " receipt = ? WHERE seq = ?",
                    [
                        (hide_until, m.receive_count, m.first_receive_at, m.receipt, m.seq)
                        for m in got
                    ],
                )
                conn.executemany(
                    "UPDATE messages SET queue = ?, visible_at = ?, receipt = NULL,"
                    " dlq_source = ? WHERE seq = ?",
                    moved,
                )
                taken.extend(got)
                if not moved:  # everything visible was taken: no more to look at
                    break
            return taken

        return await self.io.write(_receive)

    async def delete_messages(
        self, queue: str, receipts: Sequence[tuple[int, str]], *, in_flight_at: float | None = None
    ) -> list[tuple[int, str]]:
        rows = [(queue, seq, receipt) for seq, receipt in receipts]

        def _delete(conn: sqlite3.Connection) -> list[tuple[int, str]]:
            if in_flight_at is None:
                conn.executemany(
                    "DELETE FROM messages WHERE queue = ? AND seq = ? AND receipt = ?", rows
                )
                return []
            expired: list[tuple[int, str]] = []
            for row in rows:
                gone = conn.execute(
                    "DELETE FROM messages WHERE queue = ? AND seq = ? AND receipt = ?"
                    " AND visible_at > ?",
                    (*row, in_flight_at),
                ).rowcount
                if (
                    not gone
                    and conn.execute(
                        "SELECT 1 FROM messages WHERE queue = ? AND seq = ? AND receipt = ?", row
                    ).fetchone()
                ):
                    expired.append((row[1], row[2]))
            return expired

        return await self.io.write(_delete)

    async def change_visibility(
        self, queue: str, seq: int, receipt: str, *, now: float, visible_at: float
    ) -> bool:
        def _change(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "UPDATE messages SET visible_at = ? WHERE queue = ? AND seq = ?"
                    " AND receipt = ?",
                    (visible_at, queue, seq, receipt),
                ).rowcount
                == 1
            )

        return await self.io.write(_change)

    async def next_visible_at(self, queue: str, *, now: float) -> float | None:
        def _next(conn: sqlite3.Connection) -> float | None:
            (at,) = conn.execute(
                "SELECT MIN(visible_at) FROM messages WHERE queue = ? AND visible_at > ?",
                (queue, now),
            ).fetchone()
            return None if at is None else float(at)

        return await self.io.read(_next)

    async def message_counts(self, queue: str, *, now: float) -> MessageCounts:
        def _counts(conn: sqlite3.Connection) -> MessageCounts:
            # Visible ones are counted on the index alone (a deep backlog is mostly visible);
            # only hidden rows are read, to tell in-flight from delayed.
            (visible,) = conn.execute(
                "SELECT COUNT(*) FROM messages WHERE queue = ? AND visible_at <= ?", (queue, now)
            ).fetchone()
            in_flight, delayed = conn.execute(
                "SELECT SUM(receive_count > 0), SUM(receive_count = 0) FROM messages"
                " WHERE queue = ? AND visible_at > ?",
                (queue, now),
            ).fetchone()
            return MessageCounts(visible=visible, not_visible=in_flight or 0, delayed=delayed or 0)

        return await self.io.read(_counts)

    async def purge_messages(self, queue: str) -> int:
        def _purge(conn: sqlite3.Connection) -> int:
            conn.execute("DELETE FROM message_dedup WHERE queue = ?", (queue,))
            return conn.execute("DELETE FROM messages WHERE queue = ?", (queue,)).rowcount

        return await self.io.write(_purge)

    async def expire_messages(self, queue: str, *, sent_before: int) -> int:
        def _expire(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM messages WHERE queue = ? AND sent_at < ?", (queue, sent_before)
            ).rowcount

        return await self.io.write(_expire)
