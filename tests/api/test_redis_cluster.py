"""Two real `lamina serve` nodes on one real redis-server behave as one region."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx
import pytest

from harness import NodeProcess, RedisServer, read_jsonl, wait_for, zip_source
from lamina.control.code_gc import CODE_HOLD
from lamina.store import redis_keys
from lamina.store.base import Put
from lamina.store.redis_store import RedisStore

#: A handler that returns an environment variable.
ECHO = """
import os

def handler(event, context):
    return {"colour": os.environ.get("COLOUR"), "event": event}
"""

#: A handler that records each start (request id), then sleeps for event["sleep"] seconds.
SLOW_RECORDER = """
import json, os, time

def handler(event, context):
    with open(os.environ["OUT_FILE"], "a") as fh:
        fh.write(json.dumps({"id": context.aws_request_id}) + "\\n")
    time.sleep(event.get("sleep", 0))
    return "done"
"""

#: A handler that sleeps for event["sleep"] seconds and records when it started and ended.
TIMED = """
import json, os, time

def handler(event, context):
    start = time.time()
    time.sleep(event.get("sleep", 0))
    with open(os.environ["OUT_FILE"], "a") as fh:
        fh.write(json.dumps({"start": start, "end": time.time()}) + "\\n")
    return "done"
"""


@pytest.fixture
def cluster(
    redis_server: RedisServer, node_factory: Callable[..., NodeProcess], tmp_path: Path
) -> tuple[NodeProcess, NodeProcess]:
    """Nodes A and B on the session's redis-server, emptied first; each has its own data dir."""
    redis_server.command("FLUSHDB")  # database 0 only: other tests hold the others
    a = node_factory("--store", redis_server.url, data_dir=tmp_path / "a")
    b = node_factory("--store", redis_server.url, data_dir=tmp_path / "b")
    return a, b


def _invoke(lam: Any, name: str, payload: dict[str, Any]) -> Any:
    return json.loads(lam.invoke(FunctionName=name, Payload=json.dumps(payload))["Payload"].read())


def test_create_on_one_node_invoke_and_update_through_the_other(
    cluster: tuple[NodeProcess, NodeProcess], create_function: Callable[..., dict[str, Any]]
) -> None:
    a, b = cluster
    lam_a, lam_b = a.client("lambda"), b.client("lambda")
    name = create_function(
        {"app.py": ECHO}, client=lam_a, Environment={"Variables": {"COLOUR": "red"}}
    )["FunctionName"]

    assert lam_b.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
    assert _invoke(lam_b, name, {"n": 1})["colour"] == "red"
    assert _invoke(lam_a, name, {"n": 2})["colour"] == "red"  # A's caches are warm now

    lam_b.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"COLOUR": "blue"}}
    )
    wait_for(
        lambda: (
            lam_b.get_function(FunctionName=name)["Configuration"]["LastUpdateStatus"]
            == "Successful"
        )
    )
    assert _invoke(lam_a, name, {"n": 3})["colour"] == "blue"
    assert [f["FunctionName"] for f in lam_a.list_functions()["Functions"]] == [name]


def _digest(config: dict[str, Any]) -> str:
    return base64.b64decode(config["CodeSha256"]).hex()


def _blobs_stored(url: str, digests: list[str]) -> list[bool]:
    """Which of `digests` the shared store holds, read through a store of the test's own."""

    async def read() -> list[bool]:
        store = RedisStore.from_url(url)
        await store.open()
        try:
            return [await store.get_blob(d) is not None for d in digests]
        finally:
            await store.close()

    return asyncio.run(read())


def _put_blob(url: str, data: bytes, hold_until: float | None) -> str:
    """Store `data` as another node's CreateFunction would, holding it until `hold_until`."""

    async def put() -> str:
        digest = hashlib.sha256(data).hexdigest()
        store = RedisStore.from_url(url)
        await store.open()
        try:
            if hold_until is not None:
                await store.transact([Put(CODE_HOLD, f"{digest}/other", repr(hold_until).encode())])
            await store.put_blob(digest, data)
        finally:
            await store.close()
        return digest

    return asyncio.run(put())


