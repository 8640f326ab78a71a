"""Fan-out drain: 10,000 Event invocations of a handler that sleeps 10 ms, with reserved
concurrency 100 — wall time from the first send to the last completion, and peak RSS of the
node plus its environments.

The events are sent by ApacheBench (`ab`, apt-get install apache2-utils) over 8 keep-alive
connections when it is installed, else by 8 threads with httpx clients (slower: the sender
then dominates the wall time, and the table says which was used).

Run: python bench/fanout_drain.py
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from common import create, lambda_client, node_pid, report, running_node

EVENTS = 10_000
SENDERS = 8
CONCURRENCY = 100
HANDLER = "import time\n\ndef handler(event, context):\n    time.sleep(0.01)\n    return None\n"


def main() -> None:
    with running_node("--account-concurrency", "1000") as url:
        lam = lambda_client(url)
        create(lam, "work", HANDLER, MemorySize=128)
        lam.put_function_concurrency(FunctionName="work", ReservedConcurrentExecutions=CONCURRENCY)
        node = psutil.Process(node_pid(url))
        peak = {"rss": 0}
        stop = threading.Event()
        threading.Thread(target=_watch_rss, args=(node, peak, stop), daemon=True).start()
        t0 = time.perf_counter()
        sender = _send_ab if shutil.which("ab") else _send_all
        sender(f"{url}/2015-03-31/functions/work/invocations")
        sent = time.perf_counter() - t0
        stats_url = f"{url}/lamina/v1/functions/work/async-queue"
        while True:
            stats = httpx.get(stats_url, timeout=10).json()
            if stats["depth"] == 0:
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        stop.set()
        report(
            "fanout_drain",
            [
                {
                    "events": EVENTS,
                    "sender": "ab" if sender is _send_ab else "httpx threads",
                    "concurrency": CONCURRENCY,
                    "send_s": round(sent, 2),
                    "drain_wall_s": round(wall, 2),
                    "events_per_s": round(EVENTS / wall),
                    "succeeded": stats["succeeded"],
                    "peak_rss_mb": round(peak["rss"] / 2**20),
                }
            ],
        )


def _send_ab(path: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "event.json"
        body.write_text("{}")
        subprocess.run(
            [
                "ab",
                "-q",
                "-k",
                "-n",
                str(EVENTS),
                "-c",
                str(SENDERS),
                "-p",
                str(body),
                "-T",
                "application/json",
                "-H",
                "X-Amz-Invocation-Type: Event",
                path,
            ],
            check=True,
            capture_output=True,
        )


def _send_all(path: str) -> None:
    per = EVENTS // SENDERS

    def sender() -> None:
        with httpx.Client(timeout=30) as http:
            for _ in range(per):
                r = http.post(path, content=b"{}", headers={"X-Amz-Invocation-Type": "Event"})
                assert r.status_code == 202, r.text

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _watch_rss(node: psutil.Process, peak: dict[str, int], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            procs = [node, *node.children(recursive=True)]
            total = sum(p.memory_info().rss for p in procs if p.is_running())
        except psutil.Error:
            continue
        peak["rss"] = max(peak["rss"], total)
        time.sleep(0.1)


if __name__ == "__main__":
    main()
