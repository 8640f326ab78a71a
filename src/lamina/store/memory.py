"""The reference in-memory store: every Store protocol on plain Python dicts and lists.

It is the backend the store contract tests hold every other backend to, and the one fast unit
tests of the control plane, the engine and the queues run on (`--store memory` selects it for a
node). It keeps nothing across restarts: its data lives only as long as the object does, so
"returns after commit" means "returns after the change is in the dicts".

Semantics match the SQLite store's: each method runs without an `await` between reading and
writing, so it is atomic with respect to every other coroutine; ordering, conflict and error
rules are the same (the contract suite in tests/store/ checks both). Time is never read: every
method that depends on it takes `now` from its caller, who reads it from the node's Clock.
Each call yields to the event loop once before it runs, as a real backend's I/O would, so a
caller that polls the store in a loop cannot starve other tasks.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence

from lamina.errors import StoreError
from lamina.store.base import (
    Delete,
    Expect,
    LogEvent,
    Op,
    Put,
    StorageUsage,
    log_event_bytes,
)
from lamina.store.memory_events import MemoryEventsMixin, yield_once
from lamina.store.memory_logs import MemoryLogsMixin
from lamina.store.memory_queues import MemoryQueuesMixin

_HEX = frozenset("0123456789abcdef")


def check_digest(digest: str) -> None:
    """Refuse a blob key that is not a lowercase hex SHA-256 digest (as the SQLite store does)."""
    if len(digest) != 64 or not _HEX.issuperset(digest):
        raise StoreError(f"not a sha256 hex digest: {digest!r}")


class MemoryStore(MemoryEventsMixin, MemoryQueuesMixin, MemoryLogsMixin):
    """`Store` in this process's memory."""

    def __init__(self) -> None:
        MemoryEventsMixin.__init__(self)
        MemoryQueuesMixin.__init__(self)
        self._docs: dict[str, dict[str, bytes]] = {}
        self._blobs: dict[str, bytes] = {}
        self._logs: dict[str, list[LogEvent]] = {}
        self._log_ids = itertools.count(1)  # ids are never reused, as with AUTOINCREMENT

    async def open(self) -> None:
        """Nothing to open: the dicts exist from the start."""
        await yield_once()

    async def close(self) -> None:
        """Nothing to flush; the data stays readable until the object is dropped."""
        await yield_once()

    # -- documents ----------------------------------------------------------------------------
    async def get(self, kind: str, key: str) -> bytes | None:
        await yield_once()
        return self._docs.get(kind, {}).get(key)

    async def scan(self, kind: str, prefix: str = "") -> list[tuple[str, bytes]]:
        await yield_once()
        docs = self._docs.get(kind, {})
        # str order is code-point order, the same as SQLite's BINARY order of UTF-8 text.
        return [(k, docs[k]) for k in sorted(docs) if k.startswith(prefix)]

    async def transact(self, ops: Sequence[Op]) -> bool:
        ops = list(ops)
        await yield_once()
        for op in ops:
            if isinstance(op, Expect) and self._docs.get(op.kind, {}).get(op.key) != op.value:
                return False
        for op in ops:
            if isinstance(op, Put):
                self._docs.setdefault(op.kind, {})[op.key] = bytes(op.value)
            elif isinstance(op, Delete):
                self._docs.get(op.kind, {}).pop(op.key, None)
        return True

    # -- blobs --------------------------------------------------------------------------------
    async def put_blob(self, digest: str, data: bytes) -> None:
        check_digest(digest)
        await yield_once()
        if digest in self._blobs:
            return
        if hashlib.sha256(data).hexdigest() != digest:
            raise StoreError("blob digest mismatch")
        self._blobs[digest] = bytes(data)

    async def get_blob(self, digest: str) -> bytes | None:
        check_digest(digest)
        await yield_once()
        return self._blobs.get(digest)

    async def delete_blob(self, digest: str) -> None:
        check_digest(digest)
        await yield_once()
        self._blobs.pop(digest, None)

    # -- logs ---------------------------------------------------------------------------------
    async def append_logs(self, events: Sequence[LogEvent]) -> None:
        events = list(events)
        await yield_once()
        for e in events:
            stored = LogEvent(
                e.group, e.stream, e.timestamp_ms, e.message, next(self._log_ids), e.ingestion_ms
            )
            self._logs.setdefault(e.group, []).append(stored)

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
        await yield_once()
        matching = (
            e
            for e in self._logs.get(group, [])
            if e.event_id > after_id
            and start_ms <= e.timestamp_ms <= end
            and e.stream.startswith(stream_prefix)
        )
        return list(itertools.islice(matching, max(limit, 0)))

    async def trim_logs(self, group: str, keep: int) -> int:
        await yield_once()
        events = self._logs.get(group, [])
        removed = max(len(events) - max(keep, 0), 0)
        del events[:removed]
        return removed

    async def trim_log_bytes(self, group: str | None, keep_bytes: int) -> int:
        await yield_once()
        groups = [group] if group is not None else list(self._logs)
        newest_first = sorted(
            (
                (e.event_id, g, log_event_bytes(e.message))
                for g in groups
                for e in self._logs.get(g, [])
            ),
            reverse=True,
        )
        total, cut = 0, 0
        for event_id, _g, size in newest_first:
            total += size
            if total > keep_bytes:
                cut = event_id
                break
        removed = 0
        for g in groups:
            events = self._logs.get(g, [])
            kept = [e for e in events if e.event_id > cut]
            removed += len(events) - len(kept)
            self._logs[g] = kept
        return removed

    # -- storage lifecycle --------------------------------------------------------------------
    async def usage(self) -> StorageUsage:
        await yield_once()
        return StorageUsage(
            blobs={d: len(b) for d, b in sorted(self._blobs.items())},
            logs={
                g: sum(log_event_bytes(e.message) for e in events)
                for g, events in sorted(self._logs.items())
                if events
            },
            events=self._event_bytes(),
            queues=self._queue_bytes(),
            files={},
        )

    async def reclaim_space(self, max_bytes: int) -> int:
        await yield_once()
        return 0
