"""One environment's output stream (fds 1 and 2), cut into per-request segments, bounded.

The runtime writes a per-environment sentinel after each request's output; `OutputSplitter`
is fed the bytes as they arrive and queues one decoded segment per sentinel. A segment that
outgrows MAX_OUTPUT_BYTES keeps its first bytes and its last OUTPUT_TAIL_BYTES, with one line
in between saying how much was dropped, so a runaway print loop costs neither memory here
nor space in the log store.
"""

from __future__ import annotations

import collections

#: Most output bytes kept of one invocation (or init). AWS cuts each log event at 256 KB.
MAX_OUTPUT_BYTES = 1024 * 1024
#: Of MAX_OUTPUT_BYTES, how many are the output's end (what LogType Tail shows).
OUTPUT_TAIL_BYTES = 64 * 1024


class OutputSplitter:
    """Bytes in, segments (str) out; `segments` is the queue of finished ones."""

    def __init__(self, sentinel: bytes) -> None:
        self.sentinel = sentinel
        self.segments: collections.deque[str] = collections.deque()
        self._pending = bytearray()
        self._dropped = 0  # bytes cut from the middle of the pending segment

    def feed(self, chunk: bytes) -> bool:
        """Take `chunk`; True when it finished at least one segment."""
        pending = self._pending
        # Only the new bytes (and a sentinel's length before them) can hold a match.
        start = max(0, len(pending) - len(self.sentinel) + 1)
        pending += chunk
        found = False
        while (end := pending.find(self.sentinel, start)) >= 0:
            self.segments.append(self._segment(end))
            del pending[: end + len(self.sentinel)]
            start = 0
            found = True
        excess = len(pending) - MAX_OUTPUT_BYTES
        if excess > 0:
            head = MAX_OUTPUT_BYTES - OUTPUT_TAIL_BYTES
            del pending[head : head + excess]
            self._dropped += excess
        return found

    def rest(self) -> str:
        """Every queued segment and the unterminated rest (after the process died)."""
        parts = [*self.segments, self._segment(len(self._pending))]
        self.segments.clear()
        self._pending.clear()
        return "".join(parts)

    def _segment(self, end: int) -> str:
        pending = self._pending
        dropped, self._dropped = self._dropped, 0
        if not dropped:
            return pending[:end].decode("utf-8", "replace")
        head = MAX_OUTPUT_BYTES - OUTPUT_TAIL_BYTES
        notice = (
            f"\n[Lamina] {dropped} bytes of output dropped here: an invocation keeps at most"
            f" {MAX_OUTPUT_BYTES} bytes of log.\n"
        )
        return (
            pending[:head].decode("utf-8", "replace")
            + notice
            + pending[head:end].decode("utf-8", "replace")
        )
