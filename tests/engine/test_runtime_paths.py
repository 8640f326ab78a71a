"""What an environment's process sees: AWS's handler path (code, layers, the runtime directory,
the standard library), the layers' bin and lib directories, and a layer's custom bootstrap."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import uvloop
from envtools import call, make_spec

from lamina.engine.launcher import Launcher
from lamina.engine.pool import Pool

PROBE = """
import os, sys

def handler(event, context):
    import shared
    return {
        "path": sys.path,
        "shared": shared.WHO,
        "env": {k: os.environ.get(k) for k in ("PATH", "LD_LIBRARY_PATH", "LAMBDA_RUNTIME_DIR")},
    }
"""


def _run(spec_changes: dict[str, Any], *, fork: bool) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        launcher = Launcher(fork=fork)
        pool = Pool(launcher)
        try:
            if fork:
                assert await launcher.start()
            result = await call(pool, make_spec(**spec_changes))
            assert result.error_type is None, result.payload
            return dict(json.loads(result.payload))
        finally:
            await pool.close()
            await launcher.close()

    return uvloop.run(main())


def _layers(tmp_path: Path) -> Path:
    opt = tmp_path / "opt"
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    site = opt / "python" / "lib" / f"python{minor}" / "site-packages"
    site.mkdir(parents=True)
    (site / "shared.py").write_text("WHO = 'site-packages'\n")
    (opt / "python" / "shared.py").write_text("WHO = 'python'\n")
    (opt / "bin").mkdir()
    (opt / "lib").mkdir()
    return opt


@pytest.mark.parametrize("fork", [True, False], ids=["fork", "spawn"])
def test_handler_path_is_code_then_layers_then_runtime_then_stdlib(
    tmp_path: Path, fork: bool
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(PROBE)
    opt = _layers(tmp_path)
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    got = _run({"code": code, "opt_dir": opt}, fork=fork)
    path, env = got["path"], got["env"]
    runtime_dir = env["LAMBDA_RUNTIME_DIR"]
    assert path[:4] == [
        str(code),
        str(opt / "python" / "lib" / f"python{minor}" / "site-packages"),
        str(opt / "python"),
        runtime_dir,
    ]
    assert got["shared"] == "site-packages"  # AWS's order: site-packages before python/
    assert all(p.startswith(sys.base_prefix) for p in path[4:]), path
    assert not any("site-packages" in p for p in path[4:]), path
    assert os.path.isdir(os.path.join(runtime_dir, "boto3"))
    assert env["PATH"].endswith(f":{opt}/bin")
    assert env["LD_LIBRARY_PATH"].split(":")[-3:] == [str(code), f"{code}/lib", f"{opt}/lib"]


def test_a_custom_runtime_finds_its_bootstrap_in_a_layer(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    opt = tmp_path / "opt"
    opt.mkdir()
    bootstrap = opt / "bootstrap"
    bootstrap.write_text(
        f"#!{sys.executable}\n"
        "import json, os, urllib.request\n"
        "api = 'http://%s/2018-06-01/runtime/invocation/' % os.environ['AWS_LAMBDA_RUNTIME_API']\n"
        "while True:\n"
        "    with urllib.request.urlopen(api + 'next') as r:\n"
        "        rid = r.headers['Lambda-Runtime-Aws-Request-Id']\n"
        "    body = json.dumps({'from': 'layer', 'cwd': os.getcwd()}).encode()\n"
        "    urllib.request.urlopen(urllib.request.Request(api + rid + '/response', body)).read()\n"
    )
    bootstrap.chmod(0o755)
    got = _run({"code": code, "opt_dir": opt, "runtime": "provided.al2023"}, fork=True)
    assert got == {"from": "layer", "cwd": str(code)}
