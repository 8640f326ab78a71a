"""The differences from AWS that issue 17 lists, each checked against the answer recorded from
real AWS (quoted in each test), through boto3 and raw JSON requests against a real node."""

from __future__ import annotations

import json
from typing import Any

import boto3
import httpx
import pytest
from sqs_recorded import ACCOUNT, assert_error, call, shared_sqs_node, unique

from conftest import NodeProcess, queue_counts, wait_for

__all__ = ["shared_sqs_node"]

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
JSON = "application/x-amz-json-1.0"


@pytest.fixture(scope="module")
def sqs(shared_sqs_node: NodeProcess) -> Any:
    return shared_sqs_node.client("sqs")


def new_queue(sqs: Any, **attributes: str) -> str:
    return str(sqs.create_queue(QueueName=unique(), Attributes=attributes)["QueueUrl"])


def arn(sqs: Any, url: str) -> str:
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(got["Attributes"]["QueueArn"])


def raw(node: NodeProcess, action: str, body: dict[str, Any], path: str = "/") -> httpx.Response:
    headers = {"X-Amz-Target": f"AmazonSQS.{action}", "Content-Type": JSON}
    return httpx.post(node.url + path, json=body, headers=headers, timeout=10)


# -- 1. ChangeMessageVisibility ---------------------------------------------------------------


def test_change_visibility_after_the_timeout_ran_out_is_accepted(sqs: Any) -> None:
    # AWS (test_change_message_visibility_after_visibility_timeout_expiration): 200, no body.
    url = new_queue(sqs, VisibilityTimeout="1")
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
    url = new_queue(sqs)
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
    url = new_queue(sqs, VisibilityTimeout="0")
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
    dlq = new_queue(sqs)
    policy = json.dumps({"deadLetterTargetArn": arn(sqs, dlq), "maxReceiveCount": 1})
    url = new_queue(sqs, RedrivePolicy=policy)
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
    url = new_queue(sqs)

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
    url = new_queue(sqs)
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
    url = new_queue(sqs)
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
    url = new_queue(sqs)
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
    url = new_queue(sqs)
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


# -- 7. FifoQueue "false", a queue as its own DLQ, the second purge -----------------------------


def test_fifo_attributes_on_a_standard_queue_are_unknown(sqs: Any) -> None:
    # AWS (test_create_standard_queue_with_fifo_attribute_raises_error,
    # test_set_unsupported_attribute_standard): InvalidAttributeName with these messages.
    expected = {
        "FifoQueue": "Unknown Attribute FifoQueue.",
        "ContentBasedDeduplication": "Unknown Attribute ContentBasedDeduplication.",
        "DeduplicationScope": "You can specify the DeduplicationScope only when FifoQueue is set"
        " to true.",
        "FifoThroughputLimit": "You can specify the FifoThroughputLimit only when FifoQueue is"
        " set to true.",
    }
    values = {
        "FifoQueue": "false",
        "ContentBasedDeduplication": "false",
        "DeduplicationScope": "queue",
        "FifoThroughputLimit": "perQueue",
    }
    url = new_queue(sqs)
    for name, message in expected.items():
        created = call(sqs, "create_queue", QueueName=unique(), Attributes={name: values[name]})
        assert_error(created, 400, "InvalidAttributeName", None, message)
    changed = call(sqs, "set_queue_attributes", QueueUrl=url, Attributes={"FifoQueue": "true"})
    assert_error(changed, 400, "InvalidAttributeName", None, "Unknown Attribute FifoQueue.")


def test_a_queue_may_be_its_own_dead_letter_queue(sqs: Any) -> None:
    url = new_queue(sqs)
    policy = json.dumps({"deadLetterTargetArn": arn(sqs, url), "maxReceiveCount": 1})
    answer = call(sqs, "set_queue_attributes", QueueUrl=url, Attributes={"RedrivePolicy": policy})
    assert answer.status == 200
    sqs.send_message(QueueUrl=url, MessageBody="round")
    for count in ("1", "2"):  # the messages stay where they are
        (m,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, AttributeNames=["All"])[
            "Messages"
        ]
        assert m["Attributes"]["ApproximateReceiveCount"] == count


def test_a_second_purge_within_a_minute_is_403(sqs: Any) -> None:
    # AWS (test_successive_purge_calls_fail): 403, AWS.SimpleQueueService.PurgeQueueInProgress,
    # "Only one PurgeQueue operation on <queue-name> is allowed every 60 seconds."
    url = new_queue(sqs)
    sqs.purge_queue(QueueUrl=url)
    answer = call(sqs, "purge_queue", QueueUrl=url)
    assert_error(
        answer,
        403,
        "AWS.SimpleQueueService.PurgeQueueInProgress",
        "PurgeQueueInProgress",
        f"Only one PurgeQueue operation on {url.rsplit('/', 1)[-1]} is allowed every 60 seconds.",
    )


# -- 8. error __type names and x-amzn-query-error ---------------------------------------------


