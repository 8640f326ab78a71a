"""SQS queues through a real node: create, look up, list, attributes, tags, purge, delete, errors.

Messages are in test_sqs_messages.py, restarts in test_sqs_restart.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import NodeProcess, aws_env, run_aws, unique_name

#: The shared-node tests run on both stores (tests/conftest.py: pytest_generate_tests).
STORES = ("sqlite", "redis")

ACCOUNT = "000000000000"


@pytest.fixture
def sqs(node: NodeProcess) -> Any:
    return node.client("sqs")


def arn_of(sqs: Any, url: str) -> str:
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(got["Attributes"]["QueueArn"])


def attributes(sqs: Any, url: str, *names: str) -> dict[str, str]:
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names or ["All"]))
    return dict(got.get("Attributes", {}))


def error_code(exc: pytest.ExceptionInfo[Any]) -> str:
    """The error's name: the modeled one (botocore keeps it as QueryErrorCode when SQS sends a
    legacy query code, which becomes Error.Code), except for the service-wide
    InvalidParameterValue and MissingParameter, whose JSON names (…Exception) botocore keeps as
    QueryErrorCode while Error.Code is the name users match on, as against AWS."""
    error = exc.value.response["Error"]
    if error["Code"] in ("InvalidParameterValue", "MissingParameter"):
        return str(error["Code"])
    return str(error.get("QueryErrorCode", error["Code"]))


# -- create, look up, delete ----------------------------------------------------------------


def test_create_queue_returns_its_url_and_get_queue_url_finds_it(
    node: NodeProcess, sqs: Any
) -> None:
    name = unique_name("orders")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]

    assert url == f"{node.url}/{ACCOUNT}/{name}"
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert arn_of(sqs, url) == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def test_create_queue_is_idempotent_for_the_same_attributes(sqs: Any) -> None:
    # Given a queue created with non-default attributes
    given = {"VisibilityTimeout": "45", "DelaySeconds": "3"}
    name = unique_name("jobs")
    url = sqs.create_queue(QueueName=name, Attributes=given)["QueueUrl"]

    # When it is created again with the same attributes (or a default spelled out)
    again = sqs.create_queue(QueueName=name, Attributes=given)["QueueUrl"]
    spelled = sqs.create_queue(
        QueueName=name, Attributes={**given, "MaximumMessageSize": "1048576"}
    )["QueueUrl"]

    # Then the same URL comes back, and a different value is QueueNameExists
    assert again == url and spelled == url
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "46"})
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "0"})
    assert attributes(sqs, url, "VisibilityTimeout")["VisibilityTimeout"] == "45"


def test_a_queue_that_does_not_exist_is_queue_does_not_exist(node: NodeProcess, sqs: Any) -> None:
    missing = f"{node.url}/{ACCOUNT}/missing"
    calls = [
        lambda: sqs.get_queue_url(QueueName="missing"),
        lambda: sqs.get_queue_attributes(QueueUrl=missing, AttributeNames=["All"]),
        lambda: sqs.set_queue_attributes(QueueUrl=missing, Attributes={"DelaySeconds": "1"}),
        lambda: sqs.send_message(QueueUrl=missing, MessageBody="x"),
        lambda: sqs.send_message_batch(QueueUrl=missing, Entries=[{"Id": "a", "MessageBody": "x"}]),
        lambda: sqs.receive_message(QueueUrl=missing),
        lambda: sqs.purge_queue(QueueUrl=missing),
        lambda: sqs.delete_queue(QueueUrl=missing),
        lambda: sqs.list_queue_tags(QueueUrl=missing),
    ]
    for call in calls:
        with pytest.raises(sqs.exceptions.QueueDoesNotExist):
            call()


def test_deleted_queue_is_gone_and_its_name_is_held_for_a_minute(sqs: Any) -> None:
    name = unique_name("short-lived")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="left behind")

    sqs.delete_queue(QueueUrl=url)

    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as gone:
        sqs.get_queue_url(QueueName=name)
    assert gone.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=name)
    with pytest.raises(sqs.exceptions.QueueDeletedRecently):
        sqs.create_queue(QueueName=name)


def test_queue_names_and_attributes_are_validated(sqs: Any) -> None:
    before = sqs.list_queues().get("QueueUrls", [])
    name = unique_name("q")
    with pytest.raises(sqs.exceptions.ClientError) as bad_name:
        sqs.create_queue(QueueName="no spaces allowed")
    assert error_code(bad_name) == "InvalidParameterValue"
    with pytest.raises(sqs.exceptions.ClientError) as too_long:
        sqs.create_queue(QueueName="q" * 81)
    assert error_code(too_long) == "InvalidParameterValue"
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.create_queue(QueueName=name, Attributes={"Colour": "blue"})
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.create_queue(QueueName=name, Attributes={"ContentBasedDeduplication": "true"})
    for name, value in [
        ("VisibilityTimeout", "43201"),
        ("VisibilityTimeout", "soon"),
        ("DelaySeconds", "901"),
        ("MessageRetentionPeriod", "59"),
        ("ReceiveMessageWaitTimeSeconds", "21"),
        ("MaximumMessageSize", "1023"),
    ]:
        with pytest.raises(sqs.exceptions.InvalidAttributeValue):
            sqs.create_queue(QueueName=name, Attributes={name: value})
    assert sqs.list_queues().get("QueueUrls", []) == before  # no queue was created


def test_fifo_names_and_attributes_go_together(sqs: Any) -> None:
    with pytest.raises(sqs.exceptions.ClientError) as by_name:
        sqs.create_queue(QueueName="orders.fifo")
    assert error_code(by_name) == "InvalidParameterValue"
    with pytest.raises(sqs.exceptions.ClientError) as by_attribute:
        sqs.create_queue(QueueName="orders", Attributes={"FifoQueue": "true"})
    assert error_code(by_attribute) == "InvalidParameterValue"
    # AWS: a standard queue does not know the attribute at all, not even as "false"
    with pytest.raises(sqs.exceptions.InvalidAttributeName) as explicit:
        sqs.create_queue(QueueName="orders", Attributes={"FifoQueue": "false"})
    assert explicit.value.response["Error"]["Message"] == "Unknown Attribute FifoQueue."


# -- listing --------------------------------------------------------------------------------


def test_list_queues_filters_by_prefix(fresh_node: NodeProcess) -> None:
    # A node of its own: the test lists every queue there is.
    node, sqs = fresh_node, fresh_node.client("sqs")
    for name in ("alpha-1", "alpha-2", "beta-1"):
        sqs.create_queue(QueueName=name)

    everything = sqs.list_queues()["QueueUrls"]
    alphas = sqs.list_queues(QueueNamePrefix="alpha")["QueueUrls"]
    none = sqs.list_queues(QueueNamePrefix="gamma")

    def urls(*names: str) -> list[str]:
        return [f"{node.url}/{ACCOUNT}/{n}" for n in names]

    assert sorted(everything) == urls("alpha-1", "alpha-2", "beta-1")
    assert sorted(alphas) == urls("alpha-1", "alpha-2")
    assert "QueueUrls" not in none and "NextToken" not in none


def test_list_queues_pages_with_max_results_and_next_token(sqs: Any) -> None:
    # Given seven queues with a common prefix and one without
    prefix = unique_name("page") + "-"
    names = [f"{prefix}{i:02d}" for i in range(7)]
    for name in [*names, unique_name("other")]:
        sqs.create_queue(QueueName=name)

    # When they are listed three at a time
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"QueueNamePrefix": prefix, "MaxResults": 3}
        if token:
            kwargs["NextToken"] = token
        got = sqs.list_queues(**kwargs)
        pages.append([u.rsplit("/", 1)[-1] for u in got["QueueUrls"]])
        token = got.get("NextToken")
        if not token:
            break

    # Then every queue shows up exactly once, in pages of at most three
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(n for p in pages for n in p) == names
    # And boto3's paginator walks the same pages
    paginated = sqs.get_paginator("list_queues").paginate(
        QueueNamePrefix=prefix, PaginationConfig={"PageSize": 2}
    )
    assert sorted(u.rsplit("/", 1)[-1] for p in paginated for u in p["QueueUrls"]) == names
    # And a page size out of range is refused
    with pytest.raises(sqs.exceptions.ClientError) as bad:
        sqs.list_queues(MaxResults=1001)
    assert error_code(bad) == "InvalidParameterValue"


# -- attributes -----------------------------------------------------------------------------


def test_get_queue_attributes_shows_defaults_and_computed_values(sqs: Any) -> None:
    name = unique_name("defaults")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]

    got = attributes(sqs, url)

    assert got["VisibilityTimeout"] == "30"
    assert got["DelaySeconds"] == "0"
    assert got["MaximumMessageSize"] == "1048576"
    assert got["MessageRetentionPeriod"] == "345600"
    assert got["ReceiveMessageWaitTimeSeconds"] == "0"
    assert got["SqsManagedSseEnabled"] == "true"  # AWS default since 2022
    assert got["QueueArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"
    assert got["ApproximateNumberOfMessages"] == "0"
    assert got["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert got["ApproximateNumberOfMessagesDelayed"] == "0"
    assert int(got["LastModifiedTimestamp"]) >= int(got["CreatedTimestamp"]) > 1_600_000_000
    # Only what was asked for; nothing when nothing was asked for
    assert attributes(sqs, url, "DelaySeconds", "QueueArn").keys() == {"DelaySeconds", "QueueArn"}
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=url)
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Colour"])


def test_set_queue_attributes_changes_them(sqs: Any) -> None:
    name = unique_name("tunable")
    url = sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "5"})["QueueUrl"]
    changed = {
        "VisibilityTimeout": "120",
        "DelaySeconds": "0",
        "MessageRetentionPeriod": "3600",
        "ReceiveMessageWaitTimeSeconds": "20",
        "MaximumMessageSize": "2048",
    }

    sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)

    got = attributes(sqs, url)
    assert {k: got[k] for k in changed} == changed
    # The new values count for CreateQueue's idempotence check
    assert sqs.create_queue(QueueName=name, Attributes=changed)["QueueUrl"] == url
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"QueueArn": "arn:aws:sqs:x:y:z"})
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "-1"})
    assert attributes(sqs, url, "VisibilityTimeout")["VisibilityTimeout"] == "120"


def test_redrive_policy_is_validated_stored_and_cleared(sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName=unique_name("dead"))["QueueUrl"]
    url = sqs.create_queue(QueueName=unique_name("live"))["QueueUrl"]
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:nowhere"

    for policy in [
        {"deadLetterTargetArn": missing, "maxReceiveCount": 3},
        {"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 0},
        {"maxReceiveCount": 3},
    ]:
        with pytest.raises(sqs.exceptions.InvalidAttributeValue):
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(policy)})
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": "{not json"})

    # maxReceiveCount may come as a string, as the console writes it
    policy = {"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": "4"}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(policy)})
    stored = json.loads(attributes(sqs, url, "RedrivePolicy")["RedrivePolicy"])
    assert stored == {"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 4}

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": ""})
    assert "RedrivePolicy" not in attributes(sqs, url)


# -- tags and purge -------------------------------------------------------------------------


def test_tags_are_set_listed_and_removed(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique_name("tagged"), tags={"team": "core"})["QueueUrl"]

    sqs.tag_queue(QueueUrl=url, Tags={"stage": "dev", "team": "platform"})
    listed = sqs.list_queue_tags(QueueUrl=url)["Tags"]
    sqs.untag_queue(QueueUrl=url, TagKeys=["team", "not-there"])
    after_untag = sqs.list_queue_tags(QueueUrl=url)["Tags"]
    sqs.untag_queue(QueueUrl=url, TagKeys=["stage"])

    assert listed == {"stage": "dev", "team": "platform"}
    assert after_untag == {"stage": "dev"}
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)


def test_purge_deletes_every_message_and_a_second_purge_within_a_minute_is_refused(
    sqs: Any,
) -> None:
    # Given visible, in-flight and delayed messages
    url = sqs.create_queue(QueueName=unique_name("purgeable"))["QueueUrl"]
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)

    # When the queue is purged
    sqs.purge_queue(QueueUrl=url)

    # Then nothing is left, and the next purge must wait
    counts = attributes(sqs, url)
    assert counts["ApproximateNumberOfMessages"] == "0"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert counts["ApproximateNumberOfMessagesDelayed"] == "0"
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress):
        sqs.purge_queue(QueueUrl=url)
    # And the queue still takes new messages
    sqs.send_message(QueueUrl=url, MessageBody="after")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "after"


# -- wire -----------------------------------------------------------------------------------


def test_errors_carry_the_json_type_and_the_query_error_header(node: NodeProcess) -> None:
    headers = {
        "X-Amz-Target": "AmazonSQS.GetQueueUrl",
        "Content-Type": "application/x-amz-json-1.0",
    }
    missing = httpx.post(node.url + "/", json={"QueueName": "nope"}, headers=headers, timeout=10)
    unknown = httpx.post(
        node.url + "/",
        json={},
        headers={**headers, "X-Amz-Target": "AmazonSQS.FlyToTheMoon"},
        timeout=10,
    )

    assert missing.status_code == 400
    assert missing.headers["content-type"] == "application/x-amz-json-1.0"
    assert missing.json() == {
        "__type": "com.amazonaws.sqs#QueueDoesNotExist",
        "message": "The specified queue does not exist.",
    }
    assert missing.headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    assert missing.headers["x-amzn-requestid"]
    assert unknown.status_code == 400 and "FlyToTheMoon" in unknown.json()["message"]


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_aws_cli_sends_and_receives(node: NodeProcess, sqs: Any, tmp_path: Path) -> None:
    name = unique_name("from-cli")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]

    def aws(*args: str) -> Any:
        return run_aws(node, tmp_path, "sqs", *args)

    kind = '{"kind": {"DataType": "String", "StringValue": "greeting"}}'
    sent = aws(
        "send-message",
        "--queue-url",
        url,
        "--message-body",
        "hello from the CLI",
        "--message-attributes",
        kind,
    )
    got = aws(
        "receive-message",
        "--queue-url",
        url,
        "--wait-time-seconds",
        "1",
        "--message-attribute-names",
        "All",
        "--attribute-names",
        "All",
    )
    listed = aws("list-queues", "--queue-name-prefix", name)

    (message,) = got["Messages"]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "hello from the CLI"
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MessageAttributes"]["kind"]["StringValue"] == "greeting"
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert listed["QueueUrls"] == [url]
    aws("delete-message", "--queue-url", url, "--receipt-handle", message["ReceiptHandle"])
    assert attributes(sqs, url)["ApproximateNumberOfMessagesNotVisible"] == "0"
    # A CLI error names the SQS error
    done = subprocess.run(
        ["aws", "sqs", "get-queue-url", "--queue-name", "nope", "--endpoint-url", node.url],
        env=aws_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "GetQueueUrl" in done.stderr