def test_code_another_node_refers_to_or_is_creating_outlives_sweeps_and_collection(
    cluster: tuple[NodeProcess, NodeProcess],
    redis_server: RedisServer,
    create_function: Callable[..., dict[str, Any]],
) -> None:
    """Each node has its own code directory but they share the blobs: A's collection and B's
    start-up sweep keep code a version on the other node refers to, and code another node is
    still creating a function with (held); they remove only what nothing refers to."""
    a, b = cluster
    lam_a, lam_b = a.client("lambda"), b.client("lambda")
    f = create_function("basic", client=lam_a)  # tests/functions/basic: the same bytes twice
    g = create_function("basic", client=lam_b)
    shared = _digest(f)
    assert _digest(g) == shared

    lam_a.update_function_code(
        FunctionName=f["FunctionName"], ZipFile=zip_source({"app.py": ECHO + "\n# v2\n"})
    )
    wait_for(
        lambda: (
            lam_a.get_function(FunctionName=f["FunctionName"])["Configuration"]["LastUpdateStatus"]
            == "Successful"
        )
    )
    assert _blobs_stored(redis_server.url, [shared]) == [True]  # g (on B) still refers to it

    held = _put_blob(redis_server.url, b"mid-create on a third node", time.time() + 600)
    orphan = _put_blob(redis_server.url, b"left by a crash", None)
    expired = _put_blob(redis_server.url, b"held by a node that died", time.time() - 1)
    b.stop()
    b.start()
    assert _blobs_stored(redis_server.url, [shared, held, orphan, expired]) == [
        True,
        True,
        False,
        False,
    ]
    assert "FunctionError" not in lam_b.invoke(FunctionName=g["FunctionName"], Payload=b"{}")

    lam_b.delete_function(FunctionName=g["FunctionName"])
    wait_for(lambda: _blobs_stored(redis_server.url, [shared]) == [False])


def test_cluster_lists_the_live_nodes_with_their_running_counts(
    cluster: tuple[NodeProcess, NodeProcess],
) -> None:
    a, b = cluster

    def both_listed() -> Any:
        found = httpx.get(a.url + "/lamina/v1/cluster").json()
        return found if len(found["nodes"]) == 2 else None

    found = wait_for(both_listed)
    assert found["store"] == "redis"
    assert [n["self"] for n in found["nodes"]].count(True) == 1
    assert all(n["running"] == 0 for n in found["nodes"])
    b.stop()
    wait_for(lambda: len(httpx.get(a.url + "/lamina/v1/cluster").json()["nodes"]) == 1)


def test_events_of_a_killed_node_run_again_on_another(
    redis_server: RedisServer,
    node_factory: Callable[..., NodeProcess],
    create_function: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    """A runs 10 events and is killed with SIGKILL; B, started after, runs each of them again
    once A's claims lapse (at-least-once)."""
    redis_server.command("FLUSHDB")  # database 0 only: other tests hold the others
    a = node_factory("--store", redis_server.url, data_dir=tmp_path / "a")
    lam_a = a.client("lambda")
    out = tmp_path / "starts.jsonl"
    name = create_function(
        {"app.py": SLOW_RECORDER},
        client=lam_a,
        Timeout=60,
        Environment={"Variables": {"OUT_FILE": str(out)}},
    )["FunctionName"]
    ids = {
        lam_a.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"sleep": 30}')[
            "ResponseMetadata"
        ]["RequestId"]
        for _ in range(10)
    }
    wait_for(lambda: {r["id"] for r in read_jsonl(out)} == ids)
    a.kill9()

    node_factory("--store", redis_server.url, data_dir=tmp_path / "b")

    def every_event_started_twice() -> bool:
        starts = [r["id"] for r in read_jsonl(out)]
        return all(starts.count(rid) >= 2 for rid in ids)

    wait_for(every_event_started_twice, timeout=60)


