"""Warm sync invoke: 2,000 sequential no-op invocations over one keep-alive connection
(p50/p99 end to end, and node overhead = end to end minus the handler's own duration as the
node measured it), then throughput with 16 concurrent clients.

Run: python bench/warm_invoke.py
"""

from __future__ import annotations

import time

import httpx

from common import create, lambda_client, percentiles, report, run_clients, running_node

SEQUENTIAL = 2000
CLIENTS = 16
PER_CLIENT = 500


def main() -> None:
    with running_node() as url:
        create(lambda_client(url), "noop", "def handler(event, context):\n    return event\n")
        path = f"{url}/2015-03-31/functions/noop/invocations"
        with httpx.Client(timeout=30) as http:
            for _ in range(50):  # warm up one environment and the connection
                http.post(path, content=b"{}")
            base: list[float] = []
            for _ in range(SEQUENTIAL):
                t0 = time.perf_counter()
                http.get(url + "/health")
                base.append((time.perf_counter() - t0) * 1000)
            total: list[float] = []
            for _ in range(SEQUENTIAL):
                t0 = time.perf_counter()
                r = http.post(path, content=b"{}")
                total.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
        rows = [
            {"workload": f"GET /health x{SEQUENTIAL} (HTTP floor)", **percentiles(base)},
            {"workload": f"sequential invoke x{SEQUENTIAL}", **percentiles(total)},
            {
                "workload": "node overhead beyond HTTP (p50 invoke - p50 health)",
                "p50_ms": round(percentiles(total)["p50_ms"] - percentiles(base)["p50_ms"], 3),
            },
        ]
        rows.append(_concurrent(path))
        report("warm_invoke", rows)


def _concurrent(path: str) -> dict[str, object]:
    latencies, wall = run_clients(
        CLIENTS, lambda http: _ok(http.post(path, content=b"{}")), lambda n: n < PER_CLIENT
    )
    return {
        "workload": f"{CLIENTS} clients x{PER_CLIENT}",
        **percentiles(latencies),
        "invokes_per_s": round(len(latencies) / wall),
    }


def _ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text


if __name__ == "__main__":
    main()
