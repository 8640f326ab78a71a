"""SQLite implementation of the SQS-style message table (`QueueStore`)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from typing import Any

from lamina.store.queues import MessageCounts, NewMessage, Redrive, StoredMessage
from lamina.store.sqlite_io import SqliteIO

_SELECT = (
    "SELECT seq, message_id, body, attributes, md5_body, md5_attributes, sent_at, receive_count,"
    " first_receive_at, dlq_source FROM messages"
)


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
    )


class SqliteQueuesMixin:
    """QueueStore on the `messages` table; mixed into SqliteStore."""

    io: SqliteIO

    async def put_messages(self, queue: str, messages: Sequence[NewMessage]) -> None:
        rows = [
            (
                queue,
                m.message_id,
                m.body,
                m.attributes,
                m.md5_of_body,
                m.md5_of_attributes,
                m.sent_at,
                m.visible_at,
            )
            for m in messages
        ]

        def _insert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO messages (queue, message_id, body, attributes, md5_body,"
                " md5_attributes, sent_at, visible_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

        await self.io.write(_insert)

    async def receive_messages(
        self,
        queue: str,
        *,
        now: float,
        hide_until: float,
        limit: int,
        retention_s: float,
        redrive: Redrive | None,
    ) -> list[StoredMessage]:
        oldest = int((now - retention_s) * 1000)
        now_ms = int(now * 1000)

        def _receive(conn: sqlite3.Connection) -> list[StoredMessage]:
            taken: list[StoredMessage] = []
            tokens = os.urandom(12 * limit).hex()  # one read of the random source per receive
            while len(taken) < limit:
                rows = conn.execute(
                    f"{_SELECT} WHERE queue = ? AND visible_at <= ? AND sent_at >= ?"
                    " ORDER BY visible_at, seq LIMIT ?",
                    (queue, now, oldest, limit - len(taken)),
                ).fetchall()
                moved: list[tuple[str, float, str, int]] = []
                got: list[StoredMessage] = []
                for r in rows:
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
                    "UPDATE messages SET queue = ?, visible_at = ?, receive_count = 0,"
                    " first_receive_at = NULL, receipt = NULL, dlq_source = ? WHERE seq = ?",
                    moved,
                )
                taken.extend(got)
                if not moved:  # everything visible was taken: no more to look at
                    break
            return taken

        return await self.io.write(_receive)

    async def delete_messages(self, queue: str, receipts: Sequence[tuple[int, str]]) -> None:
        rows = [(queue, seq, receipt) for seq, receipt in receipts]

        def _delete(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "DELETE FROM messages WHERE queue = ? AND seq = ? AND receipt = ?", rows
            )

        await self.io.write(_delete)

    async def change_visibility(
        self, queue: str, seq: int, receipt: str, *, now: float, visible_at: float
    ) -> bool:
        def _change(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "UPDATE messages SET visible_at = ? WHERE queue = ? AND seq = ?"
                    " AND receipt = ? AND visible_at > ?",
                    (visible_at, queue, seq, receipt, now),
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
            return conn.execute("DELETE FROM messages WHERE queue = ?", (queue,)).rowcount

        return await self.io.write(_purge)

    async def expire_messages(self, queue: str, *, sent_before: int) -> int:
        def _expire(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM messages WHERE queue = ? AND sent_at < ?", (queue, sent_before)
            ).rowcount

        return await self.io.write(_expire)
