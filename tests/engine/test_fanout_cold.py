"""A cold fan-out on a default node: 50 async children whose init imports boto3 and burns CPU
all succeed on their first attempt, and no more inits than the budget ever run at once."""

from __future__ import annotations

import json
from typing import Any

import httpx

from harness import NodeProcess, wait_for

CHILDREN = 50
CHILD = """import time
import boto3

sqs = boto3.client("sqs")
end = time.process_time() + 0.3
while time.process_time() < end:  # an init that needs 0.3 s of CPU
    pass


def handler(event, context):
    return event["i"]
"""
PARENT = """import json
import boto3

lam = boto3.client("lambda")


def handler(event, context):
    for i in range(event["n"]):
        lam.invoke(FunctionName=event["child"], InvocationType="Event",
                   Payload=json.dumps({"i": i}))
    return event["n"]
"""


def _get(node: NodeProcess, path: str) -> dict[str, Any]:
    return dict(httpx.get(f"{node.url}/lamina/v1/{path}", timeout=10).json())


def test_fifty_cold_children_succeed_first_time_within_the_init_budget(
    fresh_node: NodeProcess, create_function: Any, unique_name: Any
) -> None:
    lam = fresh_node.client("lambda")
    parent, child = unique_name("parent"), unique_name("child")
    create_function({"app.py": PARENT}, name=parent, client=lam, Timeout=60)
    create_function({"app.py": CHILD}, name=child, client=lam)
    got = lam.invoke(
        FunctionName=parent, Payload=json.dumps({"n": CHILDREN, "child": child}).encode()
    )
    assert "FunctionError" not in got, got["Payload"].read()

    queue = wait_for(
        lambda: (
            (q := _get(fresh_node, f"functions/{child}/async-queue"))["succeeded"] == CHILDREN and q
        ),
        timeout=180,
    )
    assert queue["retried"] == 0 and queue["dropped"] == 0
    envs = _get(fresh_node, "stats")["environments"]
    assert envs["init_budget"] >= 2
    assert 1 <= envs["inits_max_seen"] <= envs["init_budget"]
    assert envs["inits_running"] == 0 and envs["inits_waiting"] == 0
    logs = httpx.get(f"{fresh_node.url}/lamina/v1/functions/{child}/logs", timeout=10).text
    assert logs.count("REPORT RequestId") == CHILDREN and "INIT_REPORT" not in logs
