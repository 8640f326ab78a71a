"""A replay of standard-queue interactions recorded against real AWS (the aws-validated tests of
LocalStack's tests/aws/services/sqs/test_sqs.py and their test_sqs.snapshot.json): messages —
send, batches, receive, attributes, visibility, delete.

Each scenario drives the same calls against one real node and checks what the recording shows:
HTTP status, Error.Code (the query code botocore takes from x-amzn-query-error), QueryErrorCode
(the JSON `__type` name), the message, and which keys the answer has. Scenarios are named after
the recorded test. Values that differ per run (ids, handles, timestamps) are not compared.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqs_recorded import (
    Scenarios,
    assert_error,
    call,
    invalid,
    ok,
    queue,
    shared_sqs_node,
)

from harness import NodeProcess, queue_counts, wait_for

__all__ = ["shared_sqs_node"]

recorded = Scenarios()
MAX_SIZE = 1_048_576
BATCH_ID = (
    "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can"
    " be at most 80 letters long."
)
ATTRIBUTE_K = {"k": {"DataType": "String", "StringValue": "x"}}  # 8 bytes towards the size


@pytest.fixture(scope="module")
def sqs(shared_sqs_node: NodeProcess) -> Any:
    return shared_sqs_node.client("sqs")


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


@pytest.mark.parametrize("name", recorded.names())
def test_recorded_interaction(sqs: Any, name: str) -> None:
    recorded.run(name, sqs)
