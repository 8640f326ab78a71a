"""FIFO queues through a real node: attributes, message groups in order with one batch in flight
per group, deduplication by id or by content, SequenceNumber, FIFO dead-letter queues, kill -9."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqs_recorded import assert_error, call, shared_sqs_node, unique

from harness import NodeProcess, queue_counts, wait_for

__all__ = ["shared_sqs_node"]


@pytest.fixture(scope="module")
def sqs(shared_sqs_node: NodeProcess) -> Any:
    return shared_sqs_node.client("sqs")


def fifo_queue(sqs: Any, **attributes: str) -> str:
    name = f"{unique()}.fifo"
    return str(
        sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", **attributes})["QueueUrl"]
    )


def send(sqs: Any, url: str, body: str, group: str = "g", dedup: str | None = None) -> Any:
    extra = {"MessageDeduplicationId": dedup or body}
    return sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, **extra)


def bodies(sqs: Any, url: str, n: int = 10, **kwargs: Any) -> list[str]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, **kwargs)
    return [m["Body"] for m in got.get("Messages", [])]


def test_fifo_queue_attributes_show_their_defaults(sqs: Any) -> None:
    # AWS (test_fifo_set_content_based_deduplication_strategy): a FIFO queue shows FifoQueue
    # "true", DeduplicationScope "queue", FifoThroughputLimit "perQueue"; (test_set_unsupported_
    # attribute_fifo) FifoQueue "false" on it is InvalidAttributeValue "Invalid value for the
    # parameter FifoQueue. Reason: Modifying queue type is not supported."
    url = fifo_queue(sqs)
    shown = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert {
        k: shown[k]
        for k in (
            "FifoQueue",
            "ContentBasedDeduplication",
            "DeduplicationScope",
            "FifoThroughputLimit",
        )
    } == {
        "FifoQueue": "true",
        "ContentBasedDeduplication": "false",
        "DeduplicationScope": "queue",
        "FifoThroughputLimit": "perQueue",
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "true"})
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "ContentBasedDeduplication": "true",
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
        },
    )
    shown = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert shown["ContentBasedDeduplication"] == "true"
    assert shown["DeduplicationScope"] == "messageGroup"
    assert shown["FifoThroughputLimit"] == "perMessageGroupId"
    changed = call(sqs, "set_queue_attributes", QueueUrl=url, Attributes={"FifoQueue": "false"})
    assert_error(
        changed,
        400,
        "InvalidAttributeValue",
        None,
        "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.",
    )
    bad = call(
        sqs, "set_queue_attributes", QueueUrl=url, Attributes={"DeduplicationScope": "everywhere"}
    )
    assert_error(bad, 400, "InvalidAttributeValue", None, None)


def test_a_fifo_send_needs_a_group_and_a_deduplication_id(sqs: Any) -> None:
    # AWS (test_posting_to_fifo_requires_deduplicationid_group_id,
    # test_fifo_queue_send_message_with_delay_seconds_fails): the messages below.
    url = fifo_queue(sqs)
    no_dedup = call(sqs, "send_message", QueueUrl=url, MessageBody="m", MessageGroupId="g")
    no_group = call(sqs, "send_message", QueueUrl=url, MessageBody="m", MessageDeduplicationId="d")
    delayed = call(
        sqs,
        "send_message",
        QueueUrl=url,
        MessageBody="m",
        MessageGroupId="g",
        MessageDeduplicationId="d",
        DelaySeconds=2,
    )
    batch = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "m"}])

    assert_error(
        no_dedup,
        400,
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "The queue should either have ContentBasedDeduplication enabled or"
        " MessageDeduplicationId provided explicitly",
    )
    assert_error(
        no_group,
        400,
        "MissingParameter",
        "MissingRequiredParameterException",
        "The request must contain the parameter MessageGroupId.",
    )
    assert_error(
        delayed,
        400,
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "Value 2 for parameter DelaySeconds is invalid. Reason: The request include"
        " parameter that is not valid for this queue type.",
    )
    assert batch["Failed"][0]["Code"] == "MissingParameter"
    # DelaySeconds 0 means the queue's delay (test_fifo_queue_send_message_with_zero_delay...)
    zero = call(
        sqs,
        "send_message",
        QueueUrl=url,
        MessageBody="m",
        MessageGroupId="g",
        MessageDeduplicationId="d",
        DelaySeconds=0,
    )
    assert zero.status == 200 and zero.keys == {"MessageId", "MD5OfMessageBody", "SequenceNumber"}


def test_a_group_comes_in_order_with_one_batch_in_flight(sqs: Any) -> None:
    url = fifo_queue(sqs)
    for body in ("a1", "a2", "a3"):
        send(sqs, url, body, group="a")
    send(sqs, url, "b1", group="b")

    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    assert [m["Body"] for m in first] == ["a1", "a2"]
    # a3 is visible but its group has messages in flight: only group b answers
    assert bodies(sqs, url) == ["b1"]
    assert bodies(sqs, url) == []
    for m in first:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert bodies(sqs, url) == ["a3"]


def test_a_message_back_from_flight_comes_before_the_rest_of_its_group(sqs: Any) -> None:
    url = fifo_queue(sqs)
    for body in ("1", "2", "3"):
        send(sqs, url, body)
    (m,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert m["Body"] == "1"
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
    )
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
    assert [x["Body"] for x in got["Messages"]] == ["1", "2", "3"]
    assert got["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_system_attributes_and_sequence_numbers(sqs: Any) -> None:
    # AWS (test_fifo_message_attributes): SendMessage answers MD5OfMessageBody, MessageId and
    # SequenceNumber; a receive with All shows MessageDeduplicationId, MessageGroupId,
    # SequenceNumber besides the usual four.
    url = fifo_queue(sqs)
    first = send(sqs, url, "message-body-1", group="group-1", dedup="dedup-1")
    second = send(sqs, url, "message-body-2", group="group-1", dedup="dedup-2")
    (m,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]

    assert int(second["SequenceNumber"]) > int(first["SequenceNumber"])
    assert len(first["SequenceNumber"]) == 20
    assert m["Attributes"].keys() == {
        "ApproximateFirstReceiveTimestamp",
        "ApproximateReceiveCount",
        "MessageDeduplicationId",
        "MessageGroupId",
        "SenderId",
        "SentTimestamp",
        "SequenceNumber",
    }
    assert m["Attributes"]["MessageDeduplicationId"] == "dedup-1"
    assert m["Attributes"]["MessageGroupId"] == "group-1"
    assert m["Attributes"]["SequenceNumber"] == first["SequenceNumber"]


@pytest.mark.parametrize("content_based", [True, False])
def test_a_duplicate_arrives_once_even_after_the_first_was_deleted(
    sqs: Any, content_based: bool
) -> None:
    # AWS (test_fifo_deduplication_arrives_once_after_delete[True|False]): the second send of
    # the same message is accepted, and the next receive is empty.
    attributes = {"ContentBasedDeduplication": "true"} if content_based else {}
    url = fifo_queue(sqs, **attributes)
    item = '{"foo": "bar"}'
    dedup = {} if content_based else {"MessageDeduplicationId": "dedup1"}
    sent = sqs.send_message(QueueUrl=url, MessageBody=item, MessageGroupId="group-1", **dedup)
    (m,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    again = sqs.send_message(QueueUrl=url, MessageBody=item, MessageGroupId="group-1", **dedup)

    assert again["MessageId"] == sent["MessageId"]
    assert again["SequenceNumber"] == sent["SequenceNumber"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    if content_based:  # the SHA-256 of the body
        assert len(m["Attributes"]["MessageDeduplicationId"]) == 64


@pytest.mark.parametrize(("scope", "second_arrives"), [("queue", False), ("messageGroup", True)])
def test_deduplication_scope(sqs: Any, scope: str, second_arrives: bool) -> None:
    # AWS (test_sqs_fifo_same_dedup_id_different_message_groups, test_fifo_high_throughput_
    # ordering): the same id in another group is a duplicate with scope "queue" only.
    url = fifo_queue(sqs, DeduplicationScope=scope)
    send(sqs, url, "Test1", group="group1", dedup="same-dedup")
    send(sqs, url, "Test2", group="group2", dedup="same-dedup")
    assert bodies(sqs, url) == (["Test1", "Test2"] if second_arrives else ["Test1"])


def test_duplicates_within_one_batch_are_stored_once(sqs: Any) -> None:
    url = fifo_queue(sqs, ContentBasedDeduplication="true")
    out = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "MessageBody": "same", "MessageGroupId": "g"},
            {"Id": "b", "MessageBody": "same", "MessageGroupId": "g"},
            {"Id": "c", "MessageBody": "other", "MessageGroupId": "g"},
        ],
    )
    ids = {e["Id"]: e["MessageId"] for e in out["Successful"]}
    assert ids["a"] == ids["b"] != ids["c"] and "Failed" not in out
    assert bodies(sqs, url) == ["same", "other"]


def test_fifo_dead_letter_queues(sqs: Any) -> None:
    standard = sqs.create_queue(QueueName=unique())["QueueUrl"]
    dlq = fifo_queue(sqs)

    def arn(url: str) -> str:
        got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(got["Attributes"]["QueueArn"])

    def policy(target: str) -> dict[str, str]:
        return {
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn(target), "maxReceiveCount": 1})
        }

    mixed = call(
        sqs,
        "create_queue",
        QueueName=f"{unique()}.fifo",
        Attributes={"FifoQueue": "true", **policy(standard)},
    )
    assert_error(mixed, 400, "InvalidParameterValue", "InvalidParameterValueException", None)
    url = fifo_queue(sqs, **policy(dlq))
    send(sqs, url, "poison", group="g1")
    send(sqs, url, "next", group="g1")

    (m,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    assert m["Body"] == "poison"
    # The next receive moves it: its group continues with the following message
    assert bodies(sqs, url) == ["next"]
    (dead,) = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"]
    assert dead["Body"] == "poison"
    assert dead["Attributes"]["MessageGroupId"] == "g1"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == arn(url)


def test_fifo_messages_and_deduplication_survive_kill_9(
    node_factory: Callable[..., NodeProcess],
) -> None:
    node = node_factory()
    sqs = node.client("sqs")
    url = fifo_queue(sqs)
    for body in ("1", "2", "3"):
        send(sqs, url, body)
    node.kill9()

    again = node_factory(data_dir=node.data_dir, port=node.port)
    sqs = again.client("sqs")
    send(sqs, url, "1")  # a duplicate: remembered across the crash
    wait_for(lambda: queue_counts(sqs, url)[0] == 3)
    assert bodies(sqs, url) == ["1", "2", "3"]


def test_a_fifo_handle_whose_visibility_timeout_ran_out_deletes_nothing(sqs: Any) -> None:
    # AWS (test_fifo_delete_after_visibility_timeout): InvalidParameterValue, "Value <handle> for
    # parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."
    # (test_fifo_delete_after_visibility_timeout_extended): an extended one still deletes.
    url = fifo_queue(sqs, VisibilityTimeout="1", ContentBasedDeduplication="true")
    sqs.send_message(QueueUrl=url, MessageBody="foobar", MessageGroupId="1")
    sqs.send_message(QueueUrl=url, MessageBody="kept", MessageGroupId="2")
    first, second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=60
    )
    wait_for(lambda: queue_counts(sqs, url)[0] == 1, timeout=10)  # the first is back

    late = call(sqs, "delete_message", QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    extended = call(sqs, "delete_message", QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    batch = sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": "late", "ReceiptHandle": first["ReceiptHandle"]}]
    )

    assert_error(
        late,
        400,
        "InvalidParameterValue",
        "InvalidParameterValueException",
        f"Value {first['ReceiptHandle']} for parameter ReceiptHandle is invalid. Reason:"
        " The receipt handle has expired.",
    )
    assert extended.status == 200
    assert batch["Successful"] == [] and batch["Failed"][0]["Code"] == "InvalidParameterValue"
    assert queue_counts(sqs, url)[:2] == (1, 0)


@pytest.mark.parametrize(("extended", "expected"), [(0, []), (1, ["foo"]), (2, ["foo", "bar"])])
def test_a_group_gives_what_comes_before_its_first_message_in_flight(
    sqs: Any, extended: int, expected: list[str]
) -> None:
    # AWS (test_fifo_group_visibility_extends_with_change_message_visibility[0|1|2-visible]):
    # foo, bar, baz received together; the visibility of one is extended; once the others are
    # visible again, a receive gives [], ["foo"], ["foo", "bar"].
    url = fifo_queue(sqs, VisibilityTimeout="1")
    for body in ("foo", "bar", "baz"):
        send(sqs, url, body, group="1")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5)["Messages"]
    assert [m["Body"] for m in got] == ["foo", "bar", "baz"]
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=got[extended]["ReceiptHandle"], VisibilityTimeout=30
    )
    wait_for(lambda: queue_counts(sqs, url)[:2] == (2, 1), timeout=10)

    assert bodies(sqs, url) == expected
