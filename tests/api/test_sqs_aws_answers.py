"""The differences from AWS that issue 17 lists, part 1: visibility, wildcards, dead-letter counts,
AWSTraceHeader, MessageGroupId, queue-URL requests — each checked against the answer recorded
from real AWS (quoted in each test), through boto3 and raw JSON requests against a real node."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from sqs_recorded import ACCOUNT, JSON, arn, assert_error, call, queue, raw, shared_sqs_node

from harness import NodeProcess, queue_counts, wait_for

__all__ = ["shared_sqs_node"]

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture(scope="module")
def sqs(shared_sqs_node: NodeProcess) -> Any:
    return shared_sqs_node.client("sqs")


# -- 1. ChangeMessageVisibility ---------------------------------------------------------------


def test_change_visibility_after_the_timeout_ran_out_is_accepted(sqs: Any) -> None:
    # AWS (test_change_message_visibility_after_visibility_timeout_expiration): 200, no body.
    url = queue(sqs, VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="test")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    wait_for(lambda: queue_counts(sqs, url)[0] == 1, timeout=10)  # visible again

    answer = call(
        sqs, "change_message_visibility", QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=60
    )

    assert answer.status == 200 and answer.keys == set()
    assert queue_counts(sqs, url)[:2] == (0, 1)  # hidden again by the late change


def test_change_visibility_of_a_deleted_message_is_invalid_parameter_value(sqs: Any) -> None:
    # AWS (test_change_visibility_on_deleted_message_raises_invalid_parameter_value):
    # InvalidParameterValue, "Value <handle> for parameter ReceiptHandle is invalid. Reason:
    # Message does not exist or is not available for visibility timeout change."
    url = queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="foo")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=42)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)

    answer = call(
        sqs, "change_message_visibility", QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=42
    )

    assert_error(
        answer,
        400,
        "InvalidParameterValue",
        "InvalidParameterValueException",
        f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not"
        " exist or is not available for visibility timeout change.",
    )


# -- 2. MessageAttributeNames wildcards -------------------------------------------------------


def test_message_attribute_names_take_wildcards_and_prefixes(sqs: Any) -> None:
    # AWS (test_receive_message_message_attribute_names_filters): "*", ".*" and "All" return
    # all three with MD5 4c360f3fdafd970e05fae2f149d997f5; ["Hel.*"] returns Hello and Help.Me
    # with MD5 83fee93c1bcd8b9a5a923ffacdc636c7; ["Foo", "Help"] returns none.
    url = queue(sqs, VisibilityTimeout="0")
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="msg",
        MessageAttributes={
            "Help.Me": {"DataType": "String", "StringValue": "Me"},
            "Hello": {"DataType": "String", "StringValue": "There"},
            "General": {"DataType": "String", "StringValue": "Kenobi"},
        },
    )
    assert sent["MD5OfMessageAttributes"] == "4c360f3fdafd970e05fae2f149d997f5"

    def names(wanted: list[str]) -> tuple[set[str], str | None]:
        (m,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=wanted)["Messages"]
        return set(m.get("MessageAttributes", {})), m.get("MD5OfMessageAttributes")

    everything = ({"Help.Me", "Hello", "General"}, "4c360f3fdafd970e05fae2f149d997f5")
    assert names(["All"]) == names(["*"]) == names([".*"]) == everything
    assert names(["Hel.*"]) == ({"Hello", "Help.Me"}, "83fee93c1bcd8b9a5a923ffacdc636c7")
    assert names(["Foo", "Help"]) == (set(), None)
    assert names(["Foo", "Hello"]) == ({"Hello"}, "a311262e065454b75da111d535b8dacd")


# -- 3. and 4. dead-letter receive counts, AWSTraceHeader ---------------------------------------


def test_dead_letter_receive_count_and_trace_header_carry_over(sqs: Any) -> None:
    # AWS (test_dead_letter_queue_message_attributes): maxReceiveCount 1; received once in
    # the source ("ApproximateReceiveCount": "1"), then on its first dead-letter receive
    # "ApproximateReceiveCount": "2", with AWSTraceHeader and DeadLetterQueueSourceArn.
    dlq = queue(sqs)
    policy = json.dumps({"deadLetterTargetArn": arn(sqs, dlq), "maxReceiveCount": 1})
    url = queue(sqs, RedrivePolicy=policy)
    sqs.send_message(
        QueueUrl=url,
        MessageBody="message-1",
        MessageSystemAttributes={"AWSTraceHeader": {"StringValue": TRACE, "DataType": "String"}},
        MessageAttributes={"MyAttribute": {"StringValue": "foobar", "DataType": "String"}},
    )
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, AttributeNames=["All"])
    assert first["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "1"
    assert first["Messages"][0]["Attributes"]["AWSTraceHeader"] == TRACE
    assert "Messages" not in sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)

    (dead,) = sqs.receive_message(
        QueueUrl=dlq, AttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=5
    )["Messages"]

    assert dead["Attributes"]["ApproximateReceiveCount"] == "2"
    assert dead["Attributes"]["AWSTraceHeader"] == TRACE
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == arn(sqs, url)
    assert dead["MD5OfMessageAttributes"] == "adb59cd4678ea5a855436b949cd07ab6"


def test_trace_header_comes_from_the_x_amzn_trace_id_header(sqs: Any) -> None:
    # AWS (test_aws_trace_header_propagation): asked for ["SentTimestamp", "AWSTraceHeader"],
    # the message shows exactly those two, the trace header as the request carried it.
    header = "Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1"
    url = queue(sqs)

    def add_header(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = header

    sqs.meta.events.register("before-send.sqs.SendMessage", add_header)
    try:
        sqs.send_message(QueueUrl=url, MessageBody="test")
    finally:
        sqs.meta.events.unregister("before-send.sqs.SendMessage", add_header)
    (m,) = sqs.receive_message(
        QueueUrl=url, AttributeNames=["SentTimestamp", "AWSTraceHeader"], WaitTimeSeconds=2
    )["Messages"]

    assert m["Attributes"].keys() == {"SentTimestamp", "AWSTraceHeader"}
    assert m["Attributes"]["AWSTraceHeader"] == header


def test_trace_header_as_a_system_attribute_gets_its_md5(sqs: Any) -> None:
    url = queue(sqs)
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="x",
        MessageSystemAttributes={"AWSTraceHeader": {"StringValue": TRACE, "DataType": "String"}},
    )
    bad = call(
        sqs,
        "send_message",
        QueueUrl=url,
        MessageBody="x",
        MessageSystemAttributes={"Colour": {"StringValue": "red", "DataType": "String"}},
    )

    assert len(sent["MD5OfMessageSystemAttributes"]) == 32
    assert_error(bad, 400, "InvalidParameterValue", "InvalidParameterValueException", None)


# -- 5. MessageGroupId on standard queues -----------------------------------------------------


def test_standard_queues_take_a_message_group_id(sqs: Any) -> None:
    # AWS (test_fair_queue_with_message_group_id): 200 with MessageId and MD5OfMessageBody
    # only; the receive with AttributeNames ["All"] shows "MessageGroupId": "test".
    url = queue(sqs)
    sent = call(sqs, "send_message", QueueUrl=url, MessageBody="message", MessageGroupId="test")
    (m,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]

    assert sent.status == 200 and sent.keys == {"MessageId", "MD5OfMessageBody"}
    assert m["Attributes"]["MessageGroupId"] == "test"
    assert m["Attributes"].keys() == {
        "ApproximateFirstReceiveTimestamp",
        "ApproximateReceiveCount",
        "MessageGroupId",
        "SenderId",
        "SentTimestamp",
    }


@pytest.mark.parametrize("group", ["", "group 123", "a" * 129])
def test_an_invalid_message_group_id_is_refused(sqs: Any, group: str) -> None:
    # AWS (test_send_message_to_standard_queue_with_invalid_message_group_id[empty|spaces|
    # too_long]): InvalidParameterValue, "Value <id> for parameter MessageGroupId is invalid.
    # Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to
    # 128 in length."
    url = queue(sqs)
    answer = call(sqs, "send_message", QueueUrl=url, MessageBody="m", MessageGroupId=group)
    assert_error(
        answer,
        400,
        "InvalidParameterValue",
        "InvalidParameterValueException",
        f"Value {group} for parameter MessageGroupId is invalid. Reason: MessageGroupId"
        " can only include alphanumeric and punctuation characters. 1 to 128 in length.",
    )


# -- 6. JSON requests POSTed to the queue URL -------------------------------------------------


def test_json_requests_posted_to_the_queue_url_are_served(shared_sqs_node: NodeProcess) -> None:
    # AWS (test_send_message_via_queue_url_with_json_protocol): a client whose endpoint is the
    # queue URL (as the PHP SDK does) gets 200, content-type application/x-amz-json-1.0.
    sqs = shared_sqs_node.client("sqs")
    url = queue(sqs)
    at_url = boto3.client(
        "sqs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    direct = raw(
        shared_sqs_node,
        "SendMessage",
        {"QueueUrl": url, "MessageBody": "hi"},
        path=f"/{ACCOUNT}/{url.rsplit('/', 1)[-1]}",
    )

    got = at_url.receive_message(QueueUrl=url, WaitTimeSeconds=1)

    assert direct.status_code == 200 and direct.headers["content-type"] == JSON
    assert direct.json()["MD5OfMessageBody"] == "49f68a5c8493ec2c0bf489821c21fc3b"
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["ResponseMetadata"]["HTTPHeaders"]["content-type"] == JSON
    assert got["Messages"][0]["Body"] == "hi"
