"""A real node on `--store memory`: functions, async events and queues work; a restart forgets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from harness import NodeProcess, read_jsonl, wait_for

#: A handler that appends each event it sees to the file named by OUT_FILE.
RECORDER = """
import json, os

def handler(event, context):
    with open(os.environ["OUT_FILE"], "a") as fh:
        fh.write(json.dumps({"id": context.aws_request_id, "event": event}) + "\\n")
    return {"seen": event}
"""


@pytest.fixture
def memory_node(node_factory: Callable[..., NodeProcess]) -> NodeProcess:
    return node_factory("--store", "memory")


def test_functions_async_events_and_queues_run_on_the_memory_store(
    memory_node: NodeProcess, create_function: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    lam = memory_node.client("lambda")
    out = tmp_path / "seen.jsonl"
    name = create_function(
        {"app.py": RECORDER}, client=lam, Environment={"Variables": {"OUT_FILE": str(out)}}
    )["FunctionName"]

    sync = lam.invoke(FunctionName=name, Payload=b'{"n": 1}')
    assert json.loads(sync["Payload"].read()) == {"seen": {"n": 1}}
    queued = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 2}')
    assert queued["StatusCode"] == 202
    seen = wait_for(lambda: [r for r in read_jsonl(out) if r["event"] == {"n": 2}])
    assert seen[0]["id"] == queued["ResponseMetadata"]["RequestId"]

    sqs = memory_node.client("sqs")
    url = sqs.create_queue(QueueName="on-memory")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    (msg,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert msg["Body"] == "hello"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])


def test_a_restarted_memory_node_keeps_nothing(
    memory_node: NodeProcess, create_function: Callable[..., dict[str, Any]]
) -> None:
    lam = memory_node.client("lambda")
    name = create_function("basic", client=lam)["FunctionName"]
    memory_node.stop()
    memory_node.start()

    with pytest.raises(botocore.exceptions.ClientError) as err:
        lam.get_function(FunctionName=name)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
