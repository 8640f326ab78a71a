"""Event source mappings: a queue feeding a function through a real node."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import NodeProcess, queue_counts, read_jsonl, wait_for

#: The shared-node tests run on both stores (tests/conftest.py: pytest_generate_tests).
STORES = ("sqlite", "redis")

Namer = Callable[[str], str]

CONSUMER = """
import json, os, time

def handler(event, context):
    start = time.time()
    time.sleep(float(os.environ.get("SLEEP", "0")))
    bodies = [json.loads(r["body"]) for r in event["Records"]]
    with open(os.environ["OUT_FILE"], "a") as fh:
        fh.write(json.dumps({"bodies": bodies, "start": start, "end": time.time(),
                             "ids": [r["messageId"] for r in event["Records"]],
                             "record": event["Records"][0]}) + "\\n")
    mode = os.environ.get("MODE", "ok")
    if mode == "fail":
        raise RuntimeError("cannot handle this batch")
    if mode == "partial":
        failed = [r["messageId"] for r in event["Records"] if json.loads(r["body"]) % 2]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
    return None
"""


def batches(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path)


@pytest.fixture
def sqs(node: NodeProcess) -> Any:
    return node.client("sqs")


def queue_arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


def consumer(create_function: Any, tmp_path: Path, **env: str) -> tuple[str, Path]:
    out = tmp_path / f"batches-{time.monotonic_ns()}.jsonl"
    variables = {"OUT_FILE": str(out), **env}
    cfg = create_function({"app.py": CONSUMER}, Timeout=10, Environment={"Variables": variables})
    return cfg["FunctionName"], out


def send_numbers(sqs: Any, url: str, numbers: range) -> None:
    items = list(numbers)
    for i in range(0, len(items), 10):
        entries = [{"Id": str(n), "MessageBody": json.dumps(n)} for n in items[i : i + 10]]
        assert not sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")


def test_hundred_messages_are_processed_exactly_once(
    lam: Any, sqs: Any, create_function: Any, tmp_path: Path, unique_name: Namer
) -> None:
    url = sqs.create_queue(QueueName=unique_name("orders"))["QueueUrl"]
    name, out = consumer(create_function, tmp_path)
    created = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=queue_arn(sqs, url), BatchSize=10
    )
    assert created["State"] == "Creating" and created["BatchSize"] == 10
    send_numbers(sqs, url, range(100))
    wait_for(lambda: sum(len(b["bodies"]) for b in batches(out)) >= 100)
    seen = Counter(n for b in batches(out) for n in b["bodies"])
    assert seen == Counter(range(100))
    record = batches(out)[0]["record"]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == queue_arn(sqs, url)
    assert record["awsRegion"] == "us-east-1" and record["attributes"]["ApproximateReceiveCount"]
    assert {"messageId", "receiptHandle", "body", "md5OfBody", "messageAttributes"} <= set(record)
    wait_for(lambda: queue_counts(sqs, url)[0] == 0)


def test_failing_handler_sends_messages_to_the_dead_letter_queue(
    lam: Any, sqs: Any, create_function: Any, tmp_path: Path, unique_name: Namer
) -> None:
    dlq = sqs.create_queue(QueueName=unique_name("orders-dlq"))["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": 2})
    url = sqs.create_queue(
        QueueName=unique_name("orders-failing"),
        Attributes={"VisibilityTimeout": "1", "RedrivePolicy": policy},
    )["QueueUrl"]
    name, out = consumer(create_function, tmp_path, MODE="fail")
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn(sqs, url))
    send_numbers(sqs, url, range(3))

    def dead() -> list[Any]:
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return got.get("Messages", [])

    moved: list[Any] = []
    wait_for(lambda: moved.extend(dead()) or len(moved) >= 3, timeout=40)
    assert sorted(json.loads(m["Body"]) for m in moved) == [0, 1, 2]
    result = lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"]
    assert result == "PROBLEM: Function call failed"
    tries = Counter(n for b in batches(out) for n in b["bodies"])
    assert all(tries[n] == 2 for n in range(3))


def test_partial_batch_failure_leaves_only_the_failed_messages(
    lam: Any, sqs: Any, create_function: Any, tmp_path: Path, unique_name: Namer
) -> None:
    attributes = {"VisibilityTimeout": "1"}
    url = sqs.create_queue(QueueName=unique_name("partial"), Attributes=attributes)["QueueUrl"]
    name, out = consumer(create_function, tmp_path, MODE="partial")
    mapping = lam.create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=queue_arn(sqs, url),
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    send_numbers(sqs, url, range(10))
    # Odd numbers fail every time: they come back; even ones are deleted after one try.
    wait_for(lambda: Counter(n for b in batches(out) for n in b["bodies"])[1] >= 3, timeout=30)
    # A run that returned a partial batch response succeeded, as AWS reports it.
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "OK"
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    tries = Counter(n for b in batches(out) for n in b["bodies"])
    assert all(tries[n] == 1 for n in range(0, 10, 2))
    assert all(tries[n] >= 2 for n in range(1, 10, 2))


def test_disabling_stops_consumption_and_enabling_resumes(
    lam: Any, sqs: Any, create_function: Any, tmp_path: Path, unique_name: Namer
) -> None:
    url = sqs.create_queue(QueueName=unique_name("toggle"))["QueueUrl"]
    name, out = consumer(create_function, tmp_path)
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn(sqs, url))
    disabled = lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    assert disabled["State"] == "Disabling"
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Disabled")
    send_numbers(sqs, url, range(5))
    time.sleep(1.5)  # a negative check: a disabled mapping must not consume
    assert batches(out) == []
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    wait_for(lambda: sum(len(b["bodies"]) for b in batches(out)) == 5)


def test_maximum_concurrency_is_never_exceeded(
    lam: Any, sqs: Any, create_function: Any, tmp_path: Path, unique_name: Namer
) -> None:
    url = sqs.create_queue(QueueName=unique_name("capped"))["QueueUrl"]
    name, out = consumer(create_function, tmp_path, SLEEP="0.3")
    lam.create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=queue_arn(sqs, url),
        BatchSize=1,
        ScalingConfig={"MaximumConcurrency": 2},
    )
    send_numbers(sqs, url, range(12))
    wait_for(lambda: sum(len(b["bodies"]) for b in batches(out)) >= 12, timeout=40)
    spans = [(b["start"], b["end"]) for b in batches(out)]
    peak = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert peak <= 2


def test_mapping_crud_validation_and_restart(
    node_factory: Callable[..., NodeProcess], create_function: Any, tmp_path: Path
) -> None:
    first = node_factory()
    lam, sqs = first.client("lambda"), first.client("sqs")
    url = sqs.create_queue(QueueName="kept")["QueueUrl"]
    arn = queue_arn(sqs, url)
    name = create_function({"app.py": CONSUMER}, client=lam)["FunctionName"]
    raw = first.client("lambda", parameter_validation=False)
    with pytest.raises(raw.exceptions.ClientError):
        raw.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=0)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=50)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.create_event_source_mapping(
            FunctionName=name, EventSourceArn="arn:aws:sqs:us-east-1:000000000000:missing"
        )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.create_event_source_mapping(FunctionName="nobody", EventSourceArn=arn)
    made = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, Enabled=False)
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    listed = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [made["UUID"]]
    first.stop()
    second = node_factory(data_dir=first.data_dir)
    again = second.client("lambda").get_event_source_mapping(UUID=made["UUID"])
    assert again["State"] == "Disabled" and again["EventSourceArn"] == arn
    assert (
        second.client("lambda").delete_event_source_mapping(UUID=made["UUID"])["State"]
        == "Deleting"
    )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        second.client("lambda").get_event_source_mapping(UUID=made["UUID"])


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_a_node_with_running_mappings_stops_cleanly_on_sigterm(
    store: str,
    node_factory: Callable[..., NodeProcess],
    own_redis_server: Any,
    create_function: Any,
) -> None:
    # Their receivers long-poll; at shutdown each must end, not spin on receives that no
    # longer wait (a Redis node used to be SIGKILLed after its 20 s stop timeout).
    args = ("--store", own_redis_server.url) if store == "redis" else ()
    node = node_factory(*args)
    lam, sqs = node.client("lambda"), node.client("sqs")
    name = create_function({"app.py": CONSUMER}, client=lam)["FunctionName"]
    for i in range(3):
        url = sqs.create_queue(QueueName=f"stop-{store}-{i}")["QueueUrl"]
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn(sqs, url))
    assert node.stop(timeout=10.0) == 0  # not killed after the timeout
