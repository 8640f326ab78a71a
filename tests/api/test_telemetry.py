"""/metrics and /lamina/v1/stats report exactly what a test drove through a real node."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from harness import NodeProcess, wait_for

HANDLER = """
import os, time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    while event.get("hold") and not os.path.exists(event["hold"]):  # until the test says
        time.sleep(0.01)
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""


def scrape(node: NodeProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    text = httpx.get(node.url + "/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def stats(node: NodeProcess) -> dict[str, Any]:
    return httpx.get(node.url + "/lamina/v1/stats", timeout=5).json()


def test_counters_and_stats_match_what_was_driven(
    node: NodeProcess, lam: Any, create_function: Any, tmp_path: Path
) -> None:
    name = create_function({"app.py": HANDLER}, Timeout=60)["FunctionName"]
    for _ in range(5):
        lam.invoke(FunctionName=name, Payload=b"{}")
    for _ in range(3):
        lam.invoke(FunctionName=name, Payload=json.dumps({"fail": True}).encode())
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    release = tmp_path / "release"  # the holding call runs until the test has looked
    holding = json.dumps({"hold": str(release)}).encode()
    holder = threading.Thread(target=lam.invoke, kwargs={"FunctionName": name, "Payload": holding})
    holder.start()
    wait_for(lambda: stats(node)["functions"][name]["running"] == 1)
    throttled = 0
    for _ in range(4):
        try:
            lam.invoke(FunctionName=name, Payload=b"{}")
        except ClientError:
            throttled += 1
    running = scrape(node)
    assert sample(running, "lamina_concurrent_executions", function=name) == 1
    assert sample(running, "lamina_account_concurrent_executions") == 1
    release.touch()
    holder.join()
    assert throttled == 4
    samples = scrape(node)
    assert sample(samples, "lamina_invocations_total", function=name) == 9
    assert sample(samples, "lamina_errors_total", function=name) == 3
    assert sample(samples, "lamina_throttles_total", function=name) == 4
    assert sample(samples, "lamina_duration_milliseconds_count", function=name) == 9
    assert sample(samples, "lamina_concurrent_executions", function=name) == 0
    view = stats(node)["functions"][name]
    assert view["invocations"] == 9 and view["errors"] == 3 and view["throttles"] == 4
    assert view["reserved"] == 1 and view["running"] == 0
    assert view["environments"]["total"] >= 1


def test_running_counts_return_to_zero_after_timeouts_and_crashes(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    slow = create_function({"app.py": HANDLER}, Timeout=1)["FunctionName"]
    crash = create_function(
        {"app.py": "import os\n\ndef handler(event, context):\n    os._exit(7)\n"}
    )["FunctionName"]
    threads = [
        threading.Thread(
            target=lam.invoke, kwargs={"FunctionName": slow, "Payload": b'{"sleep": 5}'}
        )
        for _ in range(3)
    ] + [
        threading.Thread(target=lam.invoke, kwargs={"FunctionName": crash, "Payload": b"{}"})
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    samples = scrape(node)
    assert sample(samples, "lamina_account_concurrent_executions") == 0
    assert sample(samples, "lamina_unreserved_concurrent_executions") == 0
    assert sample(samples, "lamina_errors_total", function=slow) == 3
    assert sample(samples, "lamina_errors_total", function=crash) == 3
    account = stats(node)["account"]
    assert account["in_use"] == 0 and account["unreserved_in_use"] == 0


def test_provisioned_invocations_and_spillover_are_counted(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = create_function({"app.py": HANDLER})["FunctionName"]
    lam.publish_version(FunctionName=name)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    wait_for(
        lambda: (
            lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")["Status"]
            == "READY"
        )
    )
    assert stats(node)["functions"][name]["provisioned"] == {"ready": 1, "busy": 0}
    threads = [
        threading.Thread(
            target=lam.invoke,
            kwargs={"FunctionName": name, "Qualifier": "1", "Payload": b'{"sleep": 1.5}'},
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    samples = scrape(node)
    assert sample(samples, "lamina_provisioned_concurrency_invocations_total", function=name) == 1
    assert (
        sample(samples, "lamina_provisioned_concurrency_spillover_invocations_total", function=name)
        == 2
    )
    assert sample(samples, "lamina_provisioned_concurrency_utilization", function=name) == 0
