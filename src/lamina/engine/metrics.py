"""Prometheus text for one snapshot: a custom collector in a registry of its own per scrape.

Names follow the AWS/Lambda CloudWatch metrics with a `lamina_` prefix: Invocations →
`lamina_invocations_total`, Errors → `lamina_errors_total`, Throttles →
`lamina_throttles_total`, Duration → `lamina_duration_milliseconds` (histogram),
ConcurrentExecutions → `lamina_concurrent_executions` (per function) and
`lamina_account_concurrent_executions`, UnreservedConcurrentExecutions →
`lamina_unreserved_concurrent_executions`, ProvisionedConcurrencyUtilization →
`lamina_provisioned_concurrency_utilization`, ProvisionedConcurrencyInvocations /
SpilloverInvocations → `lamina_provisioned_concurrency_invocations_total` /
`lamina_provisioned_concurrency_spillover_invocations_total`, AsyncEventsReceived /
AsyncEventsDropped → `lamina_async_events_received_total` / `lamina_async_events_dropped_total`,
RecursiveInvocationsDropped → `lamina_recursive_invocations_dropped_total`,
DestinationDeliveryFailures → `lamina_destination_delivery_failures_total`, DeadLetterErrors →
`lamina_dead_letter_errors_total`; environments by state → `lamina_environments{function,
state}`; inits running and waiting for a slot → `lamina_inits_running` /
`lamina_inits_waiting`; environments found dead and replaced →
`lamina_environments_replaced_total`; fork templates restarted →
`lamina_fork_template_restarts_total`; bytes stored → `lamina_storage_bytes{kind}` and
`lamina_function_storage_bytes{function, kind}`. The process-wide default registry is never
touched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import accumulate

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from lamina.engine.snapshot import Snapshot
from lamina.engine.storage import FUNCTION_KINDS, KINDS
from lamina.engine.telemetry import DURATION_BUCKETS_MS, InvocationStatistics

#: Bucket bounds as Prometheus writes them in the `le` label ("1000.0"), the last one `+Inf`.
_LE = (*(repr(float(b)) for b in DURATION_BUCKETS_MS), "+Inf")


def exposition(snapshot: Snapshot) -> bytes:
    """The Prometheus text format of `snapshot`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry)


class SnapshotCollector(Collector):
    """Yields every Lamina metric family from one snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.s = snapshot

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from _invocations(self.s.invocations)
        yield from self._concurrency()
        yield from self._provisioned()
        yield from self._async()
        yield from self._storage()
        envs = GaugeMetricFamily(
            "lamina_environments", "Execution environments by state", labels=["function", "state"]
        )
        for function, f in sorted(self.s.environments.functions.items()):
            for state, count in (("starting", f.starting), ("idle", f.idle), ("busy", f.busy)):
                envs.add_metric([function, state], count)
        yield envs
        pool = self.s.environments
        yield GaugeMetricFamily(
            "lamina_inits_running", "Inits running now", value=pool.inits_running
        )
        yield GaugeMetricFamily(
            "lamina_inits_waiting", "Callers waiting for an init slot", value=pool.inits_waiting
        )
        yield CounterMetricFamily(
            "lamina_environments_replaced",
            "Environments found dead (when picked, or before their handler ran) and replaced",
            value=pool.replaced,
        )
        yield CounterMetricFamily(
            "lamina_fork_template_restarts",
            "Fork-server templates started again after one died",
            value=pool.template_restarts,
        )

    def _concurrency(self) -> Iterator[Metric]:
        yield _per_function(
            CounterMetricFamily,
            "lamina_recursive_invocations_dropped",
            "Invocations stopped as recursive loops",
            self.s.recursive_dropped,
        )
        c = self.s.concurrency
        yield _per_function(
            CounterMetricFamily, "lamina_throttles", "Throttled invocation requests", c.throttles
        )
        yield _per_function(
            GaugeMetricFamily, "lamina_concurrent_executions", "Invocations running now", c.in_use
        )
        yield GaugeMetricFamily(
            "lamina_account_concurrent_executions",
            "Invocations running now, all functions",
            value=sum(c.in_use.values()),
        )
        yield GaugeMetricFamily(
            "lamina_unreserved_concurrent_executions",
            "Invocations running now in the unreserved pool",
            value=c.unreserved_in_use,
        )

    def _provisioned(self) -> Iterator[Metric]:
        p = self.s.provisioned
        yield _per_function(
            GaugeMetricFamily,
            "lamina_provisioned_concurrency_utilization",
            "Busy share of provisioned environments",
            {f: busy / n for f, (n, busy) in p.environments.items() if n},
        )
        yield _per_function(
            CounterMetricFamily,
            "lamina_provisioned_concurrency_invocations",
            "Invocations served by provisioned environments",
            p.invocations,
        )
        yield _per_function(
            CounterMetricFamily,
            "lamina_provisioned_concurrency_spillover_invocations",
            "Invocations of a provisioned version served on demand",
            p.spillover_invocations,
        )

    def _async(self) -> Iterator[Metric]:
        q, d = self.s.async_queue, self.s.destinations
        yield _per_function(
            CounterMetricFamily,
            "lamina_async_events_received",
            "Events queued for async invocation (AWS/Lambda AsyncEventsReceived)",
            q.received,
        )
        yield _per_function(
            CounterMetricFamily,
            "lamina_async_events_dropped",
            "Events dropped without a successful run (AWS/Lambda AsyncEventsDropped)",
            q.dropped,
        )
        yield CounterMetricFamily(
            "lamina_destination_delivery_failures",
            "Records not delivered to a destination (AWS/Lambda DestinationDeliveryFailures)",
            value=d.destination_delivery_failures,
        )
        yield CounterMetricFamily(
            "lamina_dead_letter_errors",
            "Events not sent to the dead-letter queue (AWS/Lambda DeadLetterErrors)",
            value=d.dead_letter_errors,
        )

    def _storage(self) -> Iterator[Metric]:
        st = self.s.storage
        if not st.totals:  # no housekeeping round yet
            return
        node = GaugeMetricFamily(
            "lamina_storage_bytes", "Bytes the node stores, by kind", labels=["kind"]
        )
        for kind in KINDS:
            node.add_metric([kind], st.totals.get(kind, 0))
        yield node
        per = GaugeMetricFamily(
            "lamina_function_storage_bytes",
            "Bytes stored for one function, by kind",
            labels=["function", "kind"],
        )
        for name, kinds in sorted(st.functions.items()):
            for kind in FUNCTION_KINDS:
                per.add_metric([name, kind], kinds.get(kind, 0))
        yield per


def _invocations(stats: InvocationStatistics) -> Iterator[Metric]:
    yield _per_function(
        CounterMetricFamily,
        "lamina_invocations",
        "Invocations (AWS/Lambda Invocations)",
        stats.invocations,
    )
    yield _per_function(
        CounterMetricFamily,
        "lamina_errors",
        "Invocations ending in a function error",
        stats.errors,
    )
    duration = HistogramMetricFamily(
        "lamina_duration_milliseconds",
        "Time handlers ran, in milliseconds (AWS/Lambda Duration)",
        labels=["function"],
    )
    for function, d in sorted(stats.durations.items()):
        buckets = list(zip(_LE, accumulate(d.counts), strict=True))
        duration.add_metric([function], buckets, sum_value=d.sum_ms)
    yield duration


def _per_function(
    kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    doc: str,
    values: Mapping[str, int] | Mapping[str, float],
) -> Metric:
    family = kind(name, doc, labels=["function"])
    for function, value in sorted(values.items()):
        family.add_metric([function], value)
    return family
