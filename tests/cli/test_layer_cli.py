"""`lamina layer publish | list | delete` against a real node, run as a user runs them."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import NodeProcess, unique_name


def lamina(node: NodeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamina", *args, "--endpoint-url", node.url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_layer_publish_list_and_delete_a_folder(
    node: NodeProcess, tmp_path: Path, create_function: Callable[..., dict[str, Any]]
) -> None:
    folder = tmp_path / "layer"
    (folder / "python").mkdir(parents=True)
    (folder / "python" / "greeting.py").write_text("WORD = 'hello from a layer'\n")
    (folder / "python" / "__pycache__").mkdir()
    (folder / "python" / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    name = unique_name("cli-layer")

    first = lamina(
        node,
        "layer",
        "publish",
        str(folder),
        "--name",
        name,
        "--description",
        "greetings",
        "--compatible-runtimes",
        "python3.12,python3.11",
        "--compatible-architectures",
        "x86_64",
    )
    second = lamina(node, "layer", "publish", str(folder), "-n", name)

    assert first.returncode == 0, first.stderr
    arn = first.stdout.strip()
    assert arn == f"arn:aws:lambda:us-east-1:000000000000:layer:{name}:1"
    assert f"published {name} version 1" in first.stderr
    assert second.stdout.strip().endswith(f":{name}:2")
    lam = node.client("lambda")
    got = lam.get_layer_version_by_arn(Arn=arn)
    assert got["CompatibleRuntimes"] == ["python3.12", "python3.11"]
    assert got["Description"] == "greetings"

    fn = create_function(
        {"app.py": "import greeting\ndef handler(e, c):\n    return greeting.WORD\n"},
        Layers=[arn],
    )["FunctionName"]
    out = lam.invoke(FunctionName=fn, Payload=b"{}")
    assert json.loads(out["Payload"].read()) == "hello from a layer"

    listed = lamina(node, "layer", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines() if name in line]
    assert [row[:2] for row in rows] == [[name, "2"]], listed.stdout

    deleted = lamina(node, "layer", "delete", name, "2")
    assert deleted.returncode == 0, deleted.stderr
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=name)["LayerVersions"]] == [1]


def test_layer_publish_says_what_went_wrong(node: NodeProcess, tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("X = 1\n")

    done = lamina(
        node, "layer", "publish", str(tmp_path), "-n", "x", "--compatible-runtimes", "cobol"
    )

    assert done.returncode != 0
    assert "has no python/ folder" in done.stderr
    assert "ValidationException" in done.stderr


def pure_wheel(folder: Path, package: str, text: str) -> Path:
    """A pure-Python wheel holding `package/__init__.py`, built by hand (no index needed)."""
    info = f"{package}-1.0.dist-info"
    files = {
        f"{package}/__init__.py": text,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = [
        f"{name},sha256="
        + base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=").decode()
        + f",{len(body.encode())}"
        for name, body in files.items()
    ]
    wheel = folder / f"{package}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
        zf.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")
    return wheel


def test_layer_publish_vendors_requirements_under_python(
    node: NodeProcess, tmp_path: Path, create_function: Callable[..., dict[str, Any]]
) -> None:
    folder = tmp_path / "deps"
    folder.mkdir()
    wheel = pure_wheel(tmp_path, "vendoredpkg", "WORD = 'from a vendored wheel'\n")
    (tmp_path / "requirements.txt").write_text(f"{wheel.name}\n")

    done = lamina(
        node,
        "layer",
        "publish",
        str(folder),
        "-n",
        unique_name("deps"),
        "--requirements",
        str(tmp_path / "requirements.txt"),
    )

    assert done.returncode == 0, done.stderr
    assert "has no python/ folder" not in done.stderr
    fn = create_function(
        {"app.py": "import vendoredpkg\ndef handler(e, c):\n    return vendoredpkg.WORD\n"},
        Layers=[done.stdout.strip()],
    )["FunctionName"]
    out = node.client("lambda").invoke(FunctionName=fn, Payload=b"{}")
    assert json.loads(out["Payload"].read()) == "from a vendored wheel"
