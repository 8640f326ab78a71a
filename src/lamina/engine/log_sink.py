"""Function logs on their way to the store: buffered, written in batches, trimmed to a bound.

Invocations only append to an in-memory buffer; a background task owned by the node writes
the buffer every `FLUSH_INTERVAL_S` (one commit for many invocations) and trims each log group
to its newest `MAX_EVENTS_PER_GROUP` events. Readers wait on `wait_new` to follow a group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from lamina.clock import Clock
from lamina.store.base import LogEvent, Store

log = logging.getLogger("lamina.logs")

#: One written log line, as readers get it.
LogLine = LogEvent

#: How often buffered log lines are written to the store.
FLUSH_INTERVAL_S = 0.1
#: Log events kept per log group; older ones are trimmed.
MAX_EVENTS_PER_GROUP = 20_000
#: Trim a group after this many new events.
TRIM_EVERY_EVENTS = 2_000


@dataclass(frozen=True)
class LogSinkStatistics:
    """Log lines waiting for the next write to the store."""

    buffered: int = 0


class LogSink:
    """Collects log lines of invocations and persists them in batches."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or Clock()
        self._buffer: list[LogEvent] = []
        self._since_trim: dict[str, int] = {}
        self._new = asyncio.Event()

    def add(self, group: str, stream: str, text: str, duration_ms: float = 0.0) -> None:
        """Queue the lines of `text` (one invocation's log) for `group`/`stream`.

        As on AWS, each line is one event: the lines up to the END line carry the time the
        invocation started (now - `duration_ms`; lines are not timed one by one), END and
        REPORT the time it ended.
        """
        now_ms = int(self.clock.time() * 1000)
        stamp = now_ms - int(duration_ms)
        for line in text.splitlines():
            if line.startswith("END RequestId: "):
                stamp = now_ms
            if line:
                self._buffer.append(LogEvent(group, stream, stamp, line, 0, now_ms))

    async def flush(self) -> None:
        """Write whatever is buffered, then trim groups that grew a lot."""
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        await self.store.append_logs(batch)
        for event in batch:
            self._since_trim[event.group] = self._since_trim.get(event.group, 0) + 1
        for group, count in list(self._since_trim.items()):
            if count >= TRIM_EVERY_EVENTS:
                self._since_trim[group] = 0
                await self.store.trim_logs(group, MAX_EVENTS_PER_GROUP)
        self._new.set()
        self._new = asyncio.Event()

    async def read(
        self, group: str, *, after_id: int, start_ms: int, limit: int
    ) -> Sequence[LogLine]:
        """Written lines of `group` after `after_id`, not older than `start_ms`."""
        return await self.store.read_logs(group, after_id=after_id, start_ms=start_ms, limit=limit)

    def statistics(self) -> LogSinkStatistics:
        return LogSinkStatistics(buffered=len(self._buffer))

    async def wait_new(self, timeout_s: float) -> None:
        """Return when new lines were written, or after `timeout_s`."""
        await self.clock.wait(self._new, timeout_s)

    async def run(self) -> None:
        """Flush forever (a background task of the node)."""
        while True:
            await self.clock.sleep(FLUSH_INTERVAL_S)
            try:
                await self.flush()
            except Exception:  # a failed write must not stop logging; it is reported
                log.exception("writing function logs failed")
