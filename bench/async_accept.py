"""Async accept: Event invocations accepted per second and accept latency (each 202 means
the event is committed to disk) with 1 and 8 client connections. The handler is paused via
the queue so only acceptance is measured.

Run: python bench/async_accept.py
"""

from __future__ import annotations

import threading
import time

import httpx

from common import create, lambda_client, percentiles, report, running_node

EVENTS_PER_CLIENT = {1: 3000, 8: 1500}


def main() -> None:
    with running_node() as url:
        create(lambda_client(url), "sink", "def handler(event, context):\n    return None\n")
        httpx.post(f"{url}/lamina/v1/functions/sink/async-queue/pause", timeout=10)
        path = f"{url}/2015-03-31/functions/sink/invocations"
        rows = [_run(path, clients, n) for clients, n in EVENTS_PER_CLIENT.items()]
        depth = httpx.get(f"{url}/lamina/v1/functions/sink/async-queue", timeout=10).json()["depth"]
        rows.append({"clients": "queued after run", "events": depth})
        report("async_accept", rows)


def _run(path: str, clients: int, per_client: int) -> dict[str, object]:
    latencies: list[float] = []
    lock = threading.Lock()
    headers = {"X-Amz-Invocation-Type": "Event"}

    def worker() -> None:
        mine = []
        with httpx.Client(timeout=30) as http:
            for i in range(per_client):
                t0 = time.perf_counter()
                r = http.post(path, content=b'{"n": %d}' % i, headers=headers)
                mine.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 202, r.text
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "events": len(latencies),
            "events_per_s": round(len(latencies) / wall), **percentiles(latencies)}  # fmt: skip


if __name__ == "__main__":
    main()
