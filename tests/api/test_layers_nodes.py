"""Layers across node restarts and across nodes sharing one Redis store."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import NodeProcess, RedisServer, unique_name, zip_source

HANDLER = {
    "app.py": "import shared\ndef handler(event, context):\n    return shared.WHO\n",
}


def publish(lam: Any, who: str) -> str:
    data = zip_source({"python/shared.py": f"WHO = {who!r}\n"})
    out = lam.publish_layer_version(LayerName=unique_name("layer"), Content={"ZipFile": data})
    return str(out["LayerVersionArn"])


def invoke(lam: Any, name: str) -> Any:
    return json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())


def test_layers_published_on_one_node_run_on_another(
    redis_server: RedisServer,
    node_factory: Callable[..., NodeProcess],
    create_function: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    redis_server.command("FLUSHDB")  # database 0 only: other tests hold the others
    a = node_factory("--store", redis_server.url, data_dir=tmp_path / "a")
    b = node_factory("--store", redis_server.url, data_dir=tmp_path / "b")
    lam_a, lam_b = a.client("lambda"), b.client("lambda")
    arn = publish(lam_a, "from-a")

    name = create_function(HANDLER, client=lam_a, Layers=[arn])["FunctionName"]

    # B has never seen the layer: it unpacks it from the shared store
    assert invoke(lam_b, name) == "from-a"
    assert lam_b.get_layer_version_by_arn(Arn=arn)["LayerVersionArn"] == arn
    assert [
        v["Version"]
        for v in lam_b.list_layer_versions(LayerName=arn.rsplit(":", 1)[0])["LayerVersions"]
    ] == [1]


def test_a_function_with_layers_runs_after_a_restart_and_a_lost_cache(
    node_factory: Callable[..., NodeProcess],
    create_function: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    node = node_factory(data_dir=data)
    lam = node.client("lambda")
    name = create_function(HANDLER, client=lam, Layers=[publish(lam, "kept")])["FunctionName"]
    assert invoke(lam, name) == "kept"
    node.stop()

    shutil.rmtree(data / "code")  # unpacked code and layers are a cache: the store has the zips
    node.start()

    assert invoke(node.client("lambda"), name) == "kept"
