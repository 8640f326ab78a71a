"""The CloudWatch Logs subset on the node's port, driven by boto3's `logs` client and the
AWS CLI exactly as they would drive AWS."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import NodeProcess, run_aws

NOISY = """
def handler(event, context):
    for line in event.get("lines", []):
        print(line)
    return "ok"
"""
STREAM_RE = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


def _invoke(lam: Any, name: str, *lines: str) -> str:
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"lines": list(lines)}))
    assert out["StatusCode"] == 200 and "FunctionError" not in out
    return str(out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])


@pytest.fixture
def logs(node: NodeProcess) -> Any:
    return node.client("logs")


def test_group_and_stream_are_named_as_aws_names_them(
    lam: Any, logs: Any, create_function: Any
) -> None:
    name = create_function({"app.py": NOISY})["FunctionName"]
    _invoke(lam, name, "hello")

    groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [f"/aws/lambda/{name}"]
    assert groups[0]["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/{name}:*"
    streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert len(streams) == 1 and STREAM_RE.match(streams[0]["logStreamName"])
    assert streams[0]["firstEventTimestamp"] <= streams[0]["lastEventTimestamp"]


def test_each_platform_and_handler_line_is_one_event_in_order(
    lam: Any, logs: Any, create_function: Any
) -> None:
    name = create_function({"app.py": NOISY})["FunctionName"]
    rid = _invoke(lam, name, "first line", "second line")
    group = f"/aws/lambda/{name}"
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]

    events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    messages = [e["message"] for e in events["events"]]
    start = messages.index(f"START RequestId: {rid} Version: $LATEST")
    assert messages[start + 1 : start + 4] == ["first line", "second line", f"END RequestId: {rid}"]
    assert messages[start + 4].startswith(f"REPORT RequestId: {rid}\tDuration: ")
    stamps = [e["timestamp"] for e in events["events"]]
    assert stamps == sorted(stamps)
    assert all(e["ingestionTime"] >= e["timestamp"] for e in events["events"])


def test_get_log_events_tokens_page_forward_and_back_and_repeat_at_the_end(
    lam: Any, logs: Any, create_function: Any
) -> None:
    name = create_function({"app.py": NOISY})["FunctionName"]
    _invoke(lam, name, *[f"line {i}" for i in range(10)])
    group = f"/aws/lambda/{name}"
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    everything = [
        e["message"]
        for e in logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)[
            "events"
        ]
    ]

    # Given pages of 4 read forward from the head
    seen: list[str] = []
    token = None
    for _ in range(20):
        args = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=4, **args)
        assert page["nextForwardToken"].startswith("f/")
        assert page["nextBackwardToken"].startswith("b/")
        if page["nextForwardToken"] == token:  # Then: the end returns the same token
            assert page["events"] == []
            break
        seen += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]
    assert seen == everything

    # Without startFromHead the newest events come first; backward tokens reach the start
    tail = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=4)
    assert [e["message"] for e in tail["events"]] == everything[-4:]
    before = logs.get_log_events(
        logGroupName=group, logStreamName=stream, limit=4, nextToken=tail["nextBackwardToken"]
    )
    assert [e["message"] for e in before["events"]] == everything[-8:-4]

    # a new invocation's lines are read with the forward token kept from the end
    _invoke(lam, name, "later")
    more = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=token)
    assert "later" in [e["message"] for e in more["events"]]


def test_filter_log_events_terms_phrases_alternatives_and_times(
    lam: Any, logs: Any, create_function: Any
) -> None:
    name = create_function({"app.py": NOISY})["FunctionName"]
    _invoke(lam, name, "ERROR disk full", "WARN slow disk", "INFO all good", "ERROR Retrying")
    group = f"/aws/lambda/{name}"

    def matching(pattern: str, **kw: Any) -> list[str]:
        out = logs.filter_log_events(logGroupName=group, filterPattern=pattern, **kw)
        return [e["message"] for e in out["events"]]

    assert matching("ERROR") == ["ERROR disk full", "ERROR Retrying"]
    assert matching('"slow disk"') == ["WARN slow disk"]
    assert matching("?WARN ?INFO") == ["WARN slow disk", "INFO all good"]
    assert matching("ERROR -Retrying") == ["ERROR disk full"]
    assert matching("disk full") == ["ERROR disk full"]
    every = logs.filter_log_events(logGroupName=group)["events"]
    assert {"START", "END", "REPORT"} <= {e["message"].split()[0] for e in every}
    assert all(len(e["eventId"]) == 56 and e["logStreamName"] for e in every)
    last = every[-1]["timestamp"]
    assert matching("", startTime=last + 1) == []
    assert matching("ERROR", endTime=every[0]["timestamp"] - 1) == []


def test_filter_log_events_pages_with_next_token(lam: Any, logs: Any, create_function: Any) -> None:
    name = create_function({"app.py": NOISY})["FunctionName"]
    _invoke(lam, name, *[f"item {i}" for i in range(7)])
    group = f"/aws/lambda/{name}"
    got: list[str] = []
    pages = 0
    args: dict[str, Any] = {}
    while True:
        page = logs.filter_log_events(logGroupName=group, filterPattern="item", limit=3, **args)
        got += [e["message"] for e in page["events"]]
        pages += 1
        if "nextToken" not in page:
            break
        args = {"nextToken": page["nextToken"]}
    assert got == [f"item {i}" for i in range(7)] and pages == 3


def test_unknown_group_or_stream_and_bad_input_are_aws_errors(
    lam: Any, logs: Any, create_function: Any
) -> None:
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as missing:
        logs.filter_log_events(logGroupName="/aws/lambda/nobody")
    assert missing.value.response["Error"]["Message"] == "The specified log group does not exist."
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    name = create_function({"app.py": NOISY})["FunctionName"]
    _invoke(lam, name, "x")
    group = f"/aws/lambda/{name}"
    with pytest.raises(logs.exceptions.ResourceNotFoundException, match="log stream"):
        logs.get_log_events(logGroupName=group, logStreamName="2020/01/01/[$LATEST]nope")
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    with pytest.raises(logs.exceptions.InvalidParameterException, match="nextToken is invalid"):
        logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken="garbage")
    with pytest.raises(logs.exceptions.InvalidParameterException, match="less than or equal"):
        logs.filter_log_events(logGroupName=group, limit=10_001)
    with pytest.raises(logs.exceptions.InvalidParameterException, match="filter pattern"):
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.level = 1 }")
    with pytest.raises(ClientError, match="UnknownOperationException"):
        logs.create_log_group(logGroupName="/mine")


def test_sqs_still_answers_on_the_same_port(node: NodeProcess) -> None:
    sqs = node.client("sqs")
    url = sqs.create_queue(QueueName="still-here")["QueueUrl"]
    assert sqs.get_queue_url(QueueName="still-here")["QueueUrl"] == url


def test_aws_cli_filter_log_events_and_get_log_events(
    node: NodeProcess, lam: Any, create_function: Any, tmp_path: Path
) -> None:
    name = create_function({"app.py": NOISY})["FunctionName"]
    for i in range(3):
        _invoke(lam, name, f"ERROR number {i}", "fine")
    group = f"/aws/lambda/{name}"

    out = run_aws(
        node,
        tmp_path,
        "logs",
        "filter-log-events",
        "--log-group-name",
        group,
        "--filter-pattern",
        "ERROR",
        "--page-size",
        "2",
    )
    assert [e["message"] for e in out["events"]] == [f"ERROR number {i}" for i in range(3)]
    streams = run_aws(node, tmp_path, "logs", "describe-log-streams", "--log-group-name", group)
    stream = streams["logStreams"][0]["logStreamName"]
    events = run_aws(
        node,
        tmp_path,
        "logs",
        "get-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        stream,
        "--start-from-head",
    )
    assert sum(e["message"].startswith("REPORT") for e in events["events"]) == 3


SLOW = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    print("slept")
"""


