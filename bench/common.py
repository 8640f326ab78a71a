"""Shared by the benchmarks: start a node, make clients and functions, print and save results."""

from __future__ import annotations

import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

RESULTS = Path(__file__).parent / "results"
ROLE = "arn:aws:iam::000000000000:role/bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_node(*args: str, data_dir: Path | None = None) -> Iterator[str]:
    """A `lamina serve` in a temporary directory (its data in `data_dir` when given); yields
    its URL and stops it afterwards."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = open(Path(tmp) / "node.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lamina",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir or Path(tmp) / "data"),
                "--log-level",
                "warning",
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            else:
                raise RuntimeError("node did not start")
            yield url
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()


def node_pid(url: str) -> int:
    return int(httpx.get(url + "/lamina/v1/node", timeout=5).json()["pid"])


def lambda_client(url: str, pool: int = 32) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=pool, read_timeout=300),
    )


def create(client: Any, name: str, source: str, **kwargs: Any) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    kwargs.setdefault("Runtime", f"python3.{sys.version_info.minor}")
    client.create_function(
        FunctionName=name,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
        **kwargs,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pick(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {
        "p50_ms": round(pick(0.50), 3),
        "p90_ms": round(pick(0.90), 3),
        "p99_ms": round(pick(0.99), 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


def report(name: str, rows: list[dict[str, Any]]) -> None:
    """Print `rows` as a table and write them to bench/results/<name>.json."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    print("  ".join("-" * widths[k] for k in keys))
    for row in rows:
        print("  ".join(str(row.get(k, "")).ljust(widths[k]) for k in keys))
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "benchmark": name,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwritten: bench/results/{name}.json")


def run_clients(
    clients: int, call: Callable[[httpx.Client], None], more: Callable[[int], bool]
) -> tuple[list[float], float]:
    """Run `call` from `clients` threads (one keep-alive client each) while `more(calls made
    by that thread)` is true. Returns every call's latency (ms) and the wall time (s)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        mine: list[float] = []
        with httpx.Client(timeout=60) as http:
            while more(len(mine)):
                t0 = time.perf_counter()
                call(http)
                mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - t0
