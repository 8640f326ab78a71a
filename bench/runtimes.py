"""Runtimes: cold start and warm invoke for a Python runtime on the node's own interpreter, on
another interpreter (python3.12, or the first other one found), and for custom runtimes (AWS's
tutorial shell bootstrap with curl; the C bootstrap in tests/functions/provided when gcc is there).
A cold start is forced by a configuration change, which retires the warm environment; each
runtime is warmed up first so that its interpreter's fork template runs (the first environment
of an interpreter is spawned while its template starts).

Run: python bench/runtimes.py
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from common import ROLE, lambda_client, percentiles, report, running_node
from lamina.engine.interpreters import find

#: The custom-runtime sources the tests use too.
PROVIDED = Path(__file__).resolve().parent.parent / "tests" / "functions" / "provided"
ROUNDS = 20
WARM = 200
PYTHON_APP = "def handler(event, context):\n    return event\n"
#: AWS's tutorial bootstrap ("Building a custom runtime", sample code under MIT-0), unchanged.
TUTORIAL = (PROVIDED / "tutorial_bootstrap").read_text()
FUNCTION_SH = 'function handler () {\n  echo "$1"\n}\n'
C_BOOTSTRAP = PROVIDED / "bootstrap.c"


def _zip(files: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o755 if name == "bootstrap" else 0o644) << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _timed(lam: Any, name: str) -> float:
    t0 = time.perf_counter()
    out = lam.invoke(FunctionName=name, Payload=b"{}")
    elapsed = (time.perf_counter() - t0) * 1000
    payload = out["Payload"].read()
    assert "FunctionError" not in out, payload
    return elapsed


def _measure(
    lam: Any, label: str, runtime: str, handler: str, files: dict[str, Any]
) -> list[dict[str, Any]]:
    name = "".join(c if c.isalnum() else "-" for c in label)[:60]
    lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Handler=handler,
        Role=ROLE,
        Code={"ZipFile": _zip(files)},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    _timed(lam, name)
    time.sleep(3)  # the interpreter's fork template starts in the background
    cold = []
    for i in range(ROUNDS):
        lam.update_function_configuration(FunctionName=name, Description=f"round {i}")
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        cold.append(_timed(lam, name))
    warm = [_timed(lam, name) for _ in range(WARM)]
    return [
        {"runtime": label, "case": f"cold start (new environment) x{ROUNDS}", **percentiles(cold)},
        {"runtime": label, "case": f"warm invoke x{WARM}", **percentiles(warm)},
    ]


def main() -> None:
    native = f"python{sys.version_info.major}.{sys.version_info.minor}"
    others = ("python3.12", "python3.13", "python3.10")
    other = next((r for r in others if r != native and find(r) is not None), None)
    rows: list[dict[str, Any]] = []
    with running_node() as url, tempfile.TemporaryDirectory() as tmp:
        lam = lambda_client(url)
        app = {"app.py": PYTHON_APP}
        rows += _measure(lam, f"{native} (the node's own)", native, "app.handler", app)
        if other:
            rows += _measure(lam, other, other, "app.handler", app)
        if shutil.which("curl") and shutil.which("bash"):
            files = {"bootstrap": TUTORIAL, "function.sh": FUNCTION_SH}
            label = "provided.al2023, AWS tutorial (bash + curl)"
            rows += _measure(lam, label, "provided.al2023", "function.handler", files)
        if shutil.which("gcc"):
            binary = Path(tmp) / "bootstrap"
            subprocess.run(["gcc", "-O2", "-o", str(binary), str(C_BOOTSTRAP)], check=True)
            files = {"bootstrap": binary.read_bytes()}
            rows += _measure(lam, "provided.al2023, C bootstrap", "provided.al2023", "x", files)
    report("runtimes", rows)


if __name__ == "__main__":
    main()
