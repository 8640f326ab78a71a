"""A replay of standard-queue interactions recorded against real AWS (the aws-validated tests of
LocalStack's tests/aws/services/sqs/test_sqs.py and their test_sqs.snapshot.json): queues,
attributes, tags, listing, purge.

Each scenario drives the same calls against one real node and checks what the recording shows:
HTTP status, Error.Code (the query code botocore takes from x-amzn-query-error), QueryErrorCode
(the JSON `__type` name), the message, and which keys the answer has. Scenarios are named after
the recorded test. Values that differ per run (ids, handles, timestamps) are not compared.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqs_recorded import (
    Scenarios,
    assert_error,
    call,
    ok,
    queue,
    shared_sqs_node,
    unique,
)

from harness import NodeProcess, queue_counts, wait_for

__all__ = ["shared_sqs_node"]

recorded = Scenarios()


@pytest.fixture(scope="module")
def sqs(shared_sqs_node: NodeProcess) -> Any:
    return shared_sqs_node.client("sqs")


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


@pytest.mark.parametrize("name", recorded.names())
def test_recorded_interaction(sqs: Any, name: str) -> None:
    recorded.run(name, sqs)
