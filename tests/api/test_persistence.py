"""What a node wrote is there after a restart, clean (SIGTERM) or not (kill -9)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import ROLE, NodeProcess, zip_source

ECHO = {"app.py": "def handler(event, context):\n    return event\n"}
NodeFactory = Callable[..., NodeProcess]


def build_state(lam: Any) -> None:
    """Two functions; `app` has versions 1 and 2, two aliases (one weighted) and tags."""
    for name in ("app", "other"):
        lam.create_function(
            FunctionName=name,
            Role=ROLE,
            Runtime="python3.12",
            Handler="app.handler",
            Code={"ZipFile": zip_source({**ECHO, "name.txt": name})},
            Environment={"Variables": {"WHO": name}},
            Tags={"owner": name},
            Publish=True,
        )
    lam.update_function_code(
        FunctionName="app", ZipFile=zip_source({"app.py": "def handler(e, c):\n    return 2\n"})
    )
    lam.publish_version(FunctionName="app", Description="second")
    lam.update_function_configuration(FunctionName="app", Timeout=42)
    lam.create_alias(FunctionName="app", Name="stable", FunctionVersion="1")
    lam.create_alias(
        FunctionName="app",
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}},
    )
    arn = lam.get_function_configuration(FunctionName="app")["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"stage": "prod"})
    lam.put_function_concurrency(FunctionName="other", ReservedConcurrentExecutions=3)


def snapshot(lam: Any) -> dict[str, Any]:
    """Everything a user can read back about the functions, minus per-request metadata."""
    out: dict[str, Any] = {}
    for fn in ("app", "other"):
        got = lam.get_function(FunctionName=fn)
        code = httpx.get(got["Code"]["Location"], timeout=10).content
        versions = lam.list_versions_by_function(FunctionName=fn)["Versions"]
        aliases = lam.list_aliases(FunctionName=fn)["Aliases"]
        out[fn] = {
            "configuration": got["Configuration"],
            "code": code,
            "tags": got["Tags"],
            "concurrency": got.get("Concurrency"),
            "versions": versions,
            "aliases": aliases,
            "v1": lam.get_function_configuration(FunctionName=fn, Qualifier="1"),
        }
        out[fn]["v1"].pop("ResponseMetadata")
    out["listed"] = lam.list_functions(FunctionVersion="ALL")["Functions"]
    return out


def restart(
    node_factory: NodeFactory, first: NodeProcess, how: Callable[[NodeProcess], object]
) -> NodeProcess:
    how(first)
    return node_factory(data_dir=first.data_dir)


@pytest.mark.parametrize(
    "stop",
    [NodeProcess.stop, NodeProcess.kill9],
    ids=["sigterm", "kill9"],
)
def test_functions_versions_aliases_and_tags_survive_a_restart(
    node_factory: NodeFactory, tmp_path: Path, stop: Callable[[NodeProcess], object]
) -> None:
    # Given a node holding two functions with versions, aliases, tags and concurrency
    first = node_factory(data_dir=tmp_path / "state")
    build_state(first.client())
    before = snapshot(first.client())

    # When it is stopped and a new node starts on the same data dir
    second = restart(node_factory, first, stop)

    # Then every record reads back the same, RevisionIds and CodeSha256 included
    lam = second.client()
    after = snapshot(lam)
    assert after == before
    assert after["app"]["configuration"]["Timeout"] == 42
    assert [a["Name"] for a in after["app"]["aliases"]] == ["canary", "stable"]
    assert after["app"]["tags"] == {"owner": "app", "stage": "prod"}
    assert after["other"]["concurrency"] == {"ReservedConcurrentExecutions": 3}
    # And the restored node goes on numbering versions where the old one stopped
    lam.update_function_configuration(FunctionName="app", Timeout=43)
    assert lam.publish_version(FunctionName="app")["Version"] == "3"


def test_a_function_deleted_before_a_restart_stays_deleted(
    node_factory: NodeFactory, tmp_path: Path
) -> None:
    first = node_factory(data_dir=tmp_path / "state")
    build_state(first.client())
    first.client().delete_function(FunctionName="other")
    first.client().delete_alias(FunctionName="app", Name="canary")
    first.client().delete_function(FunctionName="app", Qualifier="2")

    second = restart(node_factory, first, NodeProcess.kill9)

    lam = second.client()
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="other")
    versions = lam.list_versions_by_function(FunctionName="app")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def started_with_a_function(node_factory: NodeFactory, tmp_path: Path) -> NodeProcess:
    node = node_factory(data_dir=tmp_path / "state")
    node.client().create_function(
        FunctionName="f",
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": zip_source(ECHO)},
    )
    return node


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_stop_signal_shuts_the_node_down_and_closes_the_store(
    node_factory: NodeFactory, tmp_path: Path, sig: int
) -> None:
    node = started_with_a_function(node_factory, tmp_path)

    node.stop(sig)

    log = node.log()
    assert "store closed" in log
    assert "Application shutdown complete" in log
    assert "Traceback" not in log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_stop_signal_ends_the_node_with_exit_status_0(
    node_factory: NodeFactory, tmp_path: Path, sig: int
) -> None:
    node = started_with_a_function(node_factory, tmp_path)

    assert node.stop(sig) == 0
