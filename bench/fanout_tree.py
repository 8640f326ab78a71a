"""A two-level fan-out: a root function async-invokes 100 children with boto3 from inside its
handler (asyncio over a thread pool, as fan-out code does on AWS), each child async-invokes 100
leaves, and each of the 10,000 leaves sleeps 10 ms. Wall time from the root's invoke until the
last leaf succeeded, first cold (no environment of any of the three functions) and then warm,
on a default node; with the CPU time the node process spent (user / system) and what the rest
of the machine spent meanwhile (the environments, the fork template, this script).

Run: python bench/fanout_tree.py [CHILDREN] [LEAVES_PER_CHILD]   (defaults 100 100)
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import httpx

from common import create, lambda_client, node_pid, report, running_node

#: Sends `event["n"]` Event invokes of `event["target"]`, 16 at a time, from one handler.
FAN_OUT = """import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

lam = boto3.client("lambda", config=Config(max_pool_connections=16))


def send(target, body):
    lam.invoke(FunctionName=target, InvocationType="Event", Payload=json.dumps(body))


async def fan_out(event):
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(16) as pool:
        await asyncio.gather(*(
            loop.run_in_executor(pool, send, event["target"], {**event["next"], "i": i})
            for i in range(event["n"])
        ))


def handler(event, context):
    asyncio.run(fan_out(event))
    return event["n"]
"""
LEAF = """import time


def handler(event, context):
    time.sleep(0.01)
    return event["i"]
"""
#: Longest wait for one tree to finish.
TREE_TIMEOUT_S = 600.0
_TICKS = os.sysconf("SC_CLK_TCK")


def main() -> None:
    children = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    leaves = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with running_node() as url:
        lam = lambda_client(url)
        create(lam, "root", FAN_OUT, Timeout=120)
        create(lam, "child", FAN_OUT, Timeout=120)
        create(lam, "leaf", LEAF)
        pid = node_pid(url)
        rows = [_tree(lam, url, pid, children, leaves, case) for case in ("cold", "warm")]
        report("fanout_tree", rows)


def _tree(lam: Any, url: str, pid: int, children: int, leaves: int, case: str) -> dict[str, Any]:
    total = children * leaves
    before = _succeeded(url)
    node_before, machine_before = _node_cpu(pid), _machine_busy()
    leaf_level = {"target": "leaf", "n": leaves, "next": {}}
    event = {"target": "child", "n": children, "next": leaf_level}
    t0 = time.perf_counter()
    lam.invoke(FunctionName="root", Payload=json.dumps(event).encode())
    root_s = time.perf_counter() - t0
    deadline = time.monotonic() + TREE_TIMEOUT_S
    done = 0
    while time.monotonic() < deadline:
        done = _succeeded(url) - before
        if done >= total:
            break
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    node_user, node_sys = (a - b for a, b in zip(_node_cpu(pid), node_before, strict=True))
    others = _machine_busy() - machine_before - node_user - node_sys
    return {
        "case": f"{children} x {leaves} leaves, {case}",
        "wall_s": round(wall, 2),
        "root_sync_s": round(root_s, 2),
        "leaves_done": done,
        "leaves_per_s": round(done / wall),
        "node_user_s": round(node_user, 2),
        "node_sys_s": round(node_sys, 2),
        "rest_of_machine_s": round(others, 2),
    }


def _succeeded(url: str) -> int:
    got = httpx.get(f"{url}/lamina/v1/functions/leaf/async-queue", timeout=10).json()
    return int(got.get("succeeded", 0))


def _node_cpu(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process `pid` so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS


def _machine_busy() -> float:
    """CPU seconds every core spent not idle, since boot."""
    with open("/proc/stat") as stat:
        cpu = [int(x) for x in stat.readline().split()[1:]]
    idle = cpu[3] + cpu[4]  # idle, iowait
    return (sum(cpu[:8]) - idle) / _TICKS


if __name__ == "__main__":
    main()
