"""FIFO queue throughput against a standard queue: SendMessageBatch messages/s (10 per request,
content-based deduplication, 100 message groups) and receive + DeleteMessageBatch messages/s
draining a 20,000-message backlog, 4 clients each. The FIFO drain also checks that every group
came out in order.

Run: python bench/fifo_throughput.py
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import httpx

from common import percentiles, report, run_clients, running_node

MESSAGES = 20_000
CLIENTS = 4
GROUPS = 100
BATCH = 10


def call(http: httpx.Client, url: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"X-Amz-Target": f"AmazonSQS.{action}", "Content-Type": "application/x-amz-json-1.0"}
    answer = http.post(url + "/", json=body, headers=headers)
    answer.raise_for_status()
    return dict(answer.json())


def send_rows(url: str, queue: str, fifo: bool) -> dict[str, Any]:
    counter = itertools.count()
    lock = threading.Lock()

    def send(http: httpx.Client) -> None:
        with lock:
            numbers = [next(counter) for _ in range(BATCH)]
        entries = [{"Id": str(n), "MessageBody": f"{n % GROUPS}:{n}"} for n in numbers]
        if fifo:
            for e, n in zip(entries, numbers, strict=True):
                e["MessageGroupId"] = f"g{n % GROUPS}"
        out = call(http, url, "SendMessageBatch", {"QueueUrl": queue, "Entries": entries})
        assert "Failed" not in out, out

    per_client = MESSAGES // BATCH // CLIENTS
    latencies, wall = run_clients(CLIENTS, send, lambda made: made < per_client)
    sent = len(latencies) * BATCH
    return {
        "case": f"{'fifo' if fifo else 'standard'} send",
        "messages": sent,
        "messages_per_s": round(sent / wall),
        **percentiles(latencies),
    }


def drain_rows(url: str, queue: str, fifo: bool) -> dict[str, Any]:
    seen: list[tuple[int, int, int]] = []  # (group, number, receive order)
    lock = threading.Lock()
    order = itertools.count()
    empty_polls = [0]

    def drain(http: httpx.Client) -> None:
        got = call(http, url, "ReceiveMessage", {"QueueUrl": queue, "MaxNumberOfMessages": 10})
        messages = got.get("Messages", [])
        if not messages:
            with lock:
                empty_polls[0] += 1
            return
        with lock:
            at = next(order)
            for i, m in enumerate(messages):
                group, number = m["Body"].split(":")
                seen.append((int(group), int(number), at * 10 + i))
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        call(http, url, "DeleteMessageBatch", {"QueueUrl": queue, "Entries": entries})

    def more(_: int) -> bool:
        with lock:
            return len(seen) < MESSAGES and empty_polls[0] < 50

    latencies, wall = run_clients(CLIENTS, drain, more)
    in_order = "n/a"
    if fifo:
        by_group: dict[int, list[tuple[int, int]]] = {}
        for group, number, at in seen:
            by_group.setdefault(group, []).append((at, number))
        in_order = str(
            all([n for _, n in sorted(v)] == sorted(n for _, n in v) for v in by_group.values())
        )
    return {
        "case": f"{'fifo' if fifo else 'standard'} receive+delete",
        "messages": len(seen),
        "messages_per_s": round(len(seen) / wall),
        **percentiles(latencies),
        "groups_in_order": in_order,
    }


def main() -> None:
    with running_node() as url:
        rows: list[dict[str, Any]] = []
        with httpx.Client() as http:
            fifo = call(
                http,
                url,
                "CreateQueue",
                {
                    "QueueName": "bench.fifo",
                    "Attributes": {"FifoQueue": "true", "ContentBasedDeduplication": "true"},
                },
            )["QueueUrl"]
            standard = call(http, url, "CreateQueue", {"QueueName": "bench"})["QueueUrl"]
        for queue, is_fifo in ((standard, False), (fifo, True)):
            started = time.perf_counter()
            rows.append(send_rows(url, queue, is_fifo))
            rows.append(drain_rows(url, queue, is_fifo))
            rows[-1]["total_s"] = round(time.perf_counter() - started, 2)
        report("fifo_throughput", rows)


if __name__ == "__main__":
    main()
