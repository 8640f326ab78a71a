"""Queue throughput: SendMessageBatch messages/s (10 per request, each answer means committed)
from several clients, and how fast an event source mapping drains 20,000 messages into a
no-op Python function with batch size 10.

Send load comes from `wrk` when it is installed (apt-get install wrk), else from threads with
httpx clients; one row always uses boto3 threads, the way an application would send. The
drain starts when the (disabled) mapping is enabled and ends when the queue holds no message,
visible or in flight.

Run: python bench/queue_throughput.py
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import psutil
from botocore.config import Config

from common import create, lambda_client, node_pid, percentiles, report, run_clients, running_node

DURATION_S = 5
BATCH = 10
DRAIN_MESSAGES = 20_000
#: Event source mapping settings measured: (label, ScalingConfig.MaximumConcurrency or None).
DRAIN_CASES = [("default", None), ("max-concurrency-10", 10)]
NOOP = "def handler(event, context):\n    return None\n"
HEADERS = {
    "X-Amz-Target": "AmazonSQS.SendMessageBatch",
    "Content-Type": "application/x-amz-json-1.0",
}


def main() -> None:
    with running_node() as url:
        sqs = sqs_client(url)
        rows: list[dict[str, Any]] = []
        queue = sqs.create_queue(QueueName="send-bench")["QueueUrl"]
        body = batch_body(queue, "x" * 100)
        run = _wrk if shutil.which("wrk") else _threads
        rows += [run(url, body, clients) for clients in (1, 8)]
        rows.append(_boto3(url, queue, 4))
        accepted = sum(int(r["messages"]) for r in rows)
        stored = queue_depth(sqs, queue)
        # wrk stops with requests in flight that commit but are not counted: stored >= acked
        check = f"{stored} stored, {accepted} acknowledged"
        rows.append({"case": "check", "messages": check})
        if stored < accepted:
            raise RuntimeError(f"acknowledged messages are missing: {check}")
        lam = lambda_client(url)
        create(lam, "noop", NOOP, MemorySize=128, Timeout=30)
        node = psutil.Process(node_pid(url))
        rows += [_drain(url, lam, sqs, node, label, cap) for label, cap in DRAIN_CASES]
        report("queue_throughput", rows)


def sqs_client(url: str, pool: int = 16) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=pool, read_timeout=60),
    )


def batch_body(queue_url: str, text: str) -> bytes:
    entries = [{"Id": str(i), "MessageBody": f"{text}{i}"} for i in range(BATCH)]
    return json.dumps({"QueueUrl": queue_url, "Entries": entries}).encode()


def queue_depth(sqs: Any, queue_url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    got = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(got[n]) for n in names)


# -- SendMessageBatch -----------------------------------------------------------------------


def _wrk(url: str, body: bytes, clients: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "batch.lua"
        headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in HEADERS.items())
        script.write_text(f'wrk.method = "POST"\nwrk.body = [[{body.decode()}]]\n{headers}')
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(clients, 2)}",
                f"-c{clients}",
                f"-d{DURATION_S}s",
                "--latency",
                "-s",
                str(script),
                url + "/",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"SendMessageBatch failed under wrk:\n{out}")
    requests = int(_find(r"(\d+) requests in", out))
    rate = float(_find(r"Requests/sec:\s+([\d.]+)", out))
    lat = {p: _ms(_find(rf"\s{p}%\s+([\d.]+\w+)", out)) for p in ("50", "90", "99")}
    return {
        "case": f"send x{clients} connections",
        "generator": "wrk",
        "messages": requests * BATCH,
        "messages_per_s": round(rate * BATCH),
        "p50_ms": lat["50"],
        "p90_ms": lat["90"],
        "p99_ms": lat["99"],
    }


def _find(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"no {pattern!r} in wrk output:\n{text}")
    return found.group(1)


def _ms(text: str) -> float:
    """wrk's '812.00us' / '2.31ms' / '1.02s' in milliseconds."""
    number = float(_find(r"([\d.]+)", text))
    unit = text.lstrip("0123456789.")
    return round(number * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)


def _threads(url: str, body: bytes, clients: int) -> dict[str, Any]:
    stop_at = time.perf_counter() + DURATION_S

    def call(http: httpx.Client) -> None:
        response = http.post(url + "/", content=body, headers=HEADERS)
        assert response.status_code == 200 and b'"Failed":[]' in response.content, response.text

    latencies, wall = run_clients(clients, call, lambda _n: time.perf_counter() < stop_at)
    return {
        "case": f"send x{clients} connections",
        "generator": "httpx threads",
        "messages": len(latencies) * BATCH,
        "messages_per_s": round(len(latencies) * BATCH / wall),
        **percentiles(latencies),
    }


def _boto3(url: str, queue_url: str, threads: int) -> dict[str, Any]:
    stop_at = time.perf_counter() + DURATION_S
    client = sqs_client(url, pool=threads)
    entries = [{"Id": str(i), "MessageBody": "x" * 100} for i in range(BATCH)]
    latencies: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        mine: list[float] = []
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            out = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            mine.append((time.perf_counter() - t0) * 1000)
            assert not out.get("Failed"), out
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    return {
        "case": f"send x{threads} boto3 threads",
        "generator": "boto3",
        "messages": len(latencies) * BATCH,
        "messages_per_s": round(len(latencies) * BATCH / wall),
        **percentiles(latencies),
    }


# -- event source mapping drain -------------------------------------------------------------


def _preload(url: str, queue_url: str) -> None:
    body = batch_body(queue_url, '{"n": 1}')
    requests = DRAIN_MESSAGES // BATCH
    per_thread = requests // 4

    def send(http: httpx.Client) -> None:
        response = http.post(url + "/", content=body, headers=HEADERS)
        assert response.status_code == 200 and b'"Failed":[]' in response.content, response.text

    run_clients(4, send, lambda n: n < per_thread)


def _drain(
    url: str, lam: Any, sqs: Any, node: psutil.Process, label: str, cap: int | None
) -> dict[str, Any]:
    queue = sqs.create_queue(QueueName=f"drain-{label}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    _preload(url, queue)
    assert queue_depth(sqs, queue) == DRAIN_MESSAGES
    extra = {"ScalingConfig": {"MaximumConcurrency": cap}} if cap else {}
    mapping = lam.create_event_source_mapping(
        FunctionName="noop", EventSourceArn=arn, BatchSize=BATCH, Enabled=False, **extra
    )
    peak = {"processes": 0, "rss": 0}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(node, peak, stop), daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    while queue_depth(sqs, queue) > 0:
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    return {
        "case": f"drain {label}",
        "generator": "event source mapping",
        "messages": DRAIN_MESSAGES,
        "messages_per_s": round(DRAIN_MESSAGES / wall),
        "wall_s": round(wall, 2),
        "invocations_per_s": round(DRAIN_MESSAGES / BATCH / wall),
        "peak_child_processes": peak["processes"],
        "peak_rss_mb": round(peak["rss"] / 2**20),
    }


def _watch(node: psutil.Process, peak: dict[str, int], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            children = node.children(recursive=True)
            rss = sum(p.memory_info().rss for p in [node, *children] if p.is_running())
        except psutil.Error:
            continue
        peak["processes"] = max(peak["processes"], len(children))
        peak["rss"] = max(peak["rss"], rss)
        time.sleep(0.1)


if __name__ == "__main__":
    main()
