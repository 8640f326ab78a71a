"""In-memory implementation of the log index (`LogIndex`): groups, streams, newest events."""

from __future__ import annotations

from lamina.store.base import LogEvent
from lamina.store.log_index import LogGroupInfo, LogStreamInfo
from lamina.store.memory_events import yield_once


def _size(events: list[LogEvent]) -> int:
    return sum(len(e.message.encode()) for e in events)


class MemoryLogsMixin:
    """LogIndex on MemoryStore's per-group event lists; mixed into MemoryStore."""

    _logs: dict[str, list[LogEvent]]

    async def log_groups(self) -> list[LogGroupInfo]:
        await yield_once()
        return [
            LogGroupInfo(group, min(e.ingestion_ms for e in events), _size(events))
            for group, events in sorted(self._logs.items())
            if events
        ]

    async def log_streams(self, group: str) -> list[LogStreamInfo]:
        await yield_once()
        streams: dict[str, list[LogEvent]] = {}
        for e in self._logs.get(group, []):
            streams.setdefault(e.stream, []).append(e)
        return [
            LogStreamInfo(
                name,
                min(e.timestamp_ms for e in events),
                max(e.timestamp_ms for e in events),
                max(e.ingestion_ms for e in events),
                _size(events),
            )
            for name, events in sorted(streams.items())
        ]

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
        await yield_once()
        newest: list[LogEvent] = []
        for e in reversed(self._logs.get(group, [])):
            if len(newest) >= max(limit, 0):
                break
            if (
                e.event_id < before
                and start_ms <= e.timestamp_ms <= end
                and (e.stream.startswith(stream_prefix))
            ):
                newest.append(e)
        return newest[::-1]
