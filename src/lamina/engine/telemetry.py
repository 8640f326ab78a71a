"""Invocation counters recorded on the invoke path: Invocations, Errors and Duration.

The invoker calls `Telemetry.invoked` once per run; `statistics()` hands out a frozen copy,
which the node's snapshot (engine/snapshot.py) carries to `/lamina/v1/stats` and `/metrics`.
Durations are counted into fixed buckets here, so a scrape needs no shared registry; the
last few hundred of each function are also kept for the live p50 / p99 (stats, dashboard).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

#: Duration buckets in ms: 1 ms … 900 s (the longest Timeout).
DURATION_BUCKETS_MS: tuple[float, ...] = (
    *(1, 2, 5, 10, 25, 50, 100, 250, 500),
    *(1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000),
)
#: Durations kept per function for the live percentiles (p50 / p99).
RECENT_DURATIONS = 512


@dataclass(frozen=True)
class DurationStatistics:
    """Runs of one function by duration: `counts[i]` ran at most `DURATION_BUCKETS_MS[i]` and
    more than the bucket before; the last entry counts the runs longer than every bucket."""

    counts: tuple[int, ...]
    sum_ms: float

    @property
    def count(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class InvocationStatistics:
    """Invocations, function errors and durations per function since the node started."""

    invocations: Mapping[str, int] = field(default_factory=dict)
    errors: Mapping[str, int] = field(default_factory=dict)
    durations: Mapping[str, DurationStatistics] = field(default_factory=dict)
    #: (p50, p99) in ms of each function's last RECENT_DURATIONS runs.
    percentiles: Mapping[str, tuple[float, float]] = field(default_factory=dict)


class Telemetry:
    """Counters of the runs of one node (each node, and each test, owns its own)."""

    def __init__(self) -> None:
        self._invocations: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._buckets: dict[str, list[int]] = {}
        self._sum_ms: dict[str, float] = {}
        self._recent: dict[str, deque[float]] = {}

    def invoked(self, function: str, duration_ms: float, error: bool) -> None:
        """Record one finished invocation (called once per run by the invoker)."""
        self._invocations[function] += 1
        if error:
            self._errors[function] += 1
        buckets = self._buckets.get(function)
        if buckets is None:
            buckets = self._buckets[function] = [0] * (len(DURATION_BUCKETS_MS) + 1)
        buckets[bisect_left(DURATION_BUCKETS_MS, duration_ms)] += 1
        self._sum_ms[function] = self._sum_ms.get(function, 0.0) + duration_ms
        recent = self._recent.get(function)
        if recent is None:
            recent = self._recent[function] = deque(maxlen=RECENT_DURATIONS)
        recent.append(duration_ms)

    def statistics(self) -> InvocationStatistics:
        return InvocationStatistics(
            invocations=dict(self._invocations),
            errors=dict(self._errors),
            durations={
                f: DurationStatistics(tuple(counts), self._sum_ms[f])
                for f, counts in self._buckets.items()
            },
            percentiles={f: _p50_p99(recent) for f, recent in self._recent.items()},
        )


def _p50_p99(durations: deque[float]) -> tuple[float, float]:
    ordered = sorted(durations)
    last = len(ordered) - 1
    return ordered[round(last * 0.5)], ordered[round(last * 0.99)]
