"""Cold fan-out: a parent function async-invokes 50 children whose handlers `import boto3`,
on a default node; wall time from the parent's invoke until every child succeeded, first with
no warm environment (cold) and then again with the children's environments warm. Also the
Init Duration of one boto3-importing cold start, and how many children were retried (an init
that missed its 10 s limit is retried 60 s later).

Run: python bench/fanout_cold.py
"""

from __future__ import annotations

import json
import re
import time
from base64 import b64decode
from typing import Any

import httpx

from common import create, lambda_client, report, running_node

CHILDREN = 50
#: A typical handler: boto3 imported and a client made at init.
CHILD = """import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    return event["i"]
"""
#: The same with an init that needs 0.3 s of CPU besides.
CHILD_CPU = CHILD.replace(
    "\n\n\ndef handler",
    "\nimport time\nend = time.process_time() + 0.3\nwhile time.process_time() < end:\n"
    "    pass\n\n\ndef handler",
)
PARENT = """import json
import boto3

lam = boto3.client("lambda")


def handler(event, context):
    for i in range(event["n"]):
        lam.invoke(FunctionName=event["child"], InvocationType="Event",
                   Payload=json.dumps({"i": i}))
    return event["n"]
"""
#: Longest wait for a fan-out to finish (retries after an init timeout come 60 s later).
FANOUT_TIMEOUT_S = 300.0


def main() -> None:
    with running_node() as url:
        lam = lambda_client(url)
        create(lam, "solo", CHILD)
        got = lam.invoke(FunctionName="solo", Payload=b'{"i": 0}', LogType="Tail")
        tail = b64decode(got["LogResult"]).decode()
        init = re.search(r"Init Duration: ([\d.]+) ms", tail)
        create(lam, "parent", PARENT, Timeout=60)
        create(lam, "child", CHILD)
        create(lam, "child_cpu", CHILD_CPU)
        init_ms = float(init.group(1)) if init else None
        rows: list[dict[str, Any]] = [
            {"case": "one cold start importing boto3", "init_ms": init_ms}
        ]
        for child, what in (("child", "boto3 client"), ("child_cpu", "+ 0.3 s CPU")):
            for case in ("cold", "warm"):
                row = _fan_out(lam, url, child)
                rows.append({"case": f"fan-out of {CHILDREN}, {what}, {case}", **row})
        report("fanout_cold", rows)


def _fan_out(lam: Any, url: str, child: str) -> dict[str, Any]:
    before = _queue(url, child)
    t0 = time.perf_counter()
    event = {"n": CHILDREN, "child": child}
    lam.invoke(FunctionName="parent", Payload=json.dumps(event).encode())
    deadline = time.monotonic() + FANOUT_TIMEOUT_S
    while time.monotonic() < deadline:
        now = _queue(url, child)
        if now["succeeded"] - before["succeeded"] >= CHILDREN:
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    stats = httpx.get(url + "/lamina/v1/stats", timeout=10).json()["environments"]
    return {
        "wall_s": round(wall, 2),
        "succeeded": now["succeeded"] - before["succeeded"],
        "retried": now["retried"] - before["retried"],
        "inits_max_seen": stats.get("inits_max_seen"),
        "init_budget": stats.get("init_budget"),
    }


def _queue(url: str, child: str) -> dict[str, int]:
    got = httpx.get(f"{url}/lamina/v1/functions/{child}/async-queue", timeout=10).json()
    return {"succeeded": int(got.get("succeeded", 0)), "retried": int(got.get("retried", 0))}


if __name__ == "__main__":
    main()
