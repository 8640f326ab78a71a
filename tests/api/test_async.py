"""Event invocations through a real node: durable accept, retries, destinations, queue control."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import NodeProcess, read_jsonl, wait_for, zip_source

#: The shared-node tests run on both stores (tests/conftest.py: pytest_generate_tests).
STORES = ("sqlite", "redis")

#: Async retry base delay the test nodes run with (AWS: 60 s).
BASE_DELAY_S = 0.5

RECORDER = """
import json, os, time

def handler(event, context):
    with open(os.environ["OUT_FILE"], "a") as fh:
        line = {"id": context.aws_request_id, "t": time.time(), "event": event}
        fh.write(json.dumps(line) + "\\n")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise RuntimeError("failing on purpose")
    return {"seen": event}
"""


def records(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path)


@pytest.fixture(scope="module")
def shared_node_args() -> tuple[str, ...]:
    return ("--async-retry-base-delay", str(BASE_DELAY_S))


@pytest.fixture
def anode(node: NodeProcess) -> NodeProcess:
    """The module's shared node, with short async retry delays."""
    return node


@pytest.fixture
def alam(anode: NodeProcess) -> Any:
    return anode.client("lambda")


@pytest.fixture
def recorder(alam: Any, create_function: Any, tmp_path: Path) -> Callable[..., tuple[str, Path]]:
    def make(**kwargs: Any) -> tuple[str, Path]:
        out = tmp_path / f"out-{time.monotonic_ns()}.jsonl"
        kwargs.setdefault("Timeout", 30)
        name = create_function(
            {"app.py": RECORDER},
            client=alam,
            Environment={"Variables": {"OUT_FILE": str(out)}},
            **kwargs,
        )["FunctionName"]
        return name, out

    return make


def send(lam: Any, name: str, payload: Any, **kwargs: Any) -> str:
    out = lam.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(payload), **kwargs
    )
    assert out["StatusCode"] == 202
    return str(out["ResponseMetadata"]["RequestId"])


def queue_stats(node: NodeProcess, name: str) -> dict[str, Any]:
    return dict(httpx.get(f"{node.url}/lamina/v1/functions/{name}/async-queue", timeout=10).json())


def test_event_answer_comes_before_a_slow_handler_finishes(alam: Any, recorder: Any) -> None:
    name, out = recorder()
    rid = send(alam, name, {"sleep": 2})
    answered_at = time.time()
    # Then: the 202 came back before the handler (which sleeps 2 s) could finish; it ran with
    # the request id the caller was given.
    seen = wait_for(lambda: records(out))
    assert seen[0]["id"] == rid
    assert answered_at < seen[0]["t"] + 2


def test_two_hundred_events_all_run_once(alam: Any, recorder: Any) -> None:
    name, out = recorder()
    ids = {send(alam, name, {"n": i}) for i in range(200)}
    wait_for(lambda: len(records(out)) >= 200)
    assert {r["id"] for r in records(out)} == ids
    assert sorted(r["event"]["n"] for r in records(out)) == list(range(200))


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (1, 2), (2, 3), (None, 3)])
def test_attempts_follow_maximum_retry_attempts(
    anode: NodeProcess, alam: Any, recorder: Any, retries: int | None, attempts: int
) -> None:
    name, out = recorder()
    if retries is not None:
        alam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=retries)
    rid = send(alam, name, {"fail": True})
    wait_for(lambda: queue_stats(anode, name)["depth"] == 0 and records(out), timeout=30)
    seen = [r for r in records(out) if r["id"] == rid]
    assert len(seen) == attempts
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(seen)]
    for n, gap in enumerate(gaps, start=1):  # retry n waits n × base delay
        assert gap >= BASE_DELAY_S * n * 0.9


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_event_age_exceeded_goes_to_on_failure_destination(
    anode: NodeProcess, alam: Any, recorder: Any
) -> None:
    # Given: a paused queue, a destination function, and an event older than the max age.
    name, _out = recorder()
    sink, sink_out = recorder()
    alam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumEventAgeInSeconds=60,
        DestinationConfig={
            "OnFailure": {
                "Destination": alam.get_function(FunctionName=sink)["Configuration"]["FunctionArn"]
            }
        },
    )
    httpx.post(f"{anode.url}/lamina/v1/functions/{name}/async-queue/pause", timeout=10)
    rid = send(alam, name, {"x": 1})
    time.sleep(61)  # the age limit itself is what is under test (minimum 60 s on AWS)
    httpx.post(f"{anode.url}/lamina/v1/functions/{name}/async-queue/resume", timeout=10)
    record = wait_for(lambda: records(sink_out))[0]["event"]
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["requestId"] == rid
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestPayload"] == {"x": 1}


