"""Provisioned concurrency through a real node: config lifecycle, pre-initialised environments
used first (no Init Duration), spill-over, failed init, validation, restart."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import NodeProcess, wait_for

HANDLER = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"ok": True}
"""


def published(create_function: Any, lam: Any, source: str = HANDLER) -> str:
    """A function with version 1 and an alias `live` on it; its name."""
    name = create_function({"app.py": source}, client=lam)["FunctionName"]
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name


def settled(lam: Any, name: str, qualifier: str = "live") -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        cfg = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        return cfg if cfg["Status"] != "IN_PROGRESS" else None

    return wait_for(check, timeout=60)


def cold(response: dict[str, Any]) -> bool:
    return "Init Duration" in base64.b64decode(response["LogResult"]).decode()


def test_config_reaches_ready_with_true_figures_and_serves_warm(
    lam: Any, create_function: Any
) -> None:
    name = published(create_function, lam)
    put = lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=3
    )
    assert put["RequestedProvisionedConcurrentExecutions"] == 3
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    cfg = settled(lam, name)
    assert cfg["Status"] == "READY"
    assert cfg["AllocatedProvisionedConcurrentExecutions"] == 3
    assert cfg["AvailableProvisionedConcurrentExecutions"] == 3
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)
    (item,) = listed["ProvisionedConcurrencyConfigs"]
    assert item["FunctionArn"].endswith(f":{name}:live") and item["Status"] == "READY"
    first = lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}", LogType="Tail")
    assert not cold(first)
    assert json.loads(first["Payload"].read()) == {"ok": True}


def test_calls_beyond_provisioned_spill_over_to_cold_environments(
    lam: Any, create_function: Any
) -> None:
    name = published(create_function, lam)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert settled(lam, name)["Status"] == "READY"
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(4)

    def call() -> None:
        barrier.wait()
        results.append(
            lam.invoke(FunctionName=name, Qualifier="live", Payload=b'{"sleep": 2}', LogType="Tail")
        )

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(cold(r) for r in results) == [False, False, True, True]


def test_failed_init_makes_the_config_failed_with_a_reason(lam: Any, create_function: Any) -> None:
    name = published(create_function, lam, "raise RuntimeError('broken at import')\n")
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    cfg = settled(lam, name, "1")
    assert cfg["Status"] == "FAILED"
    assert "FUNCTION_ERROR_INIT_FAILURE" in cfg["StatusReason"]


def test_validation_and_delete(lam: Any, create_function: Any) -> None:
    name = published(create_function, lam)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="7", ProvisionedConcurrentExecutions=1
        )
    with pytest.raises(lam.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="reserved"):
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=3
        )
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="provisioned"):
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    with pytest.raises(lam.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert (
        lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
        == []
    )


def test_configs_survive_a_restart_and_come_back_ready(
    node_factory: Callable[..., NodeProcess], create_function: Any, tmp_path: Path
) -> None:
    first = node_factory(data_dir=tmp_path / "kept")
    lam = first.client("lambda")
    name = published(create_function, lam)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert settled(lam, name)["Status"] == "READY"
    first.stop()
    second = node_factory(data_dir=tmp_path / "kept")
    lam = second.client("lambda")
    cfg = settled(lam, name)
    assert cfg["Status"] == "READY" and cfg["AllocatedProvisionedConcurrentExecutions"] == 2
    out = lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}", LogType="Tail")
    assert not cold(out)
