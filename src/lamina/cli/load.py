"""`lamina invoke NAME --count N --concurrency C`: many synchronous invocations at once, with
a progress bar, then a latency histogram and a table of outcomes (200, function errors,
throttles by reason, other errors)."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

#: Width in characters of the longest histogram bar.
HISTOGRAM_WIDTH = 40


@dataclass
class LoadResult:
    """Latencies (ms) and outcome counts of a run."""

    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str, latency_ms: float) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            self.latencies_ms.append(latency_ms)


def _one(client: Any, args: dict[str, Any]) -> str:
    from botocore.exceptions import ClientError

    try:
        out = client.invoke(**args)
        out["Payload"].read()
    except ClientError as exc:
        err = exc.response.get("Error", {})
        reason = exc.response.get("Reason")
        return f"{err.get('Code', 'Error')}{f' ({reason})' if reason else ''}"
    if out.get("FunctionError"):
        return f"{out['StatusCode']} {out['FunctionError']}"
    return str(out["StatusCode"])


def run_load(
    make_client: Any, args: dict[str, Any], count: int, concurrency: int, console: Console
) -> LoadResult:
    """Invoke `count` times with `concurrency` workers (one client each), showing progress."""
    result = LoadResult()
    local = threading.local()

    def task(_: int) -> None:
        if not hasattr(local, "client"):
            local.client = make_client()
        started = time.perf_counter()
        outcome = _one(local.client, args)
        result.add(outcome, (time.perf_counter() - started) * 1000)
        progress.advance(bar)

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    begun = time.perf_counter()
    with progress, ThreadPoolExecutor(concurrency, thread_name_prefix="lamina-invoke") as pool:
        bar = progress.add_task(f"invoking {args['FunctionName']}", total=count)
        list(pool.map(task, range(count)))
    result.wall_s = time.perf_counter() - begun
    return result


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * share))]


def histogram(latencies_ms: list[float]) -> Table:
    """Latencies in power-of-two buckets (ms), each with a bar and a count."""
    table = Table(title="latency", box=None, header_style="bold")
    table.add_column("≤ ms", justify="right")
    table.add_column("count", justify="right")
    table.add_column("")
    buckets: Counter[int] = Counter(
        2 ** max(0, math.ceil(math.log2(max(v, 1e-9)))) for v in latencies_ms
    )
    most = max(buckets.values(), default=1)
    for upper in sorted(buckets):
        n = buckets[upper]
        table.add_row(str(upper), str(n), "█" * max(1, round(n / most * HISTOGRAM_WIDTH)))
    return table


def summary(result: LoadResult) -> Table:
    """Outcomes with counts, then p50 / p90 / p99 / max and the rate."""
    table = Table(title="outcomes", box=None, header_style="bold")
    table.add_column("status")
    table.add_column("count", justify="right")
    for outcome, n in result.outcomes.most_common():
        table.add_row(outcome, str(n), style=None if outcome == "200" else "red")
    lat = result.latencies_ms
    if lat:
        table.add_section()
        for label, share in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
            table.add_row(label, f"{_percentile(lat, share):.1f} ms")
        table.add_row("rate", f"{len(lat) / max(result.wall_s, 1e-9):.1f}/s")
    return table
