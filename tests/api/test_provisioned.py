"""Provisioned concurrency through a real node: config lifecycle, pre-initialised environments
used first (no Init Duration), spill-over, failed init, validation, restart."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import ROLE, NodeProcess, wait_for, zip_source

#: The shared-node tests run on both stores (tests/conftest.py: pytest_generate_tests).
STORES = ("sqlite", "redis")

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


def published_on(lam: Any, name: str) -> str:
    """Like `published`, on the node of `lam` (no default node started)."""
    lam.create_function(
        FunctionName=name,
        Role=ROLE,
        Handler="app.handler",
        Runtime="python3.12",
        Code={"ZipFile": zip_source({"app.py": HANDLER})},
    )
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name


def publish_v2(lam: Any, name: str) -> None:
    """Version 2: the handler returns {"ok": "v2"}."""
    lam.update_function_code(
        FunctionName=name, ZipFile=zip_source({"app.py": HANDLER.replace("True", "'v2'")})
    )
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    assert lam.publish_version(FunctionName=name)["Version"] == "2"


def settled(lam: Any, name: str, qualifier: str = "live") -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        cfg = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        return cfg if cfg["Status"] != "IN_PROGRESS" else None

    return wait_for(check, timeout=60)


def cold(response: dict[str, Any]) -> bool:
    return "Init Duration" in base64.b64decode(response["LogResult"]).decode()


def provisioned_envs(node: NodeProcess, name: str) -> int:
    """Live provisioned environments of a function (ready and busy), from /lamina/v1/stats."""
    view = httpx.get(node.url + "/lamina/v1/stats", timeout=5).json()["functions"][name]
    return int(view["provisioned"]["ready"] + view["provisioned"]["busy"])


def served(node: NodeProcess, name: str) -> tuple[float, float]:
    """(provisioned, spill-over) invocations of a function, from /metrics."""
    found = {
        "lamina_provisioned_concurrency_invocations_total": 0.0,
        "lamina_provisioned_concurrency_spillover_invocations_total": 0.0,
    }
    text = httpx.get(node.url + "/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in found and s.labels.get("function") == name:
                found[s.name] = s.value
    return tuple(found.values())  # type: ignore[return-value]


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
    node: NodeProcess, lam: Any, lam_one: Any, create_function: Any
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
        results.append(  # provisioned environments are per node: all four calls to one node
            lam_one.invoke(
                FunctionName=name, Qualifier="live", Payload=b'{"sleep": 2}', LogType="Tail"
            )
        )

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(cold(r) for r in results) == [False, False, True, True]
    assert served(node, name) == (2, 2)
    assert provisioned_envs(node, name) == 2


def test_failed_init_makes_the_config_failed_with_a_reason(lam: Any, create_function: Any) -> None:
    name = published(create_function, lam, "raise RuntimeError('broken at import')\n")
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    cfg = settled(lam, name, "1")
    assert cfg["Status"] == "FAILED"
    assert "FUNCTION_ERROR_INIT_FAILURE" in cfg["StatusReason"]
    assert cfg["AllocatedProvisionedConcurrentExecutions"] == 0


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
    node_factory: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    first = node_factory(data_dir=tmp_path / "kept")
    lam = first.client("lambda")
    name = published_on(lam, "kept")
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert settled(lam, name)["Status"] == "READY"
    first.stop()
    second = node_factory(data_dir=tmp_path / "kept")
    lam = second.client("lambda")
    (listed,) = lam.list_provisioned_concurrency_configs(FunctionName=name)[
        "ProvisionedConcurrencyConfigs"
    ]
    assert listed["RequestedProvisionedConcurrentExecutions"] == 2
    cfg = settled(lam, name)
    assert cfg["Status"] == "READY" and cfg["AllocatedProvisionedConcurrentExecutions"] == 2
    assert provisioned_envs(second, name) == 2
    out = lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}", LogType="Tail")
    assert not cold(out)


def test_delete_returns_the_environments(node: NodeProcess, lam: Any, create_function: Any) -> None:
    name = published(create_function, lam)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert settled(lam, name)["Status"] == "READY"
    assert provisioned_envs(node, name) == 2
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    wait_for(lambda: provisioned_envs(node, name) == 0)
    out = lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}", LogType="Tail")
    assert json.loads(out["Payload"].read()) == {"ok": True}
    assert served(node, name) == (0, 0)  # no longer a provisioned version


def test_repointing_the_alias_moves_the_environments_to_the_new_version(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = published(create_function, lam)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert settled(lam, name)["Status"] == "READY"
    publish_v2(lam, name)
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    cfg = settled(lam, name)
    assert cfg["Status"] == "READY" and cfg["AllocatedProvisionedConcurrentExecutions"] == 2
    wait_for(lambda: provisioned_envs(node, name) == 2)  # version 1's are on demand again
    out = lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}", LogType="Tail")
    assert out["ExecutedVersion"] == "2" and not cold(out)
    assert json.loads(out["Payload"].read()) == {"ok": "v2"}


def test_weighted_alias_and_account_room_are_refused(
    node_factory: Callable[..., NodeProcess],
) -> None:
    # account 20, unreserved minimum 2; another function reserves 15: 3 left to provision
    lam = node_factory("--account-concurrency", "20").client("lambda")
    name = published_on(lam, "pc")
    published_on(lam, "other")
    lam.put_function_concurrency(FunctionName="other", ReservedConcurrentExecutions=15)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match=r"\[3\]"):
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=4
        )
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=3
    )
    publish_v2(lam, "other")
    lam.update_alias(
        FunctionName="other", Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="weights"):
        lam.put_provisioned_concurrency_config(
            FunctionName="other", Qualifier="live", ProvisionedConcurrentExecutions=1
        )
