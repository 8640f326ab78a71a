"""Two real `lamina serve` nodes on one real redis-server behave as one region."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import NodeProcess, RedisServer, read_jsonl, wait_for

#: A handler that returns an environment variable and records each event it sees.
ECHO = """
import json, os

def handler(event, context):
    out = os.environ.get("OUT_FILE")
    if out:
        with open(out, "a") as fh:
            fh.write(json.dumps({"id": context.aws_request_id, "event": event,
                                 "node": os.environ.get("LAMINA_TEST_NODE", "")}) + "\\n")
    return {"colour": os.environ.get("COLOUR"), "event": event}
"""


@pytest.fixture
def cluster(
    redis_server: RedisServer, node_factory: Callable[..., NodeProcess], tmp_path: Path
) -> tuple[NodeProcess, NodeProcess]:
    """Nodes A and B on the session's redis-server, emptied first; each has its own data dir."""
    redis_server.command("FLUSHALL")
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
        lambda: lam_b.get_function(FunctionName=name)["Configuration"]["LastUpdateStatus"]
        == "Successful"
    )
    assert _invoke(lam_a, name, {"n": 3})["colour"] == "blue"
    assert [f["FunctionName"] for f in lam_a.list_functions()["Functions"]] == [name]
