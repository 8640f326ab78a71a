"""What the node reports about itself: invocation counters recorded on the invoke path, and
Prometheus metrics whose gauges are read from the concurrency book and the pool at scrape time.

Prometheus names follow the AWS/Lambda CloudWatch metrics with a `lamina_` prefix:
Invocations → `lamina_invocations_total`, Errors → `lamina_errors_total`, Throttles →
`lamina_throttles_total`, Duration → `lamina_duration_milliseconds` (histogram),
ConcurrentExecutions → `lamina_concurrent_executions` (per function) and
`lamina_account_concurrent_executions`, UnreservedConcurrentExecutions →
`lamina_unreserved_concurrent_executions`, ProvisionedConcurrencyUtilization →
`lamina_provisioned_concurrency_utilization`, ProvisionedConcurrencyInvocations /
SpilloverInvocations → `lamina_provisioned_concurrency_invocations_total` /
`lamina_provisioned_concurrency_spillover_invocations_total`; environments by state →
`lamina_environments{function, state}`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lamina.engine.concurrency import Concurrency
from lamina.engine.pool import Pool

#: Duration buckets in ms: 1 ms … 900 s (the longest Timeout).
DURATION_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
                       60_000, 300_000, 900_000)  # fmt: skip
#: Durations kept per function for the live percentiles (p50 / p99) of stats and the dashboard.
RECENT_DURATIONS = 512


class Telemetry:
    """Counters of one node, and the Prometheus registry that exposes them."""

    def __init__(self) -> None:
        self.invocations: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        #: The last `RECENT_DURATIONS` durations (ms) of each function, newest last.
        self.recent: dict[str, deque[float]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self._duration = Histogram(
            "lamina_duration_milliseconds",
            "Time handlers ran, in milliseconds (AWS/Lambda Duration)",
            ["function"],
            buckets=DURATION_BUCKETS_MS,
            registry=self.registry,
        )

    def invoked(self, function: str, duration_ms: float, error: bool) -> None:
        """Record one finished invocation (called once per run by the invoker)."""
        self.invocations[function] += 1
        if error:
            self.errors[function] += 1
        self._duration.labels(function).observe(duration_ms)
        recent = self.recent.get(function)
        if recent is None:
            recent = self.recent[function] = deque(maxlen=RECENT_DURATIONS)
        recent.append(duration_ms)

    def percentiles(self, function: str) -> tuple[float, float] | None:
        """(p50, p99) of the function's recent durations in ms, or None before its first run."""
        recent = sorted(self.recent.get(function, ()))
        if not recent:
            return None
        last = len(recent) - 1
        return recent[round(last * 0.5)], recent[round(last * 0.99)]

    def watch(self, concurrency: Concurrency, pool: Pool) -> None:
        self.registry.register(_Gauges(self, concurrency, pool))


class _Gauges(Collector):
    def __init__(self, telemetry: Telemetry, concurrency: Concurrency, pool: Pool) -> None:
        self.t = telemetry
        self.concurrency = concurrency
        self.pool = pool

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        c = self.concurrency.statistics()
        yield _per_function(CounterMetricFamily, "lamina_invocations",
                            "Invocations (AWS/Lambda Invocations)", self.t.invocations)  # fmt: skip
        yield _per_function(CounterMetricFamily, "lamina_errors",
                            "Invocations ending in a function error", self.t.errors)  # fmt: skip
        yield _per_function(CounterMetricFamily, "lamina_throttles",
                            "Throttled invocation requests", c.throttles)  # fmt: skip
        yield _per_function(GaugeMetricFamily, "lamina_concurrent_executions",
                            "Invocations running now", c.in_use)  # fmt: skip
        yield GaugeMetricFamily("lamina_account_concurrent_executions",
                                "Invocations running now, all functions",
                                value=sum(c.in_use.values()))  # fmt: skip
        yield GaugeMetricFamily("lamina_unreserved_concurrent_executions",
                                "Invocations running now in the unreserved pool",
                                value=c.unreserved_in_use)  # fmt: skip
        live = self.pool.provisioned_by_function()
        yield _per_function(GaugeMetricFamily, "lamina_provisioned_concurrency_utilization",
                            "Busy share of provisioned environments",
                            {f: busy / n for f, (n, busy) in live.items() if n})  # fmt: skip
        yield _per_function(CounterMetricFamily, "lamina_provisioned_concurrency_invocations",
                            "Invocations served by provisioned environments",
                            self.pool.provisioned_invocations)  # fmt: skip
        yield _per_function(
            CounterMetricFamily,
            "lamina_provisioned_concurrency_spillover_invocations",
            "Invocations of a provisioned version served on demand",
            self.pool.spillover_invocations,
        )
        envs = GaugeMetricFamily("lamina_environments", "Execution environments by state",
                                 labels=["function", "state"])  # fmt: skip
        for function, f in self.pool.statistics().functions.items():
            for state, n in (("starting", f.starting), ("idle", f.idle),
                             ("busy", f.busy)):  # fmt: skip
                envs.add_metric([function, state], n)
        yield envs


def _per_function(
    kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    doc: str,
    values: dict[str, int] | dict[str, float] | Counter[str],
) -> Metric:
    family = kind(name, doc, labels=["function"])
    for function, value in sorted(values.items()):
        family.add_metric([function], value)
    return family
