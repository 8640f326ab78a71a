"""Cluster figures: Event accept and fan-out drain on 1 and 2 nodes, Redis store vs SQLite, and
the warm sync invoke overhead the Redis store adds.

Each scenario starts its own nodes (and, for Redis, its own redis-server with `appendonly yes`,
`appendfsync always`, as docs/operations.md recommends), sends EVENTS Event invokes of a 10 ms
handler round-robin over the nodes from 8 threads, and waits until the queue is drained
(reserved concurrency 100). Short by design (this machine has 2 cores, shared): the table gives
per-core rates so runs on bigger machines compare.

Run: python bench/cluster.py [events] [most nodes]   (defaults: 2,000 events, 2 nodes; the
issue's figures use 10000 3)
     python bench/cluster.py warm [rounds]   only the warm invoke overhead, paired (below)

`warm` runs a SQLite node and a Redis node side by side and sends their calls in alternating
blocks of WARM_BLOCK, so both stores see the same moments of a noisy machine; each round is
WARM_CALLS calls per store, and the delta is taken per round (then its median over rounds).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from itertools import count

import httpx

from common import create, free_port, lambda_client, percentiles, report, run_clients, running_node

EVENTS = 2_000
#: Redis AOF fsync policy of the benchmark's redis-server (docs/operations.md recommends always).
APPENDFSYNC = "always"
SENDERS = 8
CONCURRENCY = 100
WARM_CALLS = 1_500
#: Calls in a row to one store in the paired warm mode (back to back, as a client would).
WARM_BLOCK = 10
HANDLER = "import time\n\ndef handler(event, context):\n    time.sleep(0.01)\n    return None\n"
NOOP = "def handler(event, context):\n    return event\n"


@contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server with AOF fsynced on every write, in a temporary directory."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--dir",
                tmp,
                "--appendonly",
                "yes",
                "--appendfsync",
                APPENDFSYNC,
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.3)  # redis-server answers within milliseconds; nodes retry at start
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


@contextmanager
def nodes(store: str, how_many: int) -> Iterator[list[str]]:
    with ExitStack() as stack:
        args = [] if store == "sqlite" else ["--store", stack.enter_context(redis_server())]
        yield [stack.enter_context(running_node(*args)) for _ in range(how_many)]


def fanout(store: str, how_many: int, events: int = EVENTS) -> dict[str, object]:
    with nodes(store, how_many) as urls:
        lam = lambda_client(urls[0])
        create(lam, "work", HANDLER, MemorySize=128)
        lam.put_function_concurrency(FunctionName="work", ReservedConcurrentExecutions=CONCURRENCY)
        turn = count()
        paths = [f"{u}/2015-03-31/functions/work/invocations" for u in urls]
        headers = {"X-Amz-Invocation-Type": "Event"}

        def send(http: httpx.Client) -> None:
            r = http.post(paths[next(turn) % len(paths)], content=b"{}", headers=headers)
            assert r.status_code == 202, r.text

        t0 = time.perf_counter()
        latencies, sent = run_clients(SENDERS, send, lambda n: n < events // SENDERS)
        while httpx.get(f"{urls[0]}/lamina/v1/functions/work/async-queue").json()["depth"]:
            time.sleep(0.02)
        wall = time.perf_counter() - t0
    cores = os.cpu_count() or 1
    return {
        "store": store,
        "nodes": how_many,
        "accepts_per_s": round(len(latencies) / sent),
        "accept_p50_ms": percentiles(latencies)["p50_ms"],
        "drain_wall_s": round(wall, 2),
        "events": len(latencies),
        "events_per_s": round(len(latencies) / wall),
        "events_per_s_per_core": round(len(latencies) / wall / cores),
    }


def warm_invoke(store: str) -> dict[str, object]:
    with nodes(store, 1) as (url,):
        create(lambda_client(url), "noop", NOOP)
        path = f"{url}/2015-03-31/functions/noop/invocations"
        samples: list[float] = []
        with httpx.Client(timeout=30) as http:
            for i in range(WARM_CALLS + 50):
                t0 = time.perf_counter()
                assert http.post(path, content=b"{}").status_code == 200
                if i >= 50:  # the first calls warm the environment and the connection
                    samples.append((time.perf_counter() - t0) * 1000)
    return {"store": store, "nodes": 1, "warm_invoke": f"x{WARM_CALLS}", **percentiles(samples)}


def warm_paired(rounds: int) -> list[dict[str, object]]:
    """Warm invokes of a SQLite node and a Redis node, alternated in blocks (module docstring)."""
    rows: list[dict[str, object]] = []
    with ExitStack() as stack:
        urls = {"sqlite": stack.enter_context(running_node())}
        redis_url = stack.enter_context(redis_server())
        urls["redis"] = stack.enter_context(running_node("--store", redis_url))
        paths = {}
        for store, url in urls.items():
            create(lambda_client(url), "noop", NOOP)
            paths[store] = f"{url}/2015-03-31/functions/noop/invocations"
        with httpx.Client(timeout=30) as http:
            for round_ in range(rounds):
                samples: dict[str, list[float]] = {"sqlite": [], "redis": []}
                for block in range(-5, WARM_CALLS // WARM_BLOCK):  # 5 blocks warm up first
                    order = ("sqlite", "redis") if block % 2 else ("redis", "sqlite")
                    for store in order:
                        for _ in range(WARM_BLOCK):
                            t0 = time.perf_counter()
                            assert http.post(paths[store], content=b"{}").status_code == 200
                            if block >= 0:
                                samples[store].append((time.perf_counter() - t0) * 1000)
                figures = {store: percentiles(samples[store]) for store in samples}
                for store, row in figures.items():
                    rows.append({"round": round_ + 1, "store": store, **row})
                delta = {k: round(figures["redis"][k] - figures["sqlite"][k], 3) for k in row}
                rows.append({"round": round_ + 1, "store": "redis - sqlite", **delta})
    return rows


def main() -> None:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    if sys.argv[1:2] == ["warm"]:
        rows = warm_paired(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
        report("cluster-warm", rows)
        deltas = sorted(float(str(r["p50_ms"])) for r in rows if r["store"] == "redis - sqlite")
        middle = deltas[len(deltas) // 2]
        print(f"\nwarm invoke p50, redis - sqlite, median over rounds: {middle:.3f} ms")
        return
    events = int(sys.argv[1]) if len(sys.argv) > 1 else EVENTS
    most = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    rows = [fanout("sqlite", 1, events)]
    rows += [fanout("redis", n, events) for n in range(1, most + 1)]
    rows += [warm_invoke("sqlite"), warm_invoke("redis")]
    report("cluster", rows)
    print(f"\nwarm invoke p50, redis - sqlite: {rows[-1]['p50_ms'] - rows[-2]['p50_ms']:.3f} ms")  # type: ignore[operator]


if __name__ == "__main__":
    main()