def test_on_success_destination_function_gets_the_invocation_record(
    alam: Any, recorder: Any
) -> None:
    name, _ = recorder()
    sink, sink_out = recorder()
    sink_arn = alam.get_function(FunctionName=sink)["Configuration"]["FunctionArn"]
    alam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": sink_arn}}
    )
    rid = send(alam, name, {"order": 42})
    record = wait_for(lambda: records(sink_out))[0]["event"]
    assert record["version"] == "1.0"
    assert record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": rid,
        "condition": "Success",
        "approximateInvokeCount": 1,
        "functionArn": alam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        + ":$LATEST",
    }
    assert record["requestPayload"] == {"order": 42}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"seen": {"order": 42}}


def test_on_failure_queue_and_dead_letter_queue_receive_their_messages(
    anode: NodeProcess, alam: Any, recorder: Any, unique_name: Callable[[str], str]
) -> None:
    sqs = anode.client("sqs")
    failures = sqs.create_queue(QueueName=unique_name("failures"))["QueueUrl"]
    dlq = sqs.create_queue(QueueName=unique_name("dead-letters"))["QueueUrl"]

    def arn_of(url):
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    name, _ = recorder(DeadLetterConfig={"TargetArn": arn_of(dlq)})
    alam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": arn_of(failures)}},
    )
    rid = send(alam, name, {"fail": True, "k": "v"})
    msg = wait_for(
        lambda: sqs.receive_message(QueueUrl=failures, WaitTimeSeconds=1).get("Messages")
    )[0]
    record = json.loads(msg["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    dead = wait_for(
        lambda: sqs.receive_message(
            QueueUrl=dlq, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages")
    )[0]
    assert json.loads(dead["Body"]) == {"fail": True, "k": "v"}
    attrs = dead["MessageAttributes"]
    assert attrs["RequestID"]["StringValue"] == rid
    assert attrs["ErrorCode"]["DataType"] == "Number"
    assert "RuntimeError" in attrs["ErrorMessage"]["StringValue"]


def test_destination_to_a_deleted_function_does_not_stall_the_queue(
    anode: NodeProcess, alam: Any, recorder: Any
) -> None:
    name, out = recorder()
    sink, _ = recorder()
    sink_arn = alam.get_function(FunctionName=sink)["Configuration"]["FunctionArn"]
    alam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": sink_arn}}
    )
    alam.delete_function(FunctionName=sink)
    for i in range(5):
        send(alam, name, {"i": i})
    wait_for(lambda: len(records(out)) == 5 and queue_stats(anode, name)["depth"] == 0)


def test_event_invoke_config_validation(anode: NodeProcess, alam: Any, recorder: Any) -> None:
    name, _ = recorder()
    raw = anode.client("lambda", parameter_validation=False)  # let the node do the checking
    for bad in ({"MaximumRetryAttempts": 3}, {"MaximumEventAgeInSeconds": 59}):
        with pytest.raises(raw.exceptions.ClientError) as caught:
            raw.put_function_event_invoke_config(FunctionName=name, **bad)
        assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(alam.exceptions.InvalidParameterValueException):
        alam.put_function_event_invoke_config(
            FunctionName=name,
            DestinationConfig={
                "OnSuccess": {
                    "Destination": "arn:aws:lambda:us-east-1:000000000000:function:missing"
                }
            },
        )
    alam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    merged = alam.update_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=100
    )
    assert (merged["MaximumRetryAttempts"], merged["MaximumEventAgeInSeconds"]) == (1, 100)
    replaced = alam.put_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=200
    )
    assert "MaximumRetryAttempts" not in replaced
    assert replaced["FunctionArn"].endswith(f":{name}:$LATEST")
    listed = alam.list_function_event_invoke_configs(FunctionName=name)[
        "FunctionEventInvokeConfigs"
    ]
    assert len(listed) == 1
    alam.delete_function_event_invoke_config(FunctionName=name)
    with pytest.raises(alam.exceptions.ResourceNotFoundException):
        alam.get_function_event_invoke_config(FunctionName=name)


