"""SnapStart through a real node: ApplyOn configuration, a published version Pending then
Active, environments restored from one init (hooks, re-seeded `random`, Restore Duration),
hook failures, the restore limit, provisioned concurrency refused, a restarted node."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import psutil
import pytest

from harness import NODE_RUNTIME, ROLE, NodeProcess, wait_for, zip_source

#: The shared-node tests run on both stores (tests/conftest.py: pytest_generate_tests); on
#: Redis, two nodes: a version snapshotted on one is made again by the other on its first need.
STORES = ("sqlite", "redis")

#: A handler whose answer tells how its environment came to be.
SOURCE = """
import os, random, time
from snapshot_restore_py import register_after_restore, register_before_snapshot

time.sleep(float(os.environ.get("INIT_SLEEP", "0")))
INIT_AT = time.time()
INIT_PID = os.getpid()
ORDER = []
AFTER = {}


@register_before_snapshot
def first():
    ORDER.append("before-1")


def second(tag):
    ORDER.append(tag)
    if os.environ.get("FAIL_BEFORE"):
        raise RuntimeError("no snapshot today")


register_before_snapshot(second, "before-2")


@register_after_restore
def reseeded():
    AFTER["random"] = random.random()
    time.sleep(float(os.environ.get("RESTORE_SLEEP", "0")))
    if os.environ.get("FAIL_AFTER"):
        raise ValueError("cannot reconnect")


register_after_restore(lambda tag: ORDER.append(tag), tag="after-2")


def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {
        "init_at": INIT_AT,
        "init_pid": INIT_PID,
        "pid": os.getpid(),
        "order": ORDER,
        "random": AFTER.get("random"),
        "init_type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"],
    }
