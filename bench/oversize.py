"""Oversize traffic: node RSS while a stream of too-large requests and responses arrives.

Each wave sends ROUNDS requests of one kind; the node's RSS is sampled before and after each
wave (psutil on the node's pid). Before issue 13 a 500 MB body took the node from 45 MB to
over 1 GB; with the guard the node should stay flat, because it refuses by Content-Length,
stops reading streamed bodies at the limit and drops oversize function responses as they
arrive.

Run: python bench/oversize.py
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import psutil

from common import create, lambda_client, node_pid, report, running_node

ROUNDS = 10
#: Size of each oversize body and response.
OVERSIZE_BYTES = 200 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
#: How often the node's RSS is sampled during a wave.
SAMPLE_INTERVAL_S = 0.01


def _stream(total: int) -> Iterator[bytes]:
    chunk = b"a" * CHUNK_BYTES
    for _ in range(total // CHUNK_BYTES):
        yield chunk


def _rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


class PeakSampler:
    """Samples the node's RSS every SAMPLE_INTERVAL_S in a thread; `peak` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = _rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self.peak = max(self.peak, _rss_mb(self.pid))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    with running_node() as url:
        lam = lambda_client(url)
        create(lam, "big", "def handler(e, c):\n    return 'x' * e['n']\n", MemorySize=1024)
        pid = node_pid(url)
        invoke = f"{url}/2015-03-31/functions/big/invocations"
        waves = {
            "sync invoke, streamed 200 MB body": lambda: httpx.post(
                invoke, content=_stream(OVERSIZE_BYTES), timeout=60
            ),
            "event invoke, streamed 200 MB body": lambda: httpx.post(
                invoke,
                content=_stream(OVERSIZE_BYTES),
                timeout=60,
                headers={"X-Amz-Invocation-Type": "Event"},
            ),
            "CreateFunction, streamed 200 MB body": lambda: httpx.post(
                f"{url}/2015-03-31/functions", content=_stream(OVERSIZE_BYTES), timeout=60
            ),
            "function returns 200 MB": lambda: lam.invoke(
                FunctionName="big", Payload=b'{"n": %d}' % OVERSIZE_BYTES
            ),
        }
        rows = []
        for case, send in waves.items():
            before = _rss_mb(pid)
            with PeakSampler(pid) as sampler:
                for _ in range(ROUNDS):
                    send()
            rows.append(
                {
                    "case": case,
                    "rounds": ROUNDS,
                    "rss_before_mb": round(before, 1),
                    "rss_peak_mb": round(sampler.peak, 1),
                    "rss_after_mb": round(_rss_mb(pid), 1),
                }
            )
        report("oversize", rows)


if __name__ == "__main__":
    main()
