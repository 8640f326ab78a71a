"""The only source of time: a real clock, and a fake one that tests advance by hand."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock and monotonic time, in seconds."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)


class FakeClock(Clock):
    """A clock that moves only when `advance` is called."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds


def iso8601_ms(ts: float) -> str:
    """AWS's LastModified shape: ``2024-01-31T12:00:00.000+0000``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"
