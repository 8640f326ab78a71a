"""SnapStart in the control plane, on the memory store: what a published version says and how
its State moves, which invokes may run, the ApplyOn checks, the hooks module's lists."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from harness import zip_source
from lamina.clock import FakeClock
from lamina.control import validate
from lamina.control.arns import Arns
from lamina.control.code import CodeCache, check_zip
from lamina.control.functions import FunctionService
from lamina.control.models import LATEST, VersionConfig, configuration
from lamina.control.new_function import NewFunction
from lamina.engine.snapstart import check_ready
from lamina.errors import (
    InvalidParameterValue,
    ResourceConflict,
    SnapStartNotReady,
    ValidationError,
)
from lamina.runtime import snapshot
from lamina.store.memory import MemoryStore

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


async def service_with(tmp_path: Path, snap_start: str) -> tuple[FunctionService, list[str]]:
    """A function service with function `f`; the versions it told its listener of."""
    functions = FunctionService(
        MemoryStore(), Arns("us-east-1", "000000000000"), CodeCache(tmp_path), FakeClock()
    )
    told: list[str] = []

    async def published(version: VersionConfig) -> None:
        told.append(version.version)

    functions.published = published
    code = check_zip(zip_source({"app.py": "def handler(e, c):\n    return e\n"}))
    await functions.create(
        NewFunction(
            name="f",
            role=ROLE,
            runtime="python3.12",
            handler="app.handler",
            code=code,
            snap_start=snap_start,
        )
    )
    return functions, told


@pytest.mark.anyio
async def test_a_snapstart_version_is_pending_until_its_state_is_set(tmp_path: Path) -> None:
    functions, told = await service_with(tmp_path, "PublishedVersions")
    latest = await functions.version("f", LATEST)
    assert configuration(latest)["SnapStart"] == {
        "ApplyOn": "PublishedVersions",
        "OptimizationStatus": "Off",
    }
    check_ready(latest)  # $LATEST is never snapshotted, so never waits

    version = await functions.publish("f", code_sha256=None, description="", revision_id=None)
    shown = configuration(version)
    assert (shown["State"], shown["StateReasonCode"]) == ("Pending", "Creating")
    assert shown["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    assert told == ["1"]
    with pytest.raises(SnapStartNotReady):
        check_ready(version)

    # publishing again with nothing changed returns the same version, not a new one
    again = await functions.publish("f", code_sha256=None, description="", revision_id=None)
    assert again.version == "1"

    active = await functions.set_state("f", "1", "Active", None, None)
    assert active is not None and "StateReason" not in configuration(active)
    check_ready(active)
    failed = await functions.set_state("f", "1", "Failed", "Runtime.X: no", "FunctionError")
    assert failed is not None
    with pytest.raises(ResourceConflict, match="following state: Failed"):
        check_ready(failed)
    assert await functions.set_state("f", "9", "Active", None, None) is None


@pytest.mark.anyio
async def test_a_version_without_snapstart_is_active_at_once(tmp_path: Path) -> None:
    functions, told = await service_with(tmp_path, "None")
    version = await functions.publish("f", code_sha256=None, description="", revision_id=None)
    assert version.state == "Active" and not version.snap_started
    assert configuration(version)["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert told == ["1"]


def test_apply_on_checks_follow_aws() -> None:
    validate.check_snap_start("None", "provided.al2023", 10240)
    validate.check_snap_start("PublishedVersions", "python3.12", 512)
    with pytest.raises(ValidationError, match=r"snapStart\.applyOn"):
        validate.check_snap_start("Always", "python3.12", 512)
    with pytest.raises(InvalidParameterValue, match="not supported for SnapStart"):
        validate.check_snap_start("PublishedVersions", "provided.al2", 512)
    with pytest.raises(InvalidParameterValue, match="EphemeralStorage"):
        validate.check_snap_start("PublishedVersions", "python3.12", 513)


@pytest.fixture
def hooks_module() -> Iterator[ModuleType]:
    """A fresh `snapshot_restore_py`, as the runtime finds it in sys.modules."""
    import sys

    from lamina.runtime import snapshot_restore_py

    module = importlib.reload(snapshot_restore_py)
    sys.modules[snapshot.HOOKS_MODULE] = module
    yield module
    del sys.modules[snapshot.HOOKS_MODULE]


def test_hooks_register_in_both_forms_and_run_in_aws_order(hooks_module: ModuleType) -> None:
    ran: list[str] = []

    def first() -> None:
        ran.append("before-1")

    assert hooks_module.register_before_snapshot(first) is first  # the decorator form
    hooks_module.register_before_snapshot(ran.append, "before-2")
    hooks_module.register_after_restore(ran.append, "after-1")
    hooks_module.register_after_restore(lambda **kw: ran.append(kw["tag"]), tag="after-2")
    assert [h[1] for h in hooks_module.get_before_snapshot()] == [(), ("before-2",)]

    before = snapshot.hooks("get_before_snapshot")
    assert snapshot.run_hooks(reversed(before), snapshot.BEFORE_SNAPSHOT_ERROR) is None
    assert snapshot.run_hooks(snapshot.hooks("get_after_restore"), "x") is None
    assert ran == ["before-2", "before-1", "after-1", "after-2"]


def test_a_raising_hook_stops_the_rest_with_an_error_document(
    hooks_module: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise ValueError("cannot reconnect")

    hooks_module.register_after_restore(broken)
    hooks_module.register_after_restore(ran.append, "never")
    doc = snapshot.run_hooks(snapshot.hooks("get_after_restore"), snapshot.AFTER_RESTORE_ERROR)
    assert doc is not None and b'"errorType": "Runtime.AfterRestoreError"' in doc
    assert b"cannot reconnect" in doc and ran == []
    assert "[ERROR] Runtime.AfterRestoreError: cannot reconnect" in capsys.readouterr().out
