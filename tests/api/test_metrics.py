"""/metrics and /lamina/v1/stats agree with each other and with what a test drove: reserved-0
throttles and async events dropped at reserved 0, the Duration histogram, environments by
state, and running counts that return to zero after timeouts and crashes (no slot leaked)."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness import NodeProcess, wait_for
from lamina.engine.telemetry import Telemetry

HANDLER = """
import os, time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    while event.get("hold") and not os.path.exists(event["hold"]):  # until the test says
        time.sleep(0.01)
    if event.get("crash"):
        os._exit(9)
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(node: NodeProcess) -> Samples:
    """Every sample of /metrics by (name, sorted labels)."""
    response = httpx.get(node.url + "/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def stats(node: NodeProcess) -> dict[str, Any]:
    response = httpx.get(node.url + "/lamina/v1/stats", timeout=5)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def invoke(lam: Any, name: str, **event: Any) -> dict[str, Any]:
    out: dict[str, Any] = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    out["Payload"].read()
    return out


def in_background(lam: Any, name: str, count: int, **event: Any) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=invoke, args=(lam, name), kwargs=event) for _ in range(count)
    ]
    for t in threads:
        t.start()
    return threads


def test_reserved_zero_throttles_and_dropped_events_are_reported_exactly(
    node_factory: Any, create_function: Any
) -> None:
    # Given a small account, one function with 4 successes and 2 function errors
    node = node_factory("--account-concurrency", "40")
    lam = node.client("lambda")
    name = create_function({"app.py": HANDLER}, client=lam)["FunctionName"]
    other = create_function({"app.py": HANDLER}, client=lam)["FunctionName"]
    lam.put_function_concurrency(FunctionName=other, ReservedConcurrentExecutions=10)
    for _ in range(4):
        assert "FunctionError" not in invoke(lam, name)
    for _ in range(2):
        assert invoke(lam, name, fail=True)["FunctionError"] == "Unhandled"
    # When it is throttled to 0: 3 sync calls are refused and 2 events are dropped unrun
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for _ in range(3):
        with pytest.raises(ClientError) as caught:
            invoke(lam, name)
        assert caught.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert caught.value.response["Reason"] == (
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        )
    for _ in range(2):
        assert (
            lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"]
            == 202
        )
    # Then stats and /metrics agree on every figure
    wait_for(lambda: stats(node)["functions"][name]["queue_depth"] == 0)
    view = stats(node)
    assert view["functions"][name] == {
        "running": 0,
        "reserved": 0,
        "provisioned": {"ready": 0, "busy": 0},
        "throttles": 3,
        "invocations": 6,
        "errors": 2,
        "environments": view["functions"][name]["environments"],
        "queue_depth": 0,
        "queue_oldest_age_s": None,  # the queue is empty
        "queue_paused": False,
        "limit": 0,
        "duration_p50_ms": view["functions"][name]["duration_p50_ms"],
        "duration_p99_ms": view["functions"][name]["duration_p99_ms"],
    }
    assert (
        0 < view["functions"][name]["duration_p50_ms"] <= view["functions"][name]["duration_p99_ms"]
    )
    assert view["functions"][other]["reserved"] == 10
    assert view["account"] == {
        "limit": 40,
        "unreserved_limit": 30,
        "unreserved_in_use": 0,
        "in_use": 0,
    }
    samples = scrape(node)
    assert sample(samples, "lamina_invocations_total", function=name) == 6
    assert sample(samples, "lamina_errors_total", function=name) == 2
    assert sample(samples, "lamina_throttles_total", function=name) == 3
    assert sample(samples, "lamina_duration_milliseconds_count", function=name) == 6
    assert sample(samples, "lamina_concurrent_executions", function=name) == 0
    assert sample(samples, "lamina_invocations_total", function=other) == 0
    # When the reservation is removed, new calls run through the same counted path
    lam.delete_function_concurrency(FunctionName=name)
    invoke(lam, name)
    samples = scrape(node)
    assert sample(samples, "lamina_invocations_total", function=name) == 7
    assert sample(samples, "lamina_errors_total", function=name) == 2
    assert sample(samples, "lamina_throttles_total", function=name) == 3
    assert stats(node)["functions"][name]["reserved"] is None


