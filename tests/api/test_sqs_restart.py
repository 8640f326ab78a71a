"""Queues and messages survive a restart of the node, clean or `kill -9`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import NodeProcess, queue_counts, wait_for

NodeFactory = Callable[..., NodeProcess]
ACCOUNT = "000000000000"
ATTRIBUTES = {
    "trace": {"DataType": "String", "StringValue": "abc-1"},
    "blob": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
}


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Receive (without deleting) every message visible now."""
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=600,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return out
        out.extend(got)


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    return queue_counts(sqs, url)


@pytest.mark.parametrize("stop", [NodeProcess.kill9, NodeProcess.stop], ids=["kill9", "sigterm"])
def test_every_acknowledged_message_survives_a_restart(
    node_factory: NodeFactory, tmp_path: Path, stop: Callable[[NodeProcess], object]
) -> None:
    # Given queues with attributes and tags, 300 messages sent (each answer means committed),
    # some received (in flight), some deleted and some delayed
    first = node_factory(data_dir=tmp_path / "state")
    sqs = first.client("sqs")
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    policy = json.dumps(
        {"deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:dead", "maxReceiveCount": 5}
    )
    url = sqs.create_queue(
        QueueName="orders",
        Attributes={"VisibilityTimeout": "1", "RedrivePolicy": policy},
        tags={"team": "core"},
    )["QueueUrl"]
    sent: dict[str, dict[str, Any]] = {}
    for start in range(0, 300, 10):
        out = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"n": i}), "MessageAttributes": ATTRIBUTES}
                for i in range(start, start + 10)
            ],
        )
        assert not out.get("Failed")
        sent.update({e["MessageId"]: e for e in out["Successful"]})
    delayed = sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=3)
    single = sqs.send_message(QueueUrl=url, MessageBody="single")
    sent[single["MessageId"]] = single
    taken = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    deleted = taken[:5]
    for m in deleted:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    in_flight = {m["MessageId"] for m in taken[5:]}

    # When the node stops and a new one starts on the same data dir
    stop(first)
    second = node_factory(data_dir=first.data_dir)
    sqs = second.client("sqs")

    # Then the queues are there, with their attributes and tags
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "1"
    assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 5
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core"}
    assert sqs.get_queue_url(QueueName="dead")["QueueUrl"] == dlq.replace(first.url, second.url)

    # And every message not deleted is delivered, with its body, attributes and MD5s
    got: dict[str, dict[str, Any]] = {}
    expected = len(sent) - len(deleted) + 1

    def all_received() -> bool:
        for m in drain(sqs, url):
            got.setdefault(m["MessageId"], m)
        return len(got) >= expected

    wait_for(all_received, timeout=30, every=0.2)  # in-flight and delayed ones show up later
    assert set(got) == (set(sent) - {m["MessageId"] for m in deleted}) | {delayed["MessageId"]}
    for message_id, m in got.items():
        if message_id == delayed["MessageId"]:
            assert m["Body"] == "delayed"
            continue
        assert m["MD5OfBody"] == sent[message_id]["MD5OfMessageBody"]
        if message_id != single["MessageId"]:
            assert m["MessageAttributes"] == ATTRIBUTES
            assert m["MD5OfMessageAttributes"] == sent[message_id]["MD5OfMessageAttributes"]
    # And the messages in flight before the stop remember that receive
    for message_id in in_flight:
        assert int(got[message_id]["Attributes"]["ApproximateReceiveCount"]) >= 2


def test_deleted_queues_and_purged_messages_stay_gone_after_kill_9(
    node_factory: NodeFactory, tmp_path: Path
) -> None:
    first = node_factory(data_dir=tmp_path / "state")
    sqs = first.client("sqs")
    kept = sqs.create_queue(QueueName="kept")["QueueUrl"]
    gone = sqs.create_queue(QueueName="gone")["QueueUrl"]
    for url in (kept, gone):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(10)]
        )
    sqs.purge_queue(QueueUrl=kept)
    sqs.send_message(QueueUrl=kept, MessageBody="after purge")
    sqs.delete_queue(QueueUrl=gone)

    first.kill9()
    second = node_factory(data_dir=first.data_dir)
    sqs = second.client("sqs")

    assert [u.rsplit("/", 1)[-1] for u in sqs.list_queues()["QueueUrls"]] == ["kept"]
    kept = sqs.get_queue_url(QueueName="kept")["QueueUrl"]
    assert [m["Body"] for m in drain(sqs, kept)] == ["after purge"]
    assert counts(sqs, kept) == (0, 1, 0)
    # The name of the deleted queue is free again on the new node, with no leftovers
    gone = sqs.create_queue(QueueName="gone")["QueueUrl"]
    assert counts(sqs, gone) == (0, 0, 0)


def test_stopping_answers_open_long_polls_at_once(node_factory: NodeFactory) -> None:
    node = node_factory()
    sqs = node.client("sqs")
    url = sqs.create_queue(QueueName="quiet")["QueueUrl"]
    answers: list[Any] = []
    poller = threading.Thread(
        target=lambda: answers.append(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20))
    )
    poller.start()
    time.sleep(0.5)  # give the request time to reach the node; nothing answers it before stop
    assert node.stop() == 0
    poller.join()
    # answered (empty) by the stopping node; cut off at uvicorn's graceful timeout, the call
    # would have raised in the thread instead
    assert answers and "Messages" not in answers[0]
