"""`lamina deploy` through click's runner against a real node: folders, ignore files,
vendored requirements, publish + alias, and --watch redeploying on a change."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import zipfile
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from harness import NodeProcess, wait_for
from lamina.cli.main import cli

APP = """
import os

def handler(event, context):
    return {"greeting": os.environ.get("GREETING", "hello"), "files": sorted(os.listdir("."))}
"""


def run(node: NodeProcess, *args: str) -> Result:
    result = CliRunner().invoke(cli, [*args, "--endpoint-url", node.url], catch_exceptions=False)
    return result


def call(lam: Any, name: str, qualifier: str | None = None) -> Any:
    args = {"Qualifier": qualifier} if qualifier else {}
    return json.loads(lam.invoke(FunctionName=name, **args)["Payload"].read())


def test_deploy_creates_from_a_folder_honouring_ignore_files(
    node: NodeProcess, lam: Any, tmp_path: Path
) -> None:
    # Given a folder with files its .laminaignore and .gitignore leave out
    src = tmp_path / "src"
    (src / "build").mkdir(parents=True)
    (src / "app.py").write_text(APP)
    (src / "notes.log").write_text("x")
    (src / "build" / "junk.txt").write_text("x")
    (src / "keep.txt").write_text("x")
    (src / ".laminaignore").write_text("*.log\n")
    (src / ".gitignore").write_text("build/\n")
    # When it is deployed
    result = run(node, "deploy", str(src), "--name", "greeter", "--memory", "256")
    # Then the function exists, with what the command printed, and without the ignored files
    assert result.exit_code == 0, result.output
    config = lam.get_function(FunctionName="greeter")["Configuration"]
    assert config["FunctionArn"] in result.output and config["CodeSha256"] in result.output
    assert config["MemorySize"] == 256 and config["State"] == "Active"
    files = [f for f in call(lam, "greeter")["files"] if f != "__pycache__"]  # made by the import
    assert files == [".gitignore", ".laminaignore", "app.py", "keep.txt"]


def test_redeploy_updates_configuration_publishes_and_moves_the_alias(
    node: NodeProcess, lam: Any, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(APP)
    assert run(node, "deploy", str(tmp_path), "--name", "fn").exit_code == 0
    result = run(
        node,
        "deploy",
        str(tmp_path),
        "--name",
        "fn",
        "--env",
        "GREETING=hi",
        "--publish",
        "--alias",
        "live",
    )
    assert result.exit_code == 0, result.output
    assert "updated fn" in result.output and "live -> 1" in result.output
    assert lam.get_alias(FunctionName="fn", Name="live")["FunctionVersion"] == "1"
    assert call(lam, "fn", "live")["greeting"] == "hi"
    bad = CliRunner().invoke(
        cli, ["deploy", str(tmp_path), "--name", "fn", "--env", "oops", "--endpoint-url", node.url]
    )
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output


def _wheel(path: Path) -> Path:
    """A tiny pure-Python wheel (package `greeting`), built by hand so no index is needed."""
    files = {
        "greeting/__init__.py": "WORD = 'vendored hello'\n",
        "greeting-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: greeting\nVersion: 1.0\n",
        "greeting-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append("greeting-1.0.dist-info/RECORD,,")
    wheel = path / "greeting-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr("greeting-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def test_deploy_vendors_requirements(node: NodeProcess, lam: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("import greeting\n\ndef handler(e, c):\n    return greeting.WORD\n")
    wheel = _wheel(tmp_path)
    (tmp_path / "requirements.txt").write_text(f"{wheel.name}\n")
    result = run(
        node,
        "deploy",
        str(src),
        "--name",
        "vend",
        "--requirements",
        str(tmp_path / "requirements.txt"),
    )
    assert result.exit_code == 0, result.output
    assert call(lam, "vend") == "vendored hello"


def test_watch_redeploys_after_a_change(
    node: NodeProcess, lam: Any, tmp_path: Path, unique_name: Any
) -> None:
    (tmp_path / "app.py").write_text(APP)
    outcome: dict[str, Result] = {}
    name = unique_name("watched")
    args = ("deploy", str(tmp_path), "--name", name, "--watch", "--max-redeploys", "1")
    watcher = threading.Thread(target=lambda: outcome.setdefault("r", run(node, *args)))
    watcher.start()
    wait_for(lambda: name in {f["FunctionName"] for f in lam.list_functions()["Functions"]})
    first = lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
    (tmp_path / "app.py").write_text(APP.replace('"hello"', '"changed"'))
    watcher.join(timeout=60)
    assert not watcher.is_alive()
    assert outcome["r"].exit_code == 0, outcome["r"].output
    assert "change seen; redeploying" in outcome["r"].output
    assert lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"] != first
    assert call(lam, name)["greeting"] == "changed"