"""

SNAP = {"ApplyOn": "PublishedVersions"}
FAST = {"Delay": 0.1, "MaxAttempts": 300}


def snap_function(
    create_function: Callable[..., dict[str, Any]], lam: Any, **variables: str
) -> str:
    env = {"Variables": variables} if variables else {}
    out = create_function({"app.py": SOURCE}, client=lam, SnapStart=SNAP, Environment=env)
    return str(out["FunctionName"])


def publish_ready(lam: Any, name: str) -> None:
    """Publish version 1 of `name` and wait until its snapshot is ready (Active)."""
    lam.publish_version(FunctionName=name)
    lam.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier="1", WaiterConfig=FAST
    )


def invoke(lam: Any, name: str, qualifier: str, event: dict[str, Any] | None = None) -> Any:
    out = lam.invoke(
        FunctionName=name,
        Qualifier=qualifier,
        Payload=json.dumps(event or {}).encode(),
        LogType="Tail",
    )
    out["Body"] = json.loads(out["Payload"].read())
    out["Log"] = base64.b64decode(out["LogResult"]).decode()
    return out


def test_apply_on_is_configured_and_latest_is_never_optimized(
    create_function: Callable[..., dict[str, Any]], lam: Any
) -> None:
    name = snap_function(create_function, lam)
    latest = lam.get_function_configuration(FunctionName=name)
    assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    off = lam.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "None"})
    assert off["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST)
    plain = lam.publish_version(FunctionName=name)
    assert plain["State"] == "Active"
    assert plain["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}


def test_invalid_settings_are_refused_as_aws_does(
    create_function: Callable[..., dict[str, Any]], lam: Any
) -> None:
    name = create_function({"app.py": SOURCE}, client=lam)["FunctionName"]
    with pytest.raises(botocore.exceptions.ClientError) as bad:
        lam.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "invalidOption"})
    assert bad.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value 'invalidOption' at 'snapStart.applyOn'"
        " failed to satisfy constraint: Member must satisfy enum value set:"
        " [PublishedVersions, None]",
    }
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_configuration(
            FunctionName=name, SnapStart=SNAP, EphemeralStorage={"Size": 1024}
        )
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match=r"provided\.al2023"):
        lam.create_function(
            FunctionName=f"{name}-custom",
            Role=ROLE,
            Runtime="provided.al2023",
            Handler="x",
            Code={"ZipFile": zip_source({"bootstrap": "#!/bin/sh\n"})},
            SnapStart=SNAP,
        )


def test_published_version_is_pending_then_restored_from_one_init(
    create_function: Callable[..., dict[str, Any]], lam_one: Any
) -> None:
    # Given a SnapStart function, published
    name = snap_function(create_function, lam_one)
    version = lam_one.publish_version(FunctionName=name)
    assert version["State"] == "Pending"
    assert version["StateReasonCode"] == "Creating"
    assert version["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    lam_one.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier="1", WaiterConfig=FAST
    )
    # When two invokes run at once (two environments)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda _: invoke(lam_one, name, "1", {"sleep": 0.5}), range(2)))
    first, second = (out["Body"] for out in outs)
    # Then both were restored from the same init, with hooks in AWS's order, re-seeded apart
    assert first["init_at"] == second["init_at"] and first["init_pid"] == second["init_pid"]
    assert len({first["pid"], second["pid"], first["init_pid"]}) == 3
    assert first["random"] != second["random"]
    assert first["order"] == ["before-2", "before-1", "after-2"]
    assert first["init_type"] == "snap-start"
    for out in outs:
        report = out["Log"].splitlines()[-1]
        assert "\tRestore Duration: " in report and "\tBilled Restore Duration: " in report
        assert "Init Duration" not in report
    # and $LATEST runs a normal init of its own
    latest = invoke(lam_one, name, "$LATEST")["Body"]
    assert latest["init_type"] == "on-demand" and latest["pid"] == latest["init_pid"]
    assert latest["order"] == []


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_template_outlives_config_changes_and_dies_with_its_version(
    create_function: Callable[..., dict[str, Any]], lam_one: Any
) -> None:
    name = snap_function(create_function, lam_one)
    publish_ready(lam_one, name)
    first = invoke(lam_one, name, "1")["Body"]
    # a change to $LATEST retires the environments; the next one is restored from the same init
    lam_one.update_function_configuration(FunctionName=name, Description="changed")
    again = invoke(lam_one, name, "1")["Body"]
    assert again["pid"] != first["pid"] and again["init_pid"] == first["init_pid"]
    lam_one.delete_function(FunctionName=name, Qualifier="1")
    wait_for(lambda: gone(first["init_pid"]), timeout=10)


def test_a_killed_template_is_made_again_on_the_next_cold_start(
    create_function: Callable[..., dict[str, Any]], lam_one: Any
) -> None:
    name = snap_function(create_function, lam_one)
    publish_ready(lam_one, name)
    first = invoke(lam_one, name, "1")["Body"]
    psutil.Process(first["init_pid"]).kill()  # the node then kills its environments too
    wait_for(lambda: gone(first["init_pid"]), timeout=10)
    again = invoke(lam_one, name, "1")["Body"]
    assert again["init_type"] == "snap-start" and again["init_pid"] != first["init_pid"]


THREADED = """
import threading, time

threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()


def handler(event, context):
    return threading.active_count()
