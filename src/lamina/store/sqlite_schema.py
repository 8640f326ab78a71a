"""The SQLite schema as an ordered list of migrations, tracked by `PRAGMA user_version`.

Append a migration to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: control-plane documents and function logs
    """
    CREATE TABLE docs (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    CREATE TABLE logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        grp TEXT NOT NULL,
        stream TEXT NOT NULL,
        ts INTEGER NOT NULL,
        ingest INTEGER NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX logs_by_group ON logs (grp, id);
    """,
    # 2: the async invocation queue (one row per accepted Event invoke)
    """
    CREATE TABLE events (
        request_id TEXT PRIMARY KEY,
        function TEXT NOT NULL,
        qualifier TEXT,
        payload BLOB NOT NULL,
        enqueued_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        leased_until REAL,
        last_error TEXT
    ) WITHOUT ROWID;
    CREATE INDEX events_due ON events (function, next_at);
    """,
    # 3: SQS-compatible queue messages (queue metadata lives in docs, kind "sqs-queue")
    """
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL,
        body TEXT NOT NULL,
        attributes BLOB NOT NULL,
        md5_body TEXT NOT NULL,
        md5_attributes TEXT,
        sent_at INTEGER NOT NULL,
        visible_at REAL NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        first_receive_at INTEGER,
        receipt TEXT,
        dlq_source TEXT
    );
    CREATE INDEX messages_visible ON messages (queue, visible_at);
    """,
    # 4: an event held by a poller is a "claim" ("lease" is only for concurrency)
    """
    ALTER TABLE events RENAME COLUMN leased_until TO claimed_until;
    """,
    # 5: FIFO queues (message groups, deduplication ids kept 5 minutes) and the X-Ray trace header
    """
    ALTER TABLE messages ADD COLUMN group_id TEXT;
    ALTER TABLE messages ADD COLUMN dedup_id TEXT;
    ALTER TABLE messages ADD COLUMN trace_header TEXT;
    CREATE TABLE message_dedup (
        queue TEXT NOT NULL,
        key TEXT NOT NULL,
        message_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (queue, key)
    ) WITHOUT ROWID;
    CREATE INDEX message_dedup_expiry ON message_dedup (queue, expires_at);
    CREATE INDEX messages_in_group_order ON messages (queue, seq) WHERE group_id IS NOT NULL;
    """,
    # 6: an async event's lineage count (recursive loop detection survives restarts)
    """
    ALTER TABLE events ADD COLUMN lineage INTEGER NOT NULL DEFAULT 0;
    """,
]


#: `PRAGMA auto_vacuum` value of incremental vacuum.
AUTO_VACUUM_INCREMENTAL = 2


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database at `conn` up to the newest schema, one transaction per step."""
    (current,) = conn.execute("PRAGMA user_version").fetchone()
    use_incremental_vacuum(conn)
    if current > len(MIGRATIONS):
        raise sqlite3.DatabaseError(
            f"database schema {current} is newer than this Lamina ({len(MIGRATIONS)})"
        )
    for version in range(current, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise


def use_incremental_vacuum(conn: sqlite3.Connection) -> None:
    """Switch the database to incremental auto-vacuum: the pragma plus one VACUUM (instant on a
    new database; once, at start, before anything else runs, on one made by an older Lamina)."""
    (mode,) = conn.execute("PRAGMA auto_vacuum").fetchone()
    if mode == AUTO_VACUUM_INCREMENTAL:
        return
    conn.execute(f"PRAGMA auto_vacuum = {AUTO_VACUUM_INCREMENTAL}")
    conn.execute("VACUUM")  # a WAL-mode database takes the new mode only through a VACUUM
