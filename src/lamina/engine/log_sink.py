"""Function logs on their way to the store: buffered, written in batches, bounded in bytes.

Invocations only append to an in-memory buffer; a background task owned by the node writes
the buffer every `FLUSH_INTERVAL_S` (one commit for many invocations). Retention is by bytes
(`log_event_bytes`: UTF-8 message plus 26 per line): a log group that grows past its cap
(`--log-retention-mb`) loses its oldest lines, and when every group together passes the node's
cap (`--log-retention-total-mb`) the oldest lines of any group go. Trims cut a tenth below the
cap so they run rarely. A write that fails (a full disk) keeps its lines buffered, up to
`MAX_BUFFERED_EVENTS`, and retries them on the next flush. Readers wait on `wait_new`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from lamina.clock import Clock
from lamina.config import DEFAULT_LOG_RETENTION_MB, DEFAULT_LOG_RETENTION_TOTAL_MB
from lamina.store.base import LogEvent, Store, log_event_bytes

log = logging.getLogger("lamina.logs")

#: One written log line, as readers get it.
LogLine = LogEvent

#: Longest log event kept, in characters; AWS truncates an event at 256 KB.
MAX_EVENT_CHARS = 262_144
#: How often buffered log lines are written to the store.
FLUSH_INTERVAL_S = 0.1
#: Lines kept in memory while the store refuses writes; beyond, the oldest are dropped.
MAX_BUFFERED_EVENTS = 50_000
#: A trim leaves this fraction of the cap, so the next one waits for a tenth of it to refill.
TRIM_TO = 0.9


@dataclass(frozen=True)
class LogSinkStatistics:
    """Log lines waiting for the next write to the store."""

    buffered: int = 0


class LogSink:
    """Collects log lines of invocations and persists them in batches."""

    def __init__(
        self,
        store: Store,
        clock: Clock | None = None,
        *,
        group_cap_bytes: int = DEFAULT_LOG_RETENTION_MB * 2**20,
        total_cap_bytes: int = DEFAULT_LOG_RETENTION_TOTAL_MB * 2**20,
    ) -> None:
        self.store = store
        self.clock = clock or Clock()
        self.group_cap_bytes = group_cap_bytes
        self.total_cap_bytes = total_cap_bytes
        self._buffer: list[LogEvent] = []
        self._bytes: dict[str, int] = {}  # per group; an upper bound between trims
        self._new = asyncio.Event()
        self.trimmed_events = 0
        self.dropped_events = 0

    async def start(self) -> None:
        """Learn how much every group holds, and trim what is already over a cap."""
        self._bytes = dict((await self.store.usage()).logs)
        await self._enforce(list(self._bytes))

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
                line = line[:MAX_EVENT_CHARS]
                self._buffer.append(LogEvent(group, stream, stamp, line, 0, now_ms))

    async def flush(self) -> None:
        """Write whatever is buffered, then trim groups over their cap."""
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        try:
            await self.store.append_logs(batch)
        except Exception:
            self._keep_for_retry(batch)
            raise
        grown: set[str] = set()
        for event in batch:
            self._bytes[event.group] = self._bytes.get(event.group, 0) + log_event_bytes(
                event.message
            )
            grown.add(event.group)
        await self._enforce(sorted(grown))
        self._new.set()
        self._new = asyncio.Event()

    async def read(
        self, group: str, *, after_id: int, start_ms: int, limit: int
    ) -> Sequence[LogLine]:
        """Written lines of `group` after `after_id`, not older than `start_ms`."""
        return await self.store.read_logs(group, after_id=after_id, start_ms=start_ms, limit=limit)

    def statistics(self) -> LogSinkStatistics:
        return LogSinkStatistics(buffered=len(self._buffer))

    def _keep_for_retry(self, batch: list[LogEvent]) -> None:
        kept = batch + self._buffer
        overflow = len(kept) - MAX_BUFFERED_EVENTS
        if overflow > 0:
            self.dropped_events += overflow
            log.warning("log store unavailable: %d buffered log lines dropped", overflow)
            kept = kept[overflow:]
        self._buffer = kept

    async def _enforce(self, groups: list[str]) -> None:
        for group in groups:
            if self._bytes.get(group, 0) > self.group_cap_bytes:
                keep = int(self.group_cap_bytes * TRIM_TO)
                self.trimmed_events += await self.store.trim_log_bytes(group, keep)
                self._bytes[group] = keep
        if sum(self._bytes.values()) > self.total_cap_bytes:
            keep = int(self.total_cap_bytes * TRIM_TO)
            self.trimmed_events += await self.store.trim_log_bytes(None, keep)
            self._bytes = dict((await self.store.usage()).logs)

    async def wait_new(self, timeout_s: float) -> None:
        """Return when new lines were written, or after `timeout_s`."""
        await self.clock.wait(self._new, timeout_s)

    async def run(self) -> None:
        """Flush forever (a background task of the node)."""
        failing = False
        while True:
            await self.clock.sleep(FLUSH_INTERVAL_S)
            try:
                await self.flush()
            except Exception as exc:  # a failed write must not stop logging; it is reported
                if not failing:
                    log.warning("writing function logs failed (kept for retry): %s", exc)
                failing = True
            else:
                if failing:
                    log.info("writing function logs works again")
                failing = False
