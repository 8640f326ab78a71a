"""Byte-bounded log retention, the storage view, and the node's own log (levels, rotation)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from harness import ROLE, NodeProcess, sqlite_files_only, wait_for, zip_source

NodeFactory = Callable[..., NodeProcess]
MB = 2**20

LOUD = {
    "app.py": (
        "def handler(event, context):\n"
        "    for i in range(event['lines']):\n"
        "        print(f\"{event['tag']}-{i} \" + 'x' * 100_000)\n"
        "    return event['tag']\n"
    )
}


def create_plain(node: NodeProcess, name: str) -> None:
    code = zip_source({"app.py": "def handler(e, c):\n    return 1\n"})
    node.client().create_function(
        FunctionName=name,
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": code},
    )


def storage(node: NodeProcess) -> dict[str, Any]:
    answer = httpx.get(f"{node.url}/lamina/v1/storage", timeout=30)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def log_messages(node: NodeProcess, name: str) -> list[str]:
    got = httpx.get(f"{node.url}/lamina/v1/functions/{name}/logs?limit=10000", timeout=30)
    return [e["message"] for e in got.json()["events"]]


def test_byte_caps_hold_with_100_kb_lines(node_factory: NodeFactory) -> None:
    node = node_factory("--log-retention-mb", "1", "--log-retention-total-mb", "1.5")
    lam = node.client()
    for name in ("a", "b"):
        lam.create_function(
            FunctionName=name,
            Role=ROLE,
            Runtime="python3.12",
            Handler="app.handler",
            Code={"ZipFile": zip_source(LOUD)},
        )
    for round_ in range(8):  # 2 MB of lines per function, well past each cap
        for name in ("a", "b"):
            payload = f'{{"lines": 3, "tag": "{name}{round_}"}}'.encode()
            assert lam.invoke(FunctionName=name, Payload=payload)["StatusCode"] == 200

    wait_for(lambda: any(m.startswith("b7-2 ") for m in log_messages(node, "b")))
    report = storage(node)
    a, b = report["functions"]["a"]["logs"], report["functions"]["b"]["logs"]
    assert 0 < a <= 1 * MB and 0 < b <= 1 * MB
    assert a + b <= 1.5 * MB
    assert report["totals"]["logs"] == a + b
    newest = log_messages(node, "a")
    assert any(m.startswith("a7-2 ") for m in newest)  # the oldest went, not the newest
    assert not any(m.startswith("a0-0 ") for m in newest)


@sqlite_files_only
def test_storage_view_counts_code_and_logs_per_function(fresh_node: NodeProcess) -> None:
    node = fresh_node
    lam = node.client()
    data = zip_source({"app.py": "def handler(e, c):\n    print('hello')\n    return 1\n"})
    lam.create_function(
        FunctionName="f",
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": data},
    )
    lam.invoke(FunctionName="f")
    report = wait_for(lambda: (r := storage(node))["functions"]["f"]["logs"] and r)
    f = report["functions"]["f"]
    assert f["code"] == len(data)
    assert f["unpacked_code"] > 0
    assert report["totals"]["database"] > 0
    assert report["on_disk_bytes"] >= report["totals"]["code"] + report["totals"]["database"]
    metrics = httpx.get(f"{node.url}/metrics", timeout=10).text
    assert 'lamina_storage_bytes{kind="code"}' in metrics
    assert 'lamina_function_storage_bytes{function="f",kind="logs"}' in metrics


def test_async_attempts_log_at_debug_and_one_info_line_per_event(fresh_node: NodeProcess) -> None:
    node = fresh_node
    lam = node.client()
    create_plain(node, "f")
    out = lam.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    rid = out["ResponseMetadata"]["RequestId"]
    wait_for(lambda: f"event {rid} succeeded after 1 attempts" in node.log())
    assert f"event {rid} attempt" not in node.log()


def test_log_file_rotates_by_size(node_factory: NodeFactory, tmp_path: Path) -> None:
    path = tmp_path / "logs" / "node.log"
    node = node_factory(
        "--log-file", str(path), "--log-file-max-mb", "0.01", "--log-level", "debug"
    )
    lam = node.client()
    create_plain(node, "f")
    for _ in range(80):  # two lines each at debug (attempt, summary): ~20 KB
        lam.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    wait_for(lambda: len(list(path.parent.iterdir())) >= 2)
    node.stop()
    node.start()  # a restart appends to the same rotated set
    files = sorted(path.parent.iterdir())
    assert path in files and len(files) >= 2
    assert all(f.stat().st_size <= 0.01 * MB + 4096 for f in files)
    assert "node ready" in "".join(f.read_text() for f in files)
