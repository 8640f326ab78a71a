"""Async accept: Event invocations accepted per second and accept latency (each 202 means
the event is committed) with 1 and 8 client connections. The function's queue is paused so
only acceptance is measured.

Load comes from `wrk` when it is installed (apt-get install wrk): Python clients saturate
before the node does. Without wrk, threads with httpx clients are used, and the table says so.

Run: python bench/async_accept.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from common import create, lambda_client, percentiles, report, run_clients, running_node

DURATION_S = 5
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"n": 1}'
wrk.headers["X-Amz-Invocation-Type"] = "Event"
"""


def main() -> None:
    with running_node() as url:
        create(lambda_client(url), "sink", "def handler(event, context):\n    return None\n")
        httpx.post(f"{url}/lamina/v1/functions/sink/async-queue/pause", timeout=10)
        path = f"{url}/2015-03-31/functions/sink/invocations"
        run = _wrk if shutil.which("wrk") else _threads
        rows = [run(path, clients) for clients in (1, 8)]
        stats = httpx.get(f"{url}/lamina/v1/functions/sink/async-queue", timeout=10).json()
        accepted = sum(int(r["events"]) for r in rows)
        rows.append(
            {"clients": "check", "events": f"{stats['depth']} queued / {accepted} accepted"}
        )
        report("async_accept", rows)


def _wrk(path: str, clients: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "event.lua"
        script.write_text(WRK_SCRIPT)
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(clients, 2)}",
                f"-c{clients}",
                f"-d{DURATION_S}s",
                "--latency",
                "-s",
                str(script),
                path,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "90", "99")}  # type: ignore[union-attr]
    return {
        "clients": clients,
        "generator": "wrk",
        "events": total,
        "events_per_s": round(rate),
        "p50_ms": lat["50"],
        "p90_ms": lat["90"],
        "p99_ms": lat["99"],
    }


def _ms(text: str) -> float:
    """wrk's '812.00us' / '2.31ms' / '1.02s' in milliseconds."""
    number = float(re.match(r"[\d.]+", text).group(0))  # type: ignore[union-attr]
    unit = text.lstrip("0123456789.")
    return round(number * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)


def _threads(path: str, clients: int) -> dict[str, object]:
    stop_at = time.perf_counter() + DURATION_S
    headers = {"X-Amz-Invocation-Type": "Event"}

    def call(http: httpx.Client) -> None:
        response = http.post(path, content=b'{"n": 1}', headers=headers)
        assert response.status_code == 202, response.text

    latencies, wall = run_clients(clients, call, lambda _n: time.perf_counter() < stop_at)
    return {
        "clients": clients,
        "generator": "httpx threads",
        "events": len(latencies),
        "events_per_s": round(len(latencies) / wall),
        **percentiles(latencies),
    }


if __name__ == "__main__":
    main()