def test_one_stream_per_environment_listed_by_name_or_last_event(
    lam: Any, logs: Any, create_function: Any
) -> None:
    # Given two invocations at once: two environments, so two streams
    name = create_function({"app.py": SLOW})["FunctionName"]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: lam.invoke(FunctionName=name, Payload=b'{"sleep": 1}'), range(2)))
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/{name}"
    by_name = logs.describe_log_streams(logGroupIdentifier=arn)["logStreams"]
    assert len(by_name) == 2 and all(STREAM_RE.match(s["logStreamName"]) for s in by_name)
    assert [s["logStreamName"] for s in by_name] == sorted(s["logStreamName"] for s in by_name)
    assert by_name[0]["arn"] == f"{arn}:log-stream:{by_name[0]['logStreamName']}"
    # When one environment runs again, it is the latest by last event time
    lam.invoke(FunctionName=name, Payload=b"{}")
    latest = logs.describe_log_streams(
        logGroupName=f"/aws/lambda/{name}", orderBy="LastEventTime", descending=True, limit=1
    )
    assert len(latest["logStreams"]) == 1 and "nextToken" in latest
    rest = logs.describe_log_streams(
        logGroupName=f"/aws/lambda/{name}",
        orderBy="LastEventTime",
        descending=True,
        nextToken=latest["nextToken"],
    )
    assert len(rest["logStreams"]) == 1
    newest, older = latest["logStreams"][0], rest["logStreams"][0]
    assert older["lastEventTimestamp"] <= newest["lastEventTimestamp"]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}", logGroupIdentifier=arn)
