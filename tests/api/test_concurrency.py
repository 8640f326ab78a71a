"""Concurrency limits through a real node: reserved pools, the account limit, throttling reasons,
validation of reservations, and no leaked slot after timeouts and crashes."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from harness import NodeProcess, wait_for

#: The shared-node tests run on both stores (tests/conftest.py: pytest_generate_tests).
STORES = ("sqlite", "redis")

SLEEPER = """
import json, os, time

def handler(event, context):
    start = time.time()
    time.sleep(event.get("sleep", 0))
    if event.get("crash"):
        os._exit(3)
    with open(os.environ["OUT_FILE"], "a") as fh:
        fh.write(json.dumps({"start": start, "end": time.time()}) + "\\n")
    return {"ok": True}
"""


def max_overlap(path: Path) -> int:
    """Most handler runs that were in progress at one moment, from their recorded spans."""
    spans = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    edges = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def parallel_invokes(lam: Any, name: str, count: int, payload: dict[str, Any]) -> list[Any]:
    """Invoke `count` times at once; each result is the response or the ClientError raised."""
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def call(i: int) -> None:
        barrier.wait()
        try:
            results[i] = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
        except ClientError as exc:
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def throttle_reasons(results: list[Any]) -> Counter[str]:
    return Counter(
        r.response.get("Reason", "?")
        for r in results
        if isinstance(r, ClientError) and r.response["Error"]["Code"] == "TooManyRequestsException"
    )


@pytest.fixture
def sleeper(create_function: Any, tmp_path: Path) -> Callable[..., tuple[str, Path]]:
    def make(client: Any = None, **kwargs: Any) -> tuple[str, Path]:
        out = tmp_path / f"spans-{time.monotonic_ns()}.jsonl"
        out.touch()
        out.chmod(0o666)  # handlers run as their function's user
        name = create_function(
            {"app.py": SLEEPER},
            client=client,
            Environment={"Variables": {"OUT_FILE": str(out)}},
            Timeout=kwargs.pop("Timeout", 30),
            **kwargs,
        )["FunctionName"]
        return name, out

    return make


def test_reserved_two_lets_two_run_and_throttles_the_rest(lam: Any, sleeper: Any) -> None:
    name, out = sleeper()
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    results = parallel_invokes(lam, name, 6, {"sleep": 2.0})
    ok = [r for r in results if isinstance(r, dict)]
    assert len(ok) == 2
    assert throttle_reasons(results) == {"ReservedFunctionConcurrentInvocationLimitExceeded": 4}
    assert max_overlap(out) == 2
    throttled = next(r for r in results if isinstance(r, ClientError))
    assert throttled.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_unreserved_pool_exhaustion_throttles_with_the_account_reason(
    node_factory: Callable[..., NodeProcess], sleeper: Any
) -> None:
    small = node_factory("--account-concurrency", "3", "--unreserved-minimum", "0")
    lam = small.client("lambda")
    name, out = sleeper(client=lam)
    results = parallel_invokes(lam, name, 5, {"sleep": 2.0})
    assert sum(isinstance(r, dict) for r in results) == 3
    assert throttle_reasons(results) == {"ConcurrentInvocationLimitExceeded": 2}
    assert max_overlap(out) == 3


def test_a_reservation_carves_its_slots_out_of_the_unreserved_pool(
    node_factory: Callable[..., NodeProcess], sleeper: Any
) -> None:
    small = node_factory("--account-concurrency", "4", "--unreserved-minimum", "1")
    lam = small.client("lambda")
    reserved, _ = sleeper(client=lam)
    other, out = sleeper(client=lam)
    lam.put_function_concurrency(FunctionName=reserved, ReservedConcurrentExecutions=3)
    limits = lam.get_account_settings()["AccountLimit"]
    assert limits["ConcurrentExecutions"] == 4
    assert limits["UnreservedConcurrentExecutions"] == 1
    results = parallel_invokes(lam, other, 3, {"sleep": 2.0})
    assert sum(isinstance(r, dict) for r in results) == 1
    assert throttle_reasons(results) == {"ConcurrentInvocationLimitExceeded": 2}
    assert max_overlap(out) == 1


def test_reservation_validation(node_factory: Callable[..., NodeProcess], sleeper: Any) -> None:
    small = node_factory("--account-concurrency", "20")  # unreserved minimum: 2
    lam = small.client("lambda")
    first, _ = sleeper(client=lam)
    second, _ = sleeper(client=lam)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="minimum value"):
        lam.put_function_concurrency(FunctionName=first, ReservedConcurrentExecutions=19)
    lam.put_function_concurrency(FunctionName=first, ReservedConcurrentExecutions=10)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="minimum value"):
        lam.put_function_concurrency(FunctionName=second, ReservedConcurrentExecutions=9)
    lam.put_function_concurrency(FunctionName=second, ReservedConcurrentExecutions=8)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_concurrency(FunctionName=second, ReservedConcurrentExecutions=21)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.put_function_concurrency(FunctionName="nope", ReservedConcurrentExecutions=1)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 2
    lam.delete_function_concurrency(FunctionName=first)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=first)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 12


def test_reserved_zero_throttles_every_call_and_delete_resumes(lam: Any, sleeper: Any) -> None:
    name, _ = sleeper()
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as exc:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert exc.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=name)
    assert lam.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200


def test_no_slot_leaks_after_timeouts_and_crashes(
    node_factory: Callable[..., NodeProcess], sleeper: Any
) -> None:
    small = node_factory("--account-concurrency", "2", "--unreserved-minimum", "0")
    lam = small.client("lambda")
    slow, _ = sleeper(client=lam, Timeout=1)
    crashing, _ = sleeper(client=lam)
    for _ in range(3):
        results = parallel_invokes(lam, slow, 2, {"sleep": 5})
        assert all(r["FunctionError"] == "Unhandled" for r in results)
        results = parallel_invokes(lam, crashing, 2, {"crash": True})
        assert all(r["FunctionError"] == "Unhandled" for r in results)
    # every slot came back: the full account limit can run at once again
    fine, out = sleeper(client=lam)
    results = parallel_invokes(lam, fine, 2, {"sleep": 1.5})
    assert all(isinstance(r, dict) and "FunctionError" not in r for r in results)
    assert max_overlap(out) == 2


def node_figures(node: NodeProcess) -> dict[str, Any]:
    return httpx.get(node.url + "/lamina/v1/node", timeout=5).json()


def init_duration(response: dict[str, Any]) -> bool:
    """Whether the invocation cold-started (its REPORT line has an Init Duration)."""
    return "Init Duration" in base64.b64decode(response["LogResult"]).decode()


def test_memory_budget_evicts_idle_environments_of_other_functions_lru_first(
    node_factory: Callable[..., NodeProcess], sleeper: Any
) -> None:
    small = node_factory("--memory-budget", "640")
    lam = small.client("lambda")
    first, _ = sleeper(client=lam, MemorySize=256)
    second, _ = sleeper(client=lam, MemorySize=256)
    parallel_invokes(lam, first, 2, {"sleep": 1.5})  # two warm environments of `first`
    assert node_figures(small)["memory_in_use_mb"] == 512
    out = lam.invoke(FunctionName=second, Payload=b"{}", LogType="Tail")
    assert init_duration(out)
    figures = node_figures(small)
    assert figures["evictions"] == 1 and figures["memory_in_use_mb"] == 512
    # the least recently used environment of `first` went; the other one is still warm
    assert not init_duration(lam.invoke(FunctionName=first, Payload=b"{}", LogType="Tail"))


def test_memory_budget_throttles_when_nothing_can_be_evicted(
    node_factory: Callable[..., NodeProcess], sleeper: Any
) -> None:
    small = node_factory("--memory-budget", "384")
    lam = small.client("lambda")
    busy, _ = sleeper(client=lam, MemorySize=256)
    other, _ = sleeper(client=lam, MemorySize=256)
    holder = threading.Thread(
        target=lam.invoke, kwargs={"FunctionName": busy, "Payload": b'{"sleep": 3}'}
    )
    holder.start()
    try:
        wait_for(lambda: node_figures(small)["memory_in_use_mb"] == 256)
        with pytest.raises(lam.exceptions.TooManyRequestsException) as exc:
            lam.invoke(FunctionName=other, Payload=b"{}")
        assert exc.value.response["Reason"] == "NodeMemoryBudgetExceeded"
    finally:
        holder.join()
    assert lam.invoke(FunctionName=other, Payload=b"{}")["StatusCode"] == 200
    assert node_figures(small)["evictions"] == 1