def test_redis_down_answers_service_errors_then_the_node_reconnects(
    own_redis_server: RedisServer,
    node_factory: Callable[..., NodeProcess],
    create_function: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    """While Redis is down calls fail fast with ServiceException; after a restart (AOF, fsync
    always) the node answers again by itself and every acknowledged write is there."""
    a = node_factory("--store", own_redis_server.url, data_dir=tmp_path / "a")
    lam, sqs = a.client("lambda"), a.client("sqs")
    name = create_function({"app.py": ECHO}, client=lam)["FunctionName"]
    url = sqs.create_queue(QueueName="kept")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    out = tmp_path / "starts.jsonl"
    held = create_function(
        {"app.py": SLOW_RECORDER},
        client=lam,
        Timeout=120,
        Environment={"Variables": {"OUT_FILE": str(out)}},
    )["FunctionName"]
    lam.put_function_concurrency(FunctionName=held, ReservedConcurrentExecutions=1)
    for _ in range(3):  # accepted (202); one runs for a minute, the others wait for its slot
        lam.invoke(FunctionName=held, InvocationType="Event", Payload=b'{"sleep": 60}')
    wait_for(lambda: len(read_jsonl(out)) == 1)

    own_redis_server.kill9()
    started = time.monotonic()
    with pytest.raises(botocore.exceptions.ClientError) as err:
        lam.get_function(FunctionName=name)
    assert err.value.response["Error"]["Code"] == "ServiceException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert time.monotonic() - started < 10

    own_redis_server.start()

    def answers() -> bool:
        try:
            return bool(lam.get_function(FunctionName=name))
        except botocore.exceptions.ClientError:
            return False

    wait_for(answers, timeout=20)
    assert _invoke(lam, name, {"n": 1})["colour"] is None
    bodies: list[str] = []

    def all_received() -> bool:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies.extend(m["Body"] for m in got.get("Messages", []))
        return len(bodies) >= 3

    wait_for(all_received, timeout=20)
    assert sorted(bodies) == ["m0", "m1", "m2"]
    queue = httpx.get(f"{a.url}/lamina/v1/functions/{held}/async-queue").json()
    assert queue["depth"] == 3


def _most_overlapping(spans: list[dict[str, float]]) -> int:
    """The largest number of spans running at one instant (an end before a start at a tie)."""
    edges = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans])
    running = most = 0
    for _at, step in edges:
        running += step
        most = max(most, running)
    return most


def _slot_counts(redis_server: RedisServer, function: str) -> list[bytes]:
    return [redis_server.command("ZCARD", key) for key in redis_keys.slot_keys(function)]


def _burst(clients: list[Any], name: str, calls: int, payload: bytes) -> list[str]:
    """`calls` sync invokes at once, spread over `clients`: "OK" or each throttle's Reason."""

    def one(i: int) -> str:
        try:
            clients[i % len(clients)].invoke(FunctionName=name, Payload=payload)
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "TooManyRequestsException"
            return str(exc.response["Reason"])
        return "OK"

    with ThreadPoolExecutor(max_workers=calls) as pool:
        return list(pool.map(one, range(calls)))


def test_reserved_concurrency_holds_across_nodes_at_every_instant(
    cluster: tuple[NodeProcess, NodeProcess],
    redis_server: RedisServer,
    create_function: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    """30 calls at once, half through each node, of a function with reserved concurrency 5:
    never more than 5 run at one instant anywhere, and every slot is given back after."""
    a, b = cluster
    out = tmp_path / "spans.jsonl"
    name = create_function(
        {"app.py": TIMED},
        client=a.client("lambda"),
        Timeout=30,
        Environment={"Variables": {"OUT_FILE": str(out)}},
    )["FunctionName"]
    a.client("lambda").put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    lam_b = b.client("lambda")
    wait_for(
        lambda: (
            lam_b.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
            == 5
        )
    )

    answers = _burst([a.client("lambda"), lam_b], name, 30, b'{"sleep": 1.0}')

    spans = read_jsonl(out)
    assert len(spans) == answers.count("OK") >= 5
    assert set(answers) - {"OK"} <= {"ReservedFunctionConcurrentInvocationLimitExceeded"}
    assert _most_overlapping(spans) <= 5
    wait_for(lambda: _slot_counts(redis_server, name) == [b":0\r\n"] * 3)


def test_the_slots_of_a_killed_node_return_within_the_lease_time(
    cluster: tuple[NodeProcess, NodeProcess],
    redis_server: RedisServer,
    create_function: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    """A holds the one slot of a function when it is killed with SIGKILL; B is throttled until
    A's lease ends (within 10 s), then runs it."""
    a, b = cluster
    name = create_function(
        {"app.py": TIMED},
        client=a.client("lambda"),
        Timeout=60,
        Environment={"Variables": {"OUT_FILE": str(tmp_path / "spans.jsonl")}},
    )["FunctionName"]
    a.client("lambda").put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    held = ThreadPoolExecutor(max_workers=1)
    pending = held.submit(a.client("lambda").invoke, FunctionName=name, Payload=b'{"sleep": 60}')
    wait_for(lambda: _slot_counts(redis_server, name)[0] == b":1\r\n")
    lam_b = b.client("lambda")
    assert _burst([lam_b], name, 1, b"{}") == ["ReservedFunctionConcurrentInvocationLimitExceeded"]

    a.kill9()
    killed = time.monotonic()
    wait_for(lambda: _burst([lam_b], name, 1, b"{}") == ["OK"], timeout=20, every=0.5)
    assert time.monotonic() - killed < 10 + 2  # the lease, and the time one call takes
    with pytest.raises(botocore.exceptions.BotoCoreError):
        pending.result(timeout=30)  # A's connection went with it
    held.shutdown()