@pytest.mark.parametrize(
    ("action", "body", "json_type", "query_code"),
    [
        (
            "ReceiveMessage",
            {"MaxNumberOfMessages": 11},
            "com.amazon.coral.service#InvalidParameterValueException",
            "InvalidParameterValue",
        ),
        (
            "SendMessage",
            {"MessageBody": ""},
            "com.amazon.coral.service#MissingRequiredParameterException",
            "MissingParameter",
        ),
        (
            "GetQueueAttributes",
            {"AttributeNames": ["Colour"]},
            "com.amazonaws.sqs#InvalidAttributeName",
            "InvalidAttributeName",
        ),
        (
            "SendMessageBatch",
            {"Entries": []},
            "com.amazonaws.sqs#EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
        ),
        (
            "DeleteMessage",
            {"ReceiptHandle": "garbage"},
            "com.amazonaws.sqs#ReceiptHandleIsInvalid",
            "ReceiptHandleIsInvalid",
        ),
    ],
)
def test_raw_json_errors_carry_aws_type_names_and_query_codes(
    shared_sqs_node: NodeProcess,
    sqs: Any,
    action: str,
    body: dict[str, Any],
    json_type: str,
    query_code: str,
) -> None:
    # AWS: botocore shows Code = the x-amzn-query-error code and QueryErrorCode = the __type
    # name, e.g. InvalidParameterValue / InvalidParameterValueException (recorded for
    # MaxNumberOfMessages 11), MissingParameter / MissingRequiredParameterException (recorded
    # for an empty MessageBody).
    url = new_queue(sqs)
    answer = raw(shared_sqs_node, action, {"QueueUrl": url, **body})
    assert answer.status_code == 400
    assert answer.json()["__type"] == json_type
    assert answer.headers["x-amzn-query-error"] == f"{query_code};Sender"


def test_unknown_queue_by_raw_json_and_by_boto3(shared_sqs_node: NodeProcess, sqs: Any) -> None:
    # AWS (test_non_existent_queue): AWS.SimpleQueueService.NonExistentQueue /
    # QueueDoesNotExist, "The specified queue does not exist."
    answer = raw(shared_sqs_node, "GetQueueUrl", {"QueueName": "nowhere"})
    assert answer.json() == {
        "__type": "com.amazonaws.sqs#QueueDoesNotExist",
        "message": "The specified queue does not exist.",
    }
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="nowhere")
    assert_error(
        call(sqs, "get_queue_url", QueueName="nowhere"),
        400,
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "The specified queue does not exist.",
    )


# -- 9. the rest: encryption defaults, batch replies, wording -----------------------------------


def test_encryption_attributes_default_and_switch_as_on_aws(sqs: Any) -> None:
    # AWS (test_set_queue_attributes_default_values, test_sse_queue_attributes,
    # test_sse_kms_and_sqs_are_mutually_exclusive): "SqsManagedSseEnabled": "true" by default;
    # "false" once a KMS key is set; KMS attributes gone after setting them back to ""/"300";
    # both SSE kinds at once is InvalidAttributeName.
    url = new_queue(sqs)

    def shown() -> dict[str, str]:
        got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return {k: v for k, v in got.items() if k.startswith(("Kms", "Sqs"))}

    assert shown() == {"SqsManagedSseEnabled": "true"}
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={"KmsMasterKeyId": "testKeyId", "KmsDataKeyReusePeriodSeconds": "6000"},
    )
    assert shown() == {
        "KmsMasterKeyId": "testKeyId",
        "KmsDataKeyReusePeriodSeconds": "6000",
        "SqsManagedSseEnabled": "false",
    }
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"KmsMasterKeyId": "", "KmsDataKeyReusePeriodSeconds": "300"}
    )
    assert shown() == {"SqsManagedSseEnabled": "false"}
    both = call(
        sqs,
        "set_queue_attributes",
        QueueUrl=url,
        Attributes={"KmsMasterKeyId": "testKeyId", "SqsManagedSseEnabled": "true"},
    )
    assert_error(
        both,
        400,
        "InvalidAttributeName",
        None,
        "You can use one type of server-side encryption (SSE) at one time. You can either"
        " enable KMS SSE or SQS SSE.",
    )


def test_batch_replies_leave_out_an_empty_failed_list(sqs: Any) -> None:
    # AWS (test_send_message_batch_with_oversized_contents_with_updated_maximum_message_size):
    # only "Successful" when every entry went through. (test_send_batch_message_size) a
    # too-long entry: "One or more parameters cannot be validated. Reason: Message must be
    # shorter than 1024 bytes.", SenderFault true.
    url = new_queue(sqs, MaximumMessageSize="1024")
    fine = call(
        sqs,
        "send_message_batch",
        QueueUrl=url,
        Entries=[{"Id": "1", "MessageBody": "a"}, {"Id": "2", "MessageBody": "b"}],
    )
    mixed = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "big", "MessageBody": "x" * 1025}, {"Id": "small", "MessageBody": "y"}],
    )

    assert fine.keys == {"Successful"}
    assert mixed["Failed"] == [
        {
            "Id": "big",
            "SenderFault": True,
            "Code": "InvalidParameterValue",
            "Message": "One or more parameters cannot be validated. Reason: Message must be shorter"
            " than 1024 bytes.",
        }
    ]
    assert [s["Id"] for s in mixed["Successful"]] == ["small"]


def test_empty_string_attribute_wording(sqs: Any) -> None:
    # AWS (test_send_message_with_empty_string_attribute): "Message (user) attribute
    # 'ErrorDetails' must contain a non-empty value of type 'String'."
    url = new_queue(sqs)
    answer = call(
        sqs,
        "send_message",
        QueueUrl=url,
        MessageBody="m",
        MessageAttributes={"ErrorDetails": {"DataType": "String", "StringValue": ""}},
    )
    assert_error(
        answer,
        400,
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'.",
    )