"""


def test_threads_started_at_init_are_not_restored_and_the_log_says_so(
    create_function: Callable[..., dict[str, Any]], lam_one: Any, node: NodeProcess
) -> None:
    name = create_function({"app.py": THREADED}, client=lam_one, SnapStart=SNAP)["FunctionName"]
    publish_ready(lam_one, name)
    assert invoke(lam_one, name, "1")["Body"] == 1  # a fork copies the forking thread only
    assert invoke(lam_one, name, "$LATEST")["Body"] == 2
    wait_for(lambda: logged(node, name, "init left 1 thread(s) running"))


def test_invoke_while_snapshotting_is_not_ready(
    create_function: Callable[..., dict[str, Any]], lam: Any
) -> None:
    name = snap_function(create_function, lam, INIT_SLEEP="2")
    lam.publish_version(FunctionName=name)
    with pytest.raises(lam.exceptions.SnapStartNotReadyException) as early:
        invoke(lam, name, "1")
    assert early.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    lam.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier="1", WaiterConfig=FAST
    )
    assert invoke(lam, name, "1")["Body"]["init_type"] == "snap-start"


def logged(node: NodeProcess, name: str, text: str) -> bool:
    """Whether a line of function `name`'s log group contains `text` (the node writes its log
    buffer every moment: poll this)."""
    logs = node.client("logs", spread=False)
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return False
    return any(text in event["message"] for event in events)


def test_failing_before_snapshot_hook_fails_the_version(
    create_function: Callable[..., dict[str, Any]], lam: Any, node: NodeProcess
) -> None:
    name = snap_function(create_function, lam, FAIL_BEFORE="1")
    lam.publish_version(FunctionName=name)
    with pytest.raises(botocore.exceptions.WaiterError):
        lam.get_waiter("published_version_active").wait(
            FunctionName=name, Qualifier="1", WaiterConfig=FAST
        )
    version = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert version["State"] == "Failed"
    assert version["StateReasonCode"] == "FunctionError"
    assert "Runtime.BeforeSnapshotError" in version["StateReason"]
    with pytest.raises(lam.exceptions.ResourceConflictException):
        invoke(lam, name, "1")
    wait_for(lambda: logged(node, name, "[ERROR] Runtime.BeforeSnapshotError: no snapshot today"))


def test_failing_after_restore_hook_is_a_snapstart_exception(
    create_function: Callable[..., dict[str, Any]], lam_one: Any, node: NodeProcess
) -> None:
    lam = lam_one  # the node whose log buffer gets the restore's output
    name = snap_function(create_function, lam, FAIL_AFTER="1")
    publish_ready(lam, name)
    with pytest.raises(lam.exceptions.SnapStartException) as failed:
        invoke(lam, name, "1")
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    wait_for(lambda: logged(node, name, "[ERROR] Runtime.AfterRestoreError: cannot reconnect"))


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_restore_over_ten_seconds_is_a_snapstart_timeout(
    create_function: Callable[..., dict[str, Any]], lam: Any, node_store: str
) -> None:
    if node_store == "redis":
        pytest.skip("the restore limit is the node's: one store is enough for a 10 s wait")
    name = snap_function(create_function, lam, RESTORE_SLEEP="10.5")
    publish_ready(lam, name)
    with pytest.raises(lam.exceptions.SnapStartTimeoutException) as slow:
        invoke(lam, name, "1")
    assert slow.value.response["ResponseMetadata"]["HTTPStatusCode"] == 408


def test_provisioned_concurrency_is_refused_on_a_snapstart_version(
    create_function: Callable[..., dict[str, Any]], lam: Any
) -> None:
    name = snap_function(create_function, lam)
    lam.publish_version(FunctionName=name)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="SnapStart"):
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
        )


def test_restarted_node_restores_from_a_new_snapshot(
    node_factory: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    node = node_factory(data_dir=tmp_path / "data")
    lam = node.client("lambda")
    lam.create_function(
        FunctionName="snappy",
        Role=ROLE,
        Runtime=NODE_RUNTIME,
        Handler="app.handler",
        Code={"ZipFile": zip_source({"app.py": SOURCE})},
        SnapStart=SNAP,
        Environment={"Variables": {"INIT_SLEEP": "0.5"}},
        Publish=True,
    )
    lam.get_waiter("published_version_active").wait(
        FunctionName="snappy", Qualifier="1", WaiterConfig=FAST
    )
    before = invoke(lam, "snappy", "1")["Body"]
    node.stop()
    node.start()
    lam = node.client("lambda")
    first = invoke(lam, "snappy", "1")  # waits for the template to be made again
    after = first["Body"]
    assert after["init_type"] == "snap-start"
    assert after["init_pid"] != before["init_pid"]
    restore = re.search(r"\tRestore Duration: ([0-9.]+) ms", first["Log"])
    assert restore is not None and float(restore.group(1)) < 500  # the init is not in it
    assert lam.get_function_configuration(FunctionName="snappy", Qualifier="1")["State"] == "Active"
