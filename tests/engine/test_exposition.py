"""/metrics text from one snapshot: the Duration histogram counts as Prometheus's own would,
and the snapshot's records come out under their AWS names."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lamina.engine.async_queue import AsyncQueueStatistics
from lamina.engine.concurrency import ConcurrencyStatistics
from lamina.engine.destinations import DeliveryStatistics
from lamina.engine.log_sink import LogSinkStatistics
from lamina.engine.metrics import exposition
from lamina.engine.pool import PoolStatistics
from lamina.engine.provisioner import ProvisionedStatistics
from lamina.engine.snapshot import Snapshot
from lamina.engine.sources import SourceStatistics
from lamina.engine.storage import StorageStatistics
from lamina.engine.telemetry import DURATION_BUCKETS_MS, Telemetry
from lamina.queues.service import QueueServiceStatistics

DURATIONS_MS = (0.5, 1.0, 3.0, 2_000.0, 900_000.0, 10_000_000.0)


def snapshot(telemetry: Telemetry, **parts: Any) -> Snapshot:
    """A snapshot of an idle node that ran what `telemetry` counted, with `parts` replaced."""
    idle = Snapshot(
        at=0.0,
        functions=("f",),
        concurrency=ConcurrencyStatistics(10, 10, 0),
        environments=PoolStatistics(0, 0, 0, 0, 0, 0),
        provisioned=ProvisionedStatistics(),
        invocations=telemetry.statistics(),
        async_queue=AsyncQueueStatistics(),
        event_queues={},
        destinations=DeliveryStatistics(),
        sources=SourceStatistics(),
        queues=QueueServiceStatistics(),
        logs=LogSinkStatistics(),
        storage=StorageStatistics(),
    )
    return replace(idle, **parts)


def samples(text: bytes, prefix: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
        if s.name.startswith(prefix) and not s.name.endswith("_created")
    }


def test_duration_histogram_matches_prometheus_clients_own() -> None:
    telemetry = Telemetry()
    reference = CollectorRegistry()
    histogram = Histogram(
        "lamina_duration_milliseconds",
        "",
        ["function"],
        buckets=DURATION_BUCKETS_MS,
        registry=reference,
    )
    for ms in DURATIONS_MS:
        telemetry.invoked("f", ms, error=ms > 1_000)
        histogram.labels("f").observe(ms)
    ours = samples(exposition(snapshot(telemetry)), "lamina_duration")
    theirs = samples(generate_latest(reference), "lamina_duration")
    assert ours == theirs
    assert ours[("lamina_duration_milliseconds_bucket", (("function", "f"), ("le", "1.0")))] == 2


def test_delivery_failures_and_async_counters_use_aws_names() -> None:
    text = exposition(
        snapshot(
            Telemetry(),
            destinations=DeliveryStatistics(destination_delivery_failures=2, dead_letter_errors=3),
            async_queue=AsyncQueueStatistics(received={"f": 5}, dropped={"f": 1}),
        )
    )
    got = samples(text, "lamina_")
    assert got[("lamina_destination_delivery_failures_total", ())] == 2
    assert got[("lamina_dead_letter_errors_total", ())] == 3
    assert got[("lamina_async_events_received_total", (("function", "f"),))] == 5
    assert got[("lamina_async_events_dropped_total", (("function", "f"),))] == 1
