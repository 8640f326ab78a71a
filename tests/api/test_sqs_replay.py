"""A replay of standard-queue interactions recorded against real AWS (the aws-validated tests of
LocalStack's tests/aws/services/sqs/test_sqs.py and their test_sqs.snapshot.json).

Each scenario drives the same calls against one real node and checks what the recording shows:
HTTP status, Error.Code (the query code botocore takes from x-amzn-query-error), QueryErrorCode
(the JSON `__type` name), the message, and which keys the answer has. Scenarios are named after
the recorded test. Values that differ per run (ids, handles, timestamps) are not compared.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqs_recorded import Answer, assert_error, call, shared_sqs_node, unique

from conftest import NodeProcess, queue_counts, wait_for

__all__ = ["shared_sqs_node"]

Scenario = Callable[[Any], None]
SCENARIOS: dict[str, Scenario] = {}
MAX_SIZE = 1_048_576
INVALID = ("InvalidParameterValue", "InvalidParameterValueException")
BATCH_ID = (
    "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can"
    " be at most 80 letters long."
)


def recorded(fn: Scenario) -> Scenario:
    """Register a scenario under the recorded test's name (pytest runs it through the
    parametrized test below, not on its own)."""
    SCENARIOS[fn.__name__] = fn
    fn.__test__ = False  # type: ignore[attr-defined]
    return fn


@pytest.fixture(scope="module")
def sqs(shared_sqs_node: NodeProcess) -> Any:
    return shared_sqs_node.client("sqs")


def queue(sqs: Any, **attributes: str) -> str:
    return str(sqs.create_queue(QueueName=unique(), Attributes=attributes)["QueueUrl"])


def ok(answer: Answer, keys: set[str]) -> None:
    assert answer.error is None, answer.error
    assert answer.status == 200
    assert answer.keys == keys


def invalid(answer: Answer, message: str) -> None:
    assert_error(answer, 400, *INVALID, message)


ATTRIBUTE_K = {"k": {"DataType": "String", "StringValue": "x"}}  # 8 bytes towards the size


@recorded
def test_send_receive_max_number_of_messages(sqs: Any) -> None:
    url = queue(sqs)
    invalid(
        call(sqs, "receive_message", QueueUrl=url, MaxNumberOfMessages=11),
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1"
        " and 10, if provided.",
    )


@recorded
def test_send_oversized_message(sqs: Any) -> None:
    url = queue(sqs)
    answer = call(
        sqs,
        "send_message",
        QueueUrl=url,
        MessageBody="a" * (MAX_SIZE - 8 + 1),
        MessageAttributes=ATTRIBUTE_K,
    )
    invalid(
        answer,
        "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.",
    )


@recorded
def test_send_message_with_updated_maximum_message_size(sqs: Any) -> None:
    url = queue(sqs)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "1024"})
    ok(
        call(sqs, "send_message", QueueUrl=url, MessageBody="a" * 1024),
        {"MessageId", "MD5OfMessageBody"},
    )
    answer = call(
        sqs,
        "send_message",
        QueueUrl=url,
        MessageBody="a" * (1024 - 8 + 1),
        MessageAttributes=ATTRIBUTE_K,
    )
    invalid(
        answer,
        "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.",
    )


@recorded
def test_send_message_batch_with_oversized_contents(sqs: Any) -> None:
    url = queue(sqs)
    answer = call(
        sqs,
        "send_message_batch",
        QueueUrl=url,
        Entries=[
            {"Id": "1", "MessageBody": "a" * (MAX_SIZE - 8), "MessageAttributes": ATTRIBUTE_K},
            {"Id": "2", "MessageBody": "a"},
        ],
    )
    assert_error(
        answer,
        400,
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "BatchRequestTooLong",
        "Batch requests cannot be longer than 1048576 bytes. You have sent 1048577 bytes.",
    )


@recorded
def test_send_message_batch_with_oversized_contents_with_updated_maximum_message_size(
    sqs: Any,
) -> None:
    url = queue(sqs, MaximumMessageSize="2048")
    answer = call(
        sqs,
        "send_message_batch",
        QueueUrl=url,
        Entries=[
            {"Id": "1", "MessageBody": "a" * (2048 - 8), "MessageAttributes": ATTRIBUTE_K},
            {"Id": "2", "MessageBody": "a"},
        ],
    )
    ok(answer, {"Successful"})
    first, second = answer.body["Successful"]
    assert first.keys() == {"Id", "MD5OfMessageAttributes", "MD5OfMessageBody", "MessageId"}
    assert first["MD5OfMessageAttributes"] == "a45daa70926828a2f0a1db3418e6feb4"
    assert second == {**second, "Id": "2", "MD5OfMessageBody": "0cc175b9c0f1b6a831c399e269772661"}


@recorded
def test_send_batch_message_size(sqs: Any) -> None:
    url = queue(sqs, MaximumMessageSize="1024")
    answer = call(
        sqs,
        "send_message_batch",
        QueueUrl=url,
        Entries=[{"Id": "big", "MessageBody": "a" * 1025}, {"Id": "small", "MessageBody": "a"}],
    )
    ok(answer, {"Successful", "Failed"})
    assert answer.body["Failed"] == [
        {
            "Code": "InvalidParameterValue",
            "Id": "big",
            "SenderFault": True,
            "Message": "One or more parameters cannot be validated. Reason: Message must be shorter"
            " than 1024 bytes.",
        }
    ]


@recorded
def test_tag_untag_queue(sqs: Any) -> None:
    url = queue(sqs)
    tags = {"tag1": "value1", "tag2": "value2", "tag3": ""}
    sqs.tag_queue(QueueUrl=url, Tags=tags)
    first = call(sqs, "list_queue_tags", QueueUrl=url)
    sqs.untag_queue(QueueUrl=url, TagKeys=["tag1", "tag3"])
    second = call(sqs, "list_queue_tags", QueueUrl=url)
    sqs.untag_queue(QueueUrl=url, TagKeys=["tag2"])
    after = call(sqs, "list_queue_tags", QueueUrl=url)
    ok(first, {"Tags"})
    assert first.body["Tags"] == tags and second.body["Tags"] == {"tag2": "value2"}
    ok(after, set())


@recorded
def test_create_queue_with_different_attributes_raises_exception(sqs: Any) -> None:
    name = unique()
    attributes = {"ReceiveMessageWaitTimeSeconds": "1", "DelaySeconds": "1"}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    assert sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "1"})["QueueUrl"] == url
    answer = call(
        sqs,
        "create_queue",
        QueueName=name,
        Attributes={"ReceiveMessageWaitTimeSeconds": "1", "DelaySeconds": "2"},
    )
    assert_error(
        answer,
        400,
        "QueueAlreadyExists",
        "QueueNameExists",
        "A queue already exists with the same name and a different value for attribute"
        " DelaySeconds",
    )


@recorded
def test_too_many_entries_in_batch_request(sqs: Any) -> None:
    url = queue(sqs)
    entries = [{"Id": f"e{i}", "MessageBody": "m"} for i in range(20)]
    handles = [{"Id": f"e{i}", "ReceiptHandle": "h"} for i in range(20)]
    for operation, given in [
        ("send_message_batch", entries),
        ("delete_message_batch", handles),
        ("change_message_visibility_batch", handles),
    ]:
        assert_error(
            call(sqs, operation, QueueUrl=url, Entries=given),
            400,
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            "TooManyEntriesInBatchRequest",
            "Maximum number of entries per request are 10. You have sent 20.",
        )


@recorded
def test_invalid_batch_id(sqs: Any) -> None:
    url = queue(sqs)
    for ident in ["", "testLongId" * 10, "invalid:id"]:
        for operation, entry in [
            ("send_message_batch", {"MessageBody": "m"}),
            ("delete_message_batch", {"ReceiptHandle": "h"}),
        ]:
            answer = call(sqs, operation, QueueUrl=url, Entries=[{"Id": ident, **entry}])
            assert_error(
                answer,
                400,
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                "InvalidBatchEntryId",
                BATCH_ID,
            )


@recorded
def test_send_message_with_empty_string_attribute(sqs: Any) -> None:
    url = queue(sqs)
    answer = call(
        sqs,
        "send_message",
        QueueUrl=url,
        MessageBody="m",
        MessageAttributes={"ErrorDetails": {"DataType": "String", "StringValue": ""}},
    )
    invalid(
        answer,
        "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'.",
    )


@recorded
def test_non_existent_queue(sqs: Any) -> None:
    name = unique()
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    for answer in (
        call(sqs, "get_queue_attributes", QueueUrl=url),
        call(sqs, "get_queue_url", QueueName=name),
    ):
        assert_error(
            answer,
            400,
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
            "The specified queue does not exist.",
        )


@recorded
def test_send_receive_wait_time_seconds(sqs: Any) -> None:
    url = queue(sqs)
    for wait in (21, -1):
        invalid(
            call(sqs, "receive_message", QueueUrl=url, WaitTimeSeconds=wait),
            f"Value {wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and"
            " <= 20, if provided.",
        )
    sqs.send_message(QueueUrl=url, MessageBody="message")
    got = call(sqs, "receive_message", QueueUrl=url)
    ok(got, {"Messages"})
    assert got.body["Messages"][0].keys() == {"Body", "MD5OfBody", "MessageId", "ReceiptHandle"}
    assert got.body["Messages"][0]["MD5OfBody"] == "78e731027d8fd50ed642340b7c9a63b3"


@recorded
def test_receive_empty_queue(sqs: Any) -> None:
    url = queue(sqs)
    ok(call(sqs, "receive_message", QueueUrl=url), set())
    ok(call(sqs, "receive_message", QueueUrl=url, WaitTimeSeconds=0), set())
    ok(call(sqs, "receive_message", QueueUrl=url, WaitTimeSeconds=1), set())


@recorded
def test_send_empty_message(sqs: Any) -> None:
    url = queue(sqs)
    assert_error(
        call(sqs, "send_message", QueueUrl=url, MessageBody=""),
        400,
        "MissingParameter",
        "MissingRequiredParameterException",
        "The request must contain the parameter MessageBody.",
    )


@recorded
def test_list_queues_pagination(sqs: Any) -> None:
    prefix = unique("page")
    for i in range(10):
        sqs.create_queue(QueueName=f"{prefix}-test-queue-{i}")
    everything = call(sqs, "list_queues", QueueNamePrefix=prefix)
    two = call(sqs, "list_queues", QueueNamePrefix=prefix, MaxResults=2)
    rest = call(
        sqs, "list_queues", QueueNamePrefix=prefix, MaxResults=10, NextToken=two.body["NextToken"]
    )
    ok(everything, {"QueueUrls"})
    ok(two, {"QueueUrls", "NextToken"})
    ok(rest, {"QueueUrls"})
    assert len(everything.body["QueueUrls"]) == 10
    assert two.body["QueueUrls"] + rest.body["QueueUrls"] == everything.body["QueueUrls"]


@recorded
def test_delete_after_visibility_timeout(sqs: Any) -> None:
    url = queue(sqs, VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="foobar")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    wait_for(lambda: queue_counts(sqs, url)[0] == 1, timeout=10)
    ok(call(sqs, "delete_message", QueueUrl=url, ReceiptHandle=handle), set())
    assert queue_counts(sqs, url) == (0, 0, 0)


@recorded
def test_delete_message_with_deleted_receipt_handle(sqs: Any) -> None:
    url = queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="foo")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    for _ in range(3):
        ok(call(sqs, "delete_message", QueueUrl=url, ReceiptHandle=handle), set())


@recorded
def test_delete_message_with_illegal_receipt_handle(sqs: Any) -> None:
    url = queue(sqs)
    answer = call(sqs, "delete_message", QueueUrl=url, ReceiptHandle="garbage")
    assert_error(
        answer,
        400,
        "ReceiptHandleIsInvalid",
        None,
        'The input receipt handle "garbage" is not a valid receipt handle.',
    )


@recorded
def test_receive_message_attribute_names_filters(sqs: Any) -> None:
    url = queue(sqs, VisibilityTimeout="0")
    sqs.send_message(
        QueueUrl=url,
        MessageBody="msg",
        MessageAttributes={"Foo": {"DataType": "String", "StringValue": "Bar"}},
    )

    def received(names: list[str], message_names: list[str] | None = None) -> dict[str, Any]:
        got = call(
            sqs,
            "receive_message",
            QueueUrl=url,
            AttributeNames=names,
            MessageAttributeNames=message_names or [],
        )
        ok(got, {"Messages"})
        return dict(got.body["Messages"][0])

    usual = {
        "ApproximateFirstReceiveTimestamp",
        "ApproximateReceiveCount",
        "SenderId",
        "SentTimestamp",
    }
    assert received(["All"])["Attributes"].keys() == usual
    both = received(["All"], ["All"])
    assert (
        both["Attributes"].keys() == usual and both["Attributes"]["ApproximateReceiveCount"] == "2"
    )
    assert both["MD5OfMessageAttributes"] == "ae7155c6026991b6d54b11589678bf9c"
    assert received(["SenderId"])["Attributes"].keys() == {"SenderId"}
    assert received(["SenderId", "SequenceNumber"])["Attributes"].keys() == {"SenderId"}


@recorded
def test_set_queue_attributes_default_values(sqs: Any) -> None:
    url = queue(sqs)
    base = {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
        "CreatedTimestamp",
        "DelaySeconds",
        "LastModifiedTimestamp",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "QueueArn",
        "ReceiveMessageWaitTimeSeconds",
        "SqsManagedSseEnabled",
        "VisibilityTimeout",
    }

    def everything() -> dict[str, str]:
        got = call(sqs, "get_queue_attributes", QueueUrl=url, AttributeNames=["All"])
        ok(got, {"Attributes"})
        return dict(got.body["Attributes"])

    initial = everything()
    assert initial.keys() == base and initial["SqsManagedSseEnabled"] == "true"
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={"KmsMasterKeyId": "testKeyId", "KmsDataKeyReusePeriodSeconds": "6000"},
    )
    updated = everything()
    assert updated.keys() == base | {"KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds"}
    assert updated["SqsManagedSseEnabled"] == "false"
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"KmsMasterKeyId": "", "KmsDataKeyReusePeriodSeconds": "300"}
    )
    back = everything()
    assert back.keys() == base and back["SqsManagedSseEnabled"] == "false"


@recorded
def test_create_and_update_queue_attributes(sqs: Any) -> None:
    url = queue(
        sqs,
        MessageRetentionPeriod="604800",
        VisibilityTimeout="20",
        ReceiveMessageWaitTimeSeconds="10",
    )
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={"DelaySeconds": "420", "MaximumMessageSize": "2048", "VisibilityTimeout": "69"},
    )
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert {
        k: got[k]
        for k in (
            "DelaySeconds",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "ReceiveMessageWaitTimeSeconds",
            "VisibilityTimeout",
            "SqsManagedSseEnabled",
        )
    } == {
        "DelaySeconds": "420",
        "MaximumMessageSize": "2048",
        "MessageRetentionPeriod": "604800",
        "ReceiveMessageWaitTimeSeconds": "10",
        "VisibilityTimeout": "69",
        "SqsManagedSseEnabled": "true",
    }


@recorded
def test_set_unsupported_attribute_standard(sqs: Any) -> None:
    url = queue(sqs)
    for value in ("true", "false"):
        answer = call(sqs, "set_queue_attributes", QueueUrl=url, Attributes={"FifoQueue": value})
        assert_error(answer, 400, "InvalidAttributeName", None, "Unknown Attribute FifoQueue.")
        assert answer.body["message"] == "Unknown Attribute FifoQueue."


@recorded
def test_successive_purge_calls_fail(sqs: Any) -> None:
    url = queue(sqs)
    ok(call(sqs, "purge_queue", QueueUrl=url), set())
    assert_error(
        call(sqs, "purge_queue", QueueUrl=url),
        403,
        "AWS.SimpleQueueService.PurgeQueueInProgress",
        "PurgeQueueInProgress",
        f"Only one PurgeQueue operation on {url.rsplit('/', 1)[-1]} is allowed every 60 seconds.",
    )


@recorded
def test_change_message_visibility_after_visibility_timeout_expiration(sqs: Any) -> None:
    url = queue(sqs, VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="test")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    wait_for(lambda: queue_counts(sqs, url)[0] == 1, timeout=10)
    ok(
        call(
            sqs,
            "change_message_visibility",
            QueueUrl=url,
            ReceiptHandle=handle,
            VisibilityTimeout=2,
        ),
        set(),
    )


@recorded
def test_fair_queue_with_message_group_id(sqs: Any) -> None:
    url = queue(sqs)
    sent = call(sqs, "send_message", QueueUrl=url, MessageBody="message", MessageGroupId="test")
    ok(sent, {"MD5OfMessageBody", "MessageId"})
    got = call(sqs, "receive_message", QueueUrl=url, WaitTimeSeconds=5, AttributeNames=["All"])
    ok(got, {"Messages"})
    assert got.body["Messages"][0]["Attributes"]["MessageGroupId"] == "test"


@recorded
def test_send_message_with_binary_attributes(sqs: Any) -> None:
    url = queue(sqs)
    value = b"traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01"
    attributes = {"attr1": {"BinaryValue": value, "DataType": "Binary"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="test", MessageAttributes=attributes)
    got = call(sqs, "receive_message", QueueUrl=url, MessageAttributeNames=["All"])
    ok(got, {"Messages"})
    (m,) = got.body["Messages"]
    assert m["MessageAttributes"] == attributes
    assert m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert m["MD5OfMessageAttributes"] == "8cbe4db156db8a94db8b801b7addb984"


@recorded
def test_receive_message_message_system_attribute_names_filters(sqs: Any) -> None:
    url = queue(sqs, VisibilityTimeout="0")
    sqs.send_message(
        QueueUrl=url,
        MessageBody="msg",
        MessageAttributes={"Foo": {"DataType": "String", "StringValue": "Bar"}},
    )

    def shown(names: list[str]) -> set[str]:
        got = call(sqs, "receive_message", QueueUrl=url, MessageSystemAttributeNames=names)
        ok(got, {"Messages"})
        return set(got.body["Messages"][0]["Attributes"])

    assert shown(["All"]) == {
        "ApproximateFirstReceiveTimestamp",
        "ApproximateReceiveCount",
        "SenderId",
        "SentTimestamp",
    }
    assert shown(["SenderId"]) == shown(["SenderId", "SequenceNumber"]) == {"SenderId"}


@recorded
def test_set_empty_redrive_policy(sqs: Any) -> None:
    name = unique()
    dlq = sqs.create_queue(QueueName=name)["QueueUrl"]
    target = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]

    def policy() -> str | None:
        got = sqs.get_queue_attributes(QueueUrl=name, AttributeNames=["All"])["Attributes"]
        return got.get("RedrivePolicy")

    ok(call(sqs, "set_queue_attributes", QueueUrl=name, Attributes={"RedrivePolicy": ""}), set())
    assert policy() is None
    given = json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": "42"})
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedrivePolicy": given})
    assert target in (policy() or "")
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedrivePolicy": ""})
    assert policy() is None


@recorded
def test_approximate_number_of_messages_not_visible(sqs: Any) -> None:
    url = queue(sqs, VisibilityTimeout="2")
    for i in range(1, 7):
        sqs.send_message(QueueUrl=url, MessageBody=f"message-{i}")
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
    assert queue_counts(sqs, url) == (5, 1, 0)
    wait_for(lambda: queue_counts(sqs, url) == (6, 0, 0), timeout=10)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_recorded_interaction(sqs: Any, name: str) -> None:
    SCENARIOS[name](sqs)