def test_running_environments_and_duration_follow_slow_calls(
    node: NodeProcess, lam: Any, create_function: Any, tmp_path: Path
) -> None:
    name = create_function({"app.py": HANDLER}, Timeout=60)["FunctionName"]
    invoke(lam, name)
    # While two calls of at least 1.5 s run (held until the test has looked), both views
    # show them
    release = tmp_path / "release"
    threads = in_background(lam, name, 2, sleep=1.5, hold=str(release))
    wait_for(lambda: stats(node)["functions"][name]["running"] == 2)
    wait_for(lambda: stats(node)["functions"][name]["environments"]["busy"] == 2)
    during = scrape(node)
    assert sample(during, "lamina_concurrent_executions", function=name) == 2
    assert sample(during, "lamina_account_concurrent_executions") == 2
    assert sample(during, "lamina_unreserved_concurrent_executions") == 2
    assert stats(node)["account"]["unreserved_in_use"] == 2
    release.touch()
    for t in threads:
        t.join()
    # Afterwards nothing runs, and both environments wait idle
    after = scrape(node)
    view = stats(node)["functions"][name]
    assert view["running"] == 0
    assert sample(after, "lamina_concurrent_executions", function=name) == 0
    assert sample(after, "lamina_account_concurrent_executions") == 0
    assert view["environments"] == {"total": 2, "starting": 0, "idle": 2, "busy": 0}
    for state in ("starting", "idle", "busy"):
        assert (
            sample(after, "lamina_environments", function=name, state=state)
            == view["environments"][state]
        )
    # The Duration histogram holds the 3 calls; the two slow ones sit above the 1 s bucket
    count = sample(after, "lamina_duration_milliseconds_count", function=name)
    assert count == 3 == sample(after, "lamina_invocations_total", function=name)
    assert sample(after, "lamina_duration_milliseconds_bucket", function=name, le="+Inf") == 3
    assert sample(after, "lamina_duration_milliseconds_bucket", function=name, le="1000.0") <= 1
    assert sample(after, "lamina_duration_milliseconds_sum", function=name) >= 3000


def test_no_slot_leaked_after_timeouts_and_crashes(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    # Given two functions that may run one call at a time: one times out, one crashes
    slow = create_function({"app.py": HANDLER}, Timeout=1)["FunctionName"]
    crash = create_function({"app.py": HANDLER})["FunctionName"]
    for name in (slow, crash):
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    # When each fails twice in a row (the second call is admitted only if the first gave
    # its slot back)
    for _ in range(2):
        out = invoke(lam, slow, sleep=5)
        assert out["FunctionError"] == "Unhandled"
        assert invoke(lam, crash, crash=True)["FunctionError"] == "Unhandled"
    # Then both views read zero running, no throttles, and every failure as an error
    for name in (slow, crash):
        wait_for(lambda n=name: stats(node)["functions"][n]["running"] == 0)
        samples = scrape(node)
        assert sample(samples, "lamina_concurrent_executions", function=name) == 0
        assert sample(samples, "lamina_throttles_total", function=name) == 0
        assert sample(samples, "lamina_invocations_total", function=name) == 2
        assert sample(samples, "lamina_errors_total", function=name) == 2
        assert sample(samples, "lamina_environments", function=name, state="busy") == 0
    samples = scrape(node)
    assert sample(samples, "lamina_account_concurrent_executions") == 0
    assert stats(node)["account"]["in_use"] == 0
    # And the slots really are free: two parallel calls (one each) both run
    threads = in_background(lam, slow, 1) + in_background(lam, crash, 1)
    for t in threads:
        t.join()
    assert sample(scrape(node), "lamina_throttles_total", function=slow) == 0
    assert sample(scrape(node), "lamina_invocations_total", function=crash) == 3


def test_dry_run_is_not_an_invocation_and_the_registry_is_the_nodes_own(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = create_function({"app.py": HANDLER})["FunctionName"]
    invoke(lam, name)
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    samples = scrape(node)
    assert sample(samples, "lamina_invocations_total", function=name) == 1
    # the process-wide default collectors are not there: /metrics is the node's registry
    assert not any(key[0].startswith(("python_gc_", "process_")) for key in samples)


def test_two_telemetry_objects_in_one_process_do_not_share_series() -> None:
    first, second = Telemetry(), Telemetry()
    first.invoked("f", 12.0, error=True)
    assert first.statistics().durations["f"].count == 1
    assert first.statistics().errors == {"f": 1}
    assert second.statistics().invocations == {} and second.statistics().durations == {}
    # /metrics renders each scrape in a registry of its own, never the process-wide one
    assert b"lamina_" not in generate_latest(REGISTRY)


def test_undelivered_records_are_counted_under_aws_names(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    # Given a function whose OnFailure destination and dead-letter queue are both gone
    sqs = node.client("sqs")
    url = sqs.create_queue(QueueName=f"gone-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    arn = attrs["QueueArn"]
    name = create_function({"app.py": HANDLER}, DeadLetterConfig={"TargetArn": arn})["FunctionName"]
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )
    sqs.delete_queue(QueueUrl=url)
    # When one event fails
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"fail": true}')
    # Then DestinationDeliveryFailures and DeadLetterErrors count it, in both views
    samples = wait_for(
        lambda: (s := scrape(node)) and sample(s, "lamina_dead_letter_errors_total") == 1 and s
    )
    assert sample(samples, "lamina_destination_delivery_failures_total") == 1
    assert sample(samples, "lamina_async_events_received_total", function=name) == 1
    assert sample(samples, "lamina_async_events_dropped_total", function=name) == 1
    assert stats(node)["destinations"] == {"delivery_failures": 1, "dead_letter_errors": 1}
