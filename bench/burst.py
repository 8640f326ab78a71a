"""Burst: 1,000 concurrent synchronous invocations of a 50 ms handler against a function with
reserved concurrency 100.

Three rounds on one node: cold (no environment exists: the pool scales 0 → 100), warm (the
100 environments from the cold round are idle), and provisioned (100 pre-initialised
environments on an alias). Each round fires all 1,000 calls at once from one asyncio client
(1,000 connections, opened before the start) and reports throughput of admitted calls,
throttles (429), p50/p99 latency of admitted calls, and for the cold round how long the pool
took to reach 100 live environments.

Run: python bench/burst.py
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from common import create, lambda_client, percentiles, report, running_node

CALLS = 1_000
RESERVED = 100
HANDLER = "import time\n\ndef handler(event, context):\n    time.sleep(0.05)\n    return None\n"


async def _post(host: str, port: int, path: str, start: asyncio.Event) -> tuple[int, float]:
    """One Invoke over its own connection, opened before the start signal: (status, ms).

    A bare HTTP/1.1 exchange on asyncio streams: Python HTTP clients spend more time per
    request than the node does, which would hide what is measured here.
    """
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    ).encode()
    await start.wait()
    t0 = time.perf_counter()
    writer.write(request)
    status_line = await reader.readline()
    await reader.read()  # headers and body until the server closes
    elapsed = (time.perf_counter() - t0) * 1000
    writer.close()
    return int(status_line.split()[1]), elapsed


async def burst(url: str, qualifier: str | None) -> dict[str, Any]:
    parts = urlsplit(url)
    path = "/2015-03-31/functions/burst/invocations"
    if qualifier:
        path += f"?Qualifier={qualifier}"
    start = asyncio.Event()
    tasks = [
        asyncio.create_task(_post(parts.hostname or "127.0.0.1", parts.port or 80, path, start))
        for _ in range(CALLS)
    ]
    await asyncio.sleep(1.0)  # every connection open and waiting at the start line
    t0 = time.perf_counter()
    start.set()
    results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    admitted = [ms for status, ms in results if status == 200]
    unexpected = [status for status, _ in results if status not in (200, 429)]
    if unexpected:
        raise RuntimeError(f"unexpected statuses: {unexpected[:5]}")
    return {
        "admitted": len(admitted),
        "throttled": sum(1 for status, _ in results if status == 429),
        "wall_s": round(wall, 3),
        "admitted_per_s": round(len(admitted) / wall),
        **percentiles(admitted),
    }


async def time_to_environments(url: str, count: int, timeout_s: float = 60) -> float | None:
    """Seconds until the node holds `count` live environments of `burst`, or None."""
    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=10) as client:
        while time.perf_counter() - t0 < timeout_s:
            stats = (await client.get(f"{url}/lamina/v1/stats")).json()
            live = stats["functions"].get("burst", {}).get("environments", {}).get("total", 0)
            if live >= count:
                return time.perf_counter() - t0
            await asyncio.sleep(0.01)
    return None


async def cold_round(url: str) -> dict[str, Any]:
    watcher = asyncio.create_task(time_to_environments(url, RESERVED))
    row = await burst(url, None)
    scaled = await watcher
    row["scale_to_100_s"] = round(scaled, 2) if scaled is not None else "n/a"
    return row


def main() -> None:
    rows: list[dict[str, Any]] = []
    with running_node("--account-concurrency", "1000") as url:
        lam = lambda_client(url)
        create(lam, "burst", HANDLER, MemorySize=128)
        lam.put_function_concurrency(FunctionName="burst", ReservedConcurrentExecutions=RESERVED)
        rows.append({"round": "cold (0 → 100 environments)", **asyncio.run(cold_round(url))})
        rows.append({"round": "warm (100 idle environments)", **asyncio.run(burst(url, None))})
        version = lam.publish_version(FunctionName="burst")["Version"]
        lam.create_alias(FunctionName="burst", Name="live", FunctionVersion=version)
        t0 = time.perf_counter()
        lam.put_provisioned_concurrency_config(
            FunctionName="burst", Qualifier="live", ProvisionedConcurrentExecutions=RESERVED
        )
        while True:
            cfg = lam.get_provisioned_concurrency_config(FunctionName="burst", Qualifier="live")
            if cfg["Status"] != "IN_PROGRESS":
                break
            time.sleep(0.05)
        ready_s = time.perf_counter() - t0
        row = asyncio.run(burst(url, "live"))
        rows.append(
            {
                "round": f"provisioned {cfg['AllocatedProvisionedConcurrentExecutions']}"
                f" ({cfg['Status']} in {ready_s:.2f} s)",
                **row,
            }
        )
    report("burst", rows)


if __name__ == "__main__":
    main()
