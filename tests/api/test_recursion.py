"""Recursive loop detection: a chain of invocations carries its lineage in the trace header
and is stopped after 16 hops unless the function's RecursiveLoop is Allow."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from harness import NodeProcess, read_jsonl, wait_for

LOOP = """import json
import os

import boto3

lam = boto3.client("lambda")


def handler(event, context):
    if event.get("sync"):
        try:
            got = lam.invoke(FunctionName=context.function_name, Payload=json.dumps(event))
        except lam.exceptions.RecursiveInvocationException as exc:
            return {"runs": 1, "stopped": exc.response["Error"]["Code"]}
        inner = json.loads(got["Payload"].read())
        return {"runs": inner["runs"] + 1, "stopped": inner["stopped"]}
    line = {"hop": event["hop"], "trace": os.environ["_X_AMZN_TRACE_ID"]}
    with open(event["out"], "a") as out:
        out.write(json.dumps(line) + "\\n")
    if event["hop"] < event["limit"]:
        lam.invoke(FunctionName=context.function_name, InvocationType="Event",
                   Payload=json.dumps({**event, "hop": event["hop"] + 1}))
"""


def _dropped(node: NodeProcess, name: str) -> int:
    text = httpx.get(f"{node.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("lamina_recursive_invocations_dropped_total") and f'"{name}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def test_an_async_self_loop_stops_after_16_hops_and_goes_to_the_dead_letter_queue(
    node: NodeProcess, create_function: Any, tmp_path: Path
) -> None:
    lam, sqs = node.client("lambda"), node.client("sqs")
    dlq = sqs.create_queue(QueueName=f"dlq-{tmp_path.name[-20:]}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    name = create_function(
        {"app.py": LOOP}, client=lam, Timeout=30, DeadLetterConfig={"TargetArn": dlq_arn}
    )["FunctionName"]
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
    out = tmp_path / "hops.jsonl"
    lam.invoke(FunctionName=name, Payload=json.dumps({"hop": 0, "limit": 40, "out": str(out)}))

    wait_for(lambda: _dropped(node, name) == 1, timeout=120)
    hops = read_jsonl(out)
    assert [h["hop"] for h in hops] == list(range(17))  # the first run and 16 hops
    assert hops[0]["trace"].endswith(":0") and hops[16]["trace"].endswith(":16")
    assert all("Lineage=" in h["trace"] and h["trace"].startswith("Root=1-") for h in hops)
    dead = wait_for(
        lambda: sqs.receive_message(
            QueueUrl=dlq, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages"),
        timeout=60,
    )[0]
    assert json.loads(dead["Body"])["hop"] == 17
    queue = httpx.get(f"{node.url}/lamina/v1/functions/{name}/async-queue", timeout=10).json()
    assert queue["dropped"] == 1 and queue["depth"] == 0


def test_with_allow_the_loop_goes_on(
    node: NodeProcess, create_function: Any, tmp_path: Path
) -> None:
    lam = node.client("lambda")
    name = create_function({"app.py": LOOP}, client=lam, Timeout=30)["FunctionName"]
    got = lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    assert got["RecursiveLoop"] == "Allow"
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"
    out = tmp_path / "hops.jsonl"
    lam.invoke(FunctionName=name, Payload=json.dumps({"hop": 0, "limit": 24, "out": str(out)}))

    wait_for(lambda: len(read_jsonl(out)) == 25, timeout=120)
    assert [h["hop"] for h in read_jsonl(out)] == list(range(25))
    assert _dropped(node, name) == 0


def test_a_sync_self_loop_gets_recursive_invocation_exception_at_hop_17(
    node: NodeProcess, create_function: Any
) -> None:
    lam = node.client("lambda")
    name = create_function({"app.py": LOOP}, client=lam, Timeout=60)["FunctionName"]
    got = lam.invoke(FunctionName=name, Payload=b'{"sync": true}')
    assert json.loads(got["Payload"].read()) == {
        "runs": 17,
        "stopped": "RecursiveInvocationException",
    }


def test_recursion_config_is_validated_and_needs_a_function(
    node: NodeProcess, create_function: Any
) -> None:
    lam = node.client("lambda")
    name = create_function(client=lam)["FunctionName"]
    with pytest.raises(ClientError) as bad:
        lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Sometimes")
    assert bad.value.response["Error"]["Code"] in (
        "InvalidParameterValueException",
        "ValidationException",
    )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_recursion_config(FunctionName=name + "-missing")
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    lam.delete_function(FunctionName=name)
    create_function(name=name, client=lam)
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"


#: A trace header of a caller 16 hops deep: an invocation it makes runs at hop 17.
DEEP_CALLER = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0;Lineage=1:a87bd80c:16"


def test_a_queued_events_lineage_survives_a_restart(
    node_factory: Callable[..., NodeProcess], create_function: Any, tmp_path: Path
) -> None:
    """The count travels with the event in the store: a node restarted (kill -9) between
    accept and run still stops the loop."""
    first = node_factory(data_dir=tmp_path / "state")
    lam = first.client("lambda")
    out = tmp_path / "hops.jsonl"
    name = create_function({"app.py": LOOP}, client=lam, Timeout=30)["FunctionName"]
    base = f"{first.url}/lamina/v1/functions/{name}/async-queue"
    httpx.post(base + "/pause", timeout=10).raise_for_status()
    event = {"hop": 17, "limit": 17, "out": str(out)}
    accepted = httpx.post(
        f"{first.url}/2015-03-31/functions/{name}/invocations",
        content=json.dumps(event),
        headers={"X-Amz-Invocation-Type": "Event", "X-Amzn-Trace-Id": DEEP_CALLER},
        timeout=10,
    )
    assert accepted.status_code == 202
    first.kill9()
    second = node_factory(data_dir=first.data_dir)
    httpx.post(f"{second.url}/lamina/v1/functions/{name}/async-queue/resume", timeout=10)
    wait_for(lambda: _dropped(second, name) == 1, timeout=60)
    assert not out.exists()  # stopped, never run


QUEUE_LOOP = """import json
import os

import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    for record in event["Records"]:
        body = json.loads(record["body"])
        with open(body["out"], "a") as out:
            out.write(json.dumps({"hop": body["hop"], "trace": os.environ["_X_AMZN_TRACE_ID"]}))
            out.write("\\n")
        again = {**body, "hop": body["hop"] + 1}
        sqs.send_message(QueueUrl=body["queue"], MessageBody=json.dumps(again))
"""


def test_a_loop_through_an_sqs_queue_is_stopped_after_16_hops(
    node: NodeProcess, create_function: Any, tmp_path: Path
) -> None:
    """A handler that sends to the queue feeding it: each message carries the sender's trace
    header (AWSTraceHeader), so the batch it starts runs one hop deeper, until the loop stops."""
    lam, sqs = node.client("lambda"), node.client("sqs")
    queue = sqs.create_queue(
        QueueName=f"loop-{tmp_path.name[-20:]}", Attributes={"VisibilityTimeout": "30"}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    name = create_function({"app.py": QUEUE_LOOP}, client=lam, Timeout=30)["FunctionName"]
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1)
    out = tmp_path / "hops.jsonl"
    first = {"hop": 0, "queue": queue, "out": str(out)}
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(first))

    wait_for(lambda: _dropped(node, name) >= 1, timeout=120)
    hops = read_jsonl(out)
    assert [h["hop"] for h in hops] == list(range(17))  # the first run and 16 hops
    assert hops[16]["trace"].endswith(":16")
