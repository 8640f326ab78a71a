"""The Store contract: one protocol every backend implements, and its record types.

Every write method returns only after its data is committed: durable against `kill -9` of the
node for a persistent backend (SQLite), and visible to every later call for the in-memory
reference backend, which keeps nothing across restarts. Backends read no clock (callers pass
`now`), translate driver errors into `StoreError` at their edge and add no public methods of
their own. tests/store/ holds the contract every backend passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from lamina.errors import StoreError
from lamina.store.events import EventStore
from lamina.store.log_index import LogIndex
from lamina.store.queues import QueueStore

__all__ = [
    "LOG_EVENT_OVERHEAD",
    "Delete",
    "Expect",
    "LogEvent",
    "Op",
    "Put",
    "StorageUsage",
    "Store",
    "StoreError",
    "log_event_bytes",
]

#: Bytes counted for each log event on top of its UTF-8 message (CloudWatch Logs counts 26).
LOG_EVENT_OVERHEAD = 26


@dataclass(frozen=True, slots=True)
class Put:
    """Write `value` under (kind, key), replacing what is there."""

    kind: str
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove (kind, key); a missing key is not an error."""

    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class Expect:
    """A condition: (kind, key) currently holds `value` (None: the key is absent)."""

    kind: str
    key: str
    value: bytes | None


Op = Put | Delete | Expect


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One log line of a function, as CloudWatch Logs would hold it."""

    group: str
    stream: str
    timestamp_ms: int
    message: str
    event_id: int = 0
    ingestion_ms: int = 0


def log_event_bytes(message: str) -> int:
    """What one log event counts towards retention: its UTF-8 message plus the overhead."""
    return len(message.encode("utf-8")) + LOG_EVENT_OVERHEAD


@dataclass(frozen=True, slots=True)
class StorageUsage:
    """Bytes a store holds, by kind. Sizes are of the data, not of the pages holding it."""

    blobs: dict[str, int]  # blob digest -> size
    logs: dict[str, int]  # log group -> sum of log_event_bytes over its events
    events: dict[str, int]  # function -> sum of payload sizes of its queued async events
    queues: dict[str, int]  # queue name -> sum of UTF-8 body + attribute bytes of its messages
    files: dict[str, int]  # backend files on disk ("database", "wal") -> size; {} in memory


class Store(EventStore, QueueStore, LogIndex, Protocol):
    """What the control plane and the engine need from durable storage."""

    async def open(self) -> None:
        """Open (creating or migrating as needed). Raises StoreError."""

    async def close(self) -> None:
        """Flush pending writes and release every resource."""

    # -- documents: the control-plane records ------------------------------------------------
    async def get(self, kind: str, key: str) -> bytes | None:
        """The value under (kind, key), or None."""

    async def scan(self, kind: str, prefix: str = "") -> list[tuple[str, bytes]]:
        """Every (key, value) of `kind` whose key starts with `prefix`, ordered by key."""

    async def transact(self, ops: Sequence[Op]) -> bool:
        """Apply `ops` atomically if every `Expect` holds; return False (writing nothing) if not.

        Returns only after commit. Idempotent when the expectations make it so.
        """

    # -- blobs: function code, content-addressed ---------------------------------------------
    async def put_blob(self, digest: str, data: bytes) -> None:
        """Store `data` under its hex SHA-256 `digest`. Idempotent; returns after commit."""

    async def get_blob(self, digest: str) -> bytes | None:
        """The bytes stored under `digest`, or None."""

    async def delete_blob(self, digest: str) -> None:
        """Forget `digest`; a missing blob is not an error."""

    # -- logs ---------------------------------------------------------------------------------
    async def append_logs(self, events: Sequence[LogEvent]) -> None:
        """Append log events; ids are assigned in commit order. Returns after commit."""

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
        """Events of `group` in id order with id > after_id and start_ms ≤ timestamp ≤ end_ms."""

    async def trim_logs(self, group: str, keep: int) -> int:
        """Keep only the newest `keep` events of `group`; return how many were removed."""

    async def trim_log_bytes(self, group: str | None, keep_bytes: int) -> int:
        """Remove the oldest events of `group` (of every group if None) until the events left
        add up to at most `keep_bytes` (`log_event_bytes` each); return how many were removed."""

    # -- storage lifecycle --------------------------------------------------------------------
    async def usage(self) -> StorageUsage:
        """What the store holds, by kind (see StorageUsage). Read-only."""

    async def reclaim_space(self, max_bytes: int) -> int:
        """Give at most `max_bytes` of space freed by deletes back to the file system, in one
        short step; return how many freed bytes are still held (0: none, always 0 in memory)."""