def test_queue_stats_list_purge_pause_resume(anode: NodeProcess, alam: Any, recorder: Any) -> None:
    name, out = recorder()
    base = f"{anode.url}/lamina/v1/functions/{name}/async-queue"
    assert httpx.post(base + "/pause", timeout=10).json()["paused"] is True
    ids = [send(alam, name, {"i": i}) for i in range(30)]
    stats = queue_stats(anode, name)
    # Received counts are per node (on Redis the calls went to both nodes of the cluster).
    received = sum(queue_stats(n, name)["received"] for n in [anode, *anode.peers])
    assert (stats["depth"], stats["paused"], received) == (30, True, 30)
    page = httpx.get(base + "/events", params={"limit": 20}, timeout=10).json()
    rest = httpx.get(base + "/events", params={"after": page["next"]}, timeout=10).json()
    listed = [e["requestId"] for e in page["events"] + rest["events"]]
    assert sorted(listed) == sorted(ids)
    assert all(e["attempts"] == 0 for e in page["events"])
    assert httpx.delete(base + "/events", timeout=10).json()["purged"] == 30
    send(alam, name, {"after": "purge"})
    httpx.post(base + "/resume", timeout=10)
    wait_for(lambda: records(out))
    assert [r["event"] for r in records(out)] == [{"after": "purge"}]


def test_purge_while_running_drops_every_waiting_event(
    anode: NodeProcess, alam: Any, recorder: Any
) -> None:
    # Reserved concurrency 1: one event runs, the rest wait (some claimed ahead by the poller).
    name, out = recorder()
    alam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    base = f"{anode.url}/lamina/v1/functions/{name}/async-queue"
    for i in range(12):
        send(alam, name, {"i": i, "sleep": 0.5})
    wait_for(lambda: records(out))
    purged = httpx.delete(base + "/events", timeout=10).json()["purged"]
    if not anode.peers:  # one node: all but the running one (and at most one starting)
        assert purged >= 10
    # Events already claimed (running, or waiting for a slot on a cluster) still run; no
    # purged one does.
    wait_for(lambda: len(records(out)) >= 12 - purged, timeout=30)
    time.sleep(1.0)  # a negative check: nothing purged may run after the purge
    assert len(records(out)) == 12 - purged


def test_paused_queue_holds_events_then_runs_them_with_new_code(
    anode: NodeProcess, alam: Any, recorder: Any
) -> None:
    # `lamina queue pause` is the pause; reserved concurrency 0 drops events, as on AWS.
    name, out = recorder()
    base = f"{anode.url}/lamina/v1/functions/{name}/async-queue"
    httpx.post(base + "/pause", timeout=10)
    for i in range(10):
        send(alam, name, {"i": i})
    time.sleep(1.0)  # a negative check: nothing may run while the queue is paused
    assert records(out) == [] and queue_stats(anode, name)["depth"] == 10
    new_code = RECORDER.replace('{"seen": event}', '{"seen": event, "v": 2}').replace(
        '"event": event}', '"event": event, "v": 2}'
    )
    alam.update_function_code(FunctionName=name, ZipFile=zip_source({"app.py": new_code}))
    httpx.post(base + "/resume", timeout=10)
    wait_for(lambda: len(records(out)) == 10)
    assert all(r.get("v") == 2 for r in records(out))
    assert queue_stats(anode, name)["retried"] == 0


@pytest.mark.timeout(180)  # 500 events through 5 slots and a restart, with room for a busy host
def test_accepted_events_survive_kill_9(
    node_factory: Callable[..., NodeProcess], create_function: Any, tmp_path: Path
) -> None:
    # Given: 500 accepted events for a slow handler and no retries (a cut-off run counted as an
    # attempt would drop its event, so every event must still complete).
    first = node_factory("--async-retry-base-delay", str(BASE_DELAY_S))
    lam = first.client("lambda")
    out = tmp_path / "crash.jsonl"
    name = create_function(
        {"app.py": RECORDER},
        client=lam,
        Timeout=30,
        Environment={"Variables": {"OUT_FILE": str(out)}},
    )["FunctionName"]
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    ids = {send(lam, name, {"sleep": 0.05, "i": i}) for i in range(500)}
    wait_for(lambda: len(records(out)) >= 20)
    # When: the node dies mid-way and a new one starts on the same data dir.
    first.kill9()
    second = node_factory("--async-retry-base-delay", str(BASE_DELAY_S), data_dir=first.data_dir)
    # Then: every accepted event runs at least once.
    wait_for(lambda: {r["id"] for r in records(out)} >= ids, timeout=120, every=0.2)
    wait_for(lambda: queue_stats(second, name)["depth"] == 0, timeout=30)
    counts = Counter(r["id"] for r in records(out))
    assert set(counts) == ids
