"""The log-index part of the Store contract: which log groups and streams exist, and the
newest events of a group — what CloudWatch Logs' Describe* and backward reads need.

Groups and streams are not separate records: a group or stream exists while it holds
events (the sink trims old ones), as AWS creates them on the first line a function writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lamina.store.base import LogEvent


@dataclass(frozen=True, slots=True)
class LogGroupInfo:
    """One log group: its name, its oldest event's time and the bytes of its messages."""

    name: str
    created_ms: int
    stored_bytes: int


@dataclass(frozen=True, slots=True)
class LogStreamInfo:
    """One log stream of a group, with the times of its first and last events."""

    name: str
    first_event_ms: int
    last_event_ms: int
    last_ingestion_ms: int
    stored_bytes: int


class LogIndex(Protocol):
    """Reads over the stored log events, grouped the way CloudWatch Logs lists them."""

    async def log_groups(self) -> list[LogGroupInfo]:
        """Every group that holds events, ordered by name."""

    async def log_streams(self, group: str) -> list[LogStreamInfo]:
        """Every stream of `group` that holds events, ordered by name."""

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
        """The newest `limit` events of `group` with id < before_id and start_ms ≤ timestamp
        ≤ end_ms, returned in id order (oldest of them first)."""
