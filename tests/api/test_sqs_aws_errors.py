"""The differences from AWS that issue 17 lists, part 2: queue attributes on standard queues, the
second purge, the JSON protocol's error names (raw requests and boto3), encryption defaults,
batch replies and wording — each checked against the answer recorded from real AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqs_recorded import arn, assert_error, call, queue, raw, shared_sqs_node, unique

from harness import NodeProcess

__all__ = ["shared_sqs_node"]


@pytest.fixture(scope="module")
def sqs(shared_sqs_node: NodeProcess) -> Any:
    return shared_sqs_node.client("sqs")


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
    url = queue(sqs)
    for name, message in expected.items():
        created = call(sqs, "create_queue", QueueName=unique(), Attributes={name: values[name]})
        assert_error(created, 400, "InvalidAttributeName", None, message)
    changed = call(sqs, "set_queue_attributes", QueueUrl=url, Attributes={"FifoQueue": "true"})
    assert_error(changed, 400, "InvalidAttributeName", None, "Unknown Attribute FifoQueue.")


def test_a_queue_may_be_its_own_dead_letter_queue(sqs: Any) -> None:
    url = queue(sqs)
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
    url = queue(sqs)
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
    url = queue(sqs)
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
    url = queue(sqs)

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
    url = queue(sqs, MaximumMessageSize="1024")
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
    url = queue(sqs)
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
