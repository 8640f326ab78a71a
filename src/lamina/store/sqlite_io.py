"""SQLite plumbing: one writer thread with group commit, and a small pool of reader threads.

The event loop never touches a connection. Writes are closures queued to the writer thread,
which runs every closure that is waiting in one transaction (each inside its own savepoint, so
one failing closure does not undo the others), commits once, and only then resolves the
callers' futures. Under load that turns thousands of writes per second into a few dozen fsyncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from lamina.errors import StoreError

T = TypeVar("T")

#: Most closures committed in one transaction.
MAX_GROUP_SIZE = 512
#: Reader threads (each with its own connection).
READER_THREADS = 2

#: A checkpointed WAL file is truncated back to this size (bytes), so it cannot stay large.
WAL_SIZE_LIMIT = 16 * 2**20

_STOP = object()


def connect(path: Path, *, readonly: bool = False, fsync: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode, used by one thread only.

    Every commit is written to the WAL before it returns, so it survives the death of the
    process (`kill -9`). With `fsync` each commit is also flushed to the disk
    (`synchronous=FULL`), so it survives a power cut too, at the cost of one fsync per commit;
    without, WAL checkpoints still fsync (`synchronous=NORMAL`)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn


class SqliteIO:
    """Runs write closures on one thread in group commits and reads on a reader pool."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self._path = path
        self._fsync = fsync
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="lamina-sqlite-r")
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.commits = 0

    def start(self, migrate: Callable[[sqlite3.Connection], None]) -> None:
        """Open the writer connection, run `migrate` on it, and start the writer thread."""
        conn = connect(self._path, fsync=self._fsync)
        try:
            migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot migrate {self._path.name}: {exc}") from exc
        self._writer = threading.Thread(
            target=self._write_loop, args=(conn,), name="lamina-sqlite-w", daemon=True
        )
        self._writer.start()

    def stop(self) -> None:
        """Finish queued writes, then close every connection. Blocking: call via a thread."""
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join()
            self._writer = None
        self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` inside the next group commit; return its result once committed."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, fut, loop))
        return await fut

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on a reader connection (sees every committed write)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, self._run_read, fn)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        return fn(conn)

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch = [first]
                stop = False
                while len(batch) < MAX_GROUP_SIZE:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(item)
                self._commit_group(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _commit_group(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        if len(batch) == 1:
            self._commit_one(conn, batch)
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _fut, _loop in batch:
                conn.execute("SAVEPOINT op")
                try:
                    result = fn(conn)
                    # A cursor must die on this thread: finalising it on another one while
                    # this thread uses the connection is an SQLite API misuse.
                    if isinstance(result, sqlite3.Cursor):
                        result.close()
                        result = None
                    outcomes.append((True, result))
                    conn.execute("RELEASE op")
                except Exception as exc:  # one closure's failure is its caller's error only
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((False, exc))
            conn.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            err = StoreError(f"commit failed: {exc}")
            outcomes = [(False, err)] * len(batch)
        _hand_back(batch, outcomes)

    def _commit_one(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        """A group of one: no savepoint needed (its failure is the transaction's). Each
        statement releases and retakes the GIL, so two fewer matter under load."""
        fn = batch[0][0]
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                if isinstance(result, sqlite3.Cursor):
                    result.close()
                    result = None
            except Exception as exc:  # the caller's error; nothing of it is kept
                conn.execute("ROLLBACK")
                _hand_back(batch, [(False, exc)])
                return
            conn.execute("COMMIT")
            self.commits += 1
            outcome: tuple[bool, Any] = (True, result)
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            outcome = (False, StoreError(f"commit failed: {exc}"))
        _hand_back(batch, [outcome])


def _hand_back(batch: list[Any], outcomes: list[tuple[bool, Any]]) -> None:
    """Resolve each caller's future on its own loop."""
    by_loop: dict[Any, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for (_fn, fut, loop), (ok, value) in zip(batch, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((fut, ok, value))
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
            loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in items:
        if fut.done():
            continue
        if ok:
            fut.set_result(value)
        elif isinstance(value, sqlite3.Error):
            fut.set_exception(StoreError(str(value)))
        else:
            fut.set_exception(value)
