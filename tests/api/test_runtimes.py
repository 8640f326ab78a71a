"""Python runtimes through a real node: each python3.X on its own CPython, a handler sees its
code, boto3 and the standard library but not the node's packages, AWS's variables, a runtime
with no interpreter answers InvalidRuntimeException, `--runtime` and `lamina runtimes`."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import NodeProcess, free_port, unique_name, wait_for, zip_source
from lamina.engine.interpreters import find

PROBE = """
import importlib, os, sys

def handler(event, context):
    found = {}
    for name in event.get("modules", []):
        try:
            importlib.import_module(name)
            found[name] = "ok"
        except Exception as exc:
            found[name] = type(exc).__name__
    return {
        "version": "%d.%d" % sys.version_info[:2],
        "executable": sys.executable,
        "path": sys.path,
        "modules": found,
        "env": {k: os.environ.get(k) for k in (
            "LAMBDA_RUNTIME_DIR", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_RUNTIME_API", "_X_AMZN_TRACE_ID",
            "AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS", "AWS_EXECUTION_ENV")},
    }
"""
#: What only the node has: a handler must not import any of them (they are not on AWS).
NODE_PACKAGES = ["lamina", "starlette", "uvicorn", "msgspec", "httpx"]
PYTHON_RUNTIMES = [f"python3.{minor}" for minor in range(9, 14)]


@pytest.fixture(scope="module")
def found() -> dict[str, Any]:
    """{runtime: Interpreter or None} on this machine, looked up before any test changes PATH."""
    return {runtime: find(runtime) for runtime in PYTHON_RUNTIMES}


def _create(lam: Any, runtime: str, **kwargs: Any) -> str:
    name = unique_name("rt")
    kwargs.setdefault("Timeout", 30)  # a first `import boto3` on a loaded machine takes seconds
    lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/lamina-test",
        Code={"ZipFile": zip_source({"app.py": PROBE})},
        **kwargs,
    )
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    return name


def _probe(lam: Any, name: str, modules: list[str]) -> dict[str, Any]:
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"modules": modules}))
    payload = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, payload
    return dict(payload)


@pytest.mark.parametrize("runtime", PYTHON_RUNTIMES)
def test_each_python_runtime_runs_on_its_own_cpython_without_the_nodes_packages(
    lam: Any, runtime: str, found: dict[str, Any]
) -> None:
    interpreter = found[runtime]
    if interpreter is None:
        pytest.skip(f"no {runtime} on this machine")
    got = _probe(lam, _create(lam, runtime), NODE_PACKAGES)
    assert got["version"] == runtime.removeprefix("python")
    assert os.path.realpath(got["executable"]) == os.path.realpath(interpreter.path)
    assert got["modules"] == dict.fromkeys(NODE_PACKAGES, "ModuleNotFoundError")
    assert got["path"][0] == got["env"]["LAMBDA_TASK_ROOT"]
    assert got["path"][1] == got["env"]["LAMBDA_RUNTIME_DIR"]
    assert not any("site-packages" in p for p in got["path"])


NATIVE = f"python{sys.version_info.major}.{sys.version_info.minor}"


@pytest.mark.parametrize("runtime", [NATIVE, "python3.12", "python3.13"])
def test_a_handler_imports_the_boto3_the_runtime_ships(
    lam: Any, runtime: str, found: dict[str, Any]
) -> None:
    if runtime != NATIVE and found[runtime] is None:
        pytest.skip(f"no {runtime} on this machine")
    got = _probe(lam, _create(lam, runtime), ["boto3", "botocore", "dateutil", "jmespath"])
    assert set(got["modules"].values()) == {"ok"}


def test_the_environment_carries_awss_runtime_variables(lam: Any) -> None:
    name = _create(lam, NATIVE)
    first, second = (_probe(lam, name, [])["env"] for _ in range(2))
    assert first["AWS_XRAY_CONTEXT_MISSING"] == "LOG_ERROR"
    assert first["AWS_XRAY_DAEMON_ADDRESS"]
    assert first["AWS_LAMBDA_RUNTIME_API"]
    assert first["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{NATIVE}"
    assert first["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert first["_X_AMZN_TRACE_ID"] != second["_X_AMZN_TRACE_ID"]  # one per invocation
    assert Path(first["LAMBDA_RUNTIME_DIR"], "boto3", "__init__.py").is_file()


@pytest.fixture
def bare_node(
    node_factory: Callable[..., NodeProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., NodeProcess]:
    """Nodes that find no Python but their own (PATH without pyenv or uv, empty install dirs)."""
    empty = tmp_path / "nothing"
    empty.mkdir()
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("PYENV_ROOT", str(empty))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(empty))
    return node_factory


def test_a_runtime_without_an_interpreter_fails_naming_it_and_the_fix(
    bare_node: Callable[..., NodeProcess],
) -> None:
    runtime = "python3.13" if sys.version_info[:2] != (3, 13) else "python3.12"
    if any(Path(d, runtime).exists() for d in ("/usr/bin", "/bin", "/usr/local/bin")):
        pytest.skip(f"{runtime} is installed system-wide here")
    lam = bare_node().client("lambda")
    name = _create(lam, runtime)
    with pytest.raises(lam.exceptions.InvalidRuntimeException) as exc:
        lam.invoke(FunctionName=name, Payload=b"{}")
    message = exc.value.response["Error"]["Message"]
    assert f"The runtime {runtime} has no interpreter" in message
    assert f"--runtime {runtime}=" in message
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    failed = wait_for(
        lambda: (
            (got := lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=version))[
                "Status"
            ]
            == "FAILED"
            and got
        )
    )
    assert f"The runtime {runtime} has no interpreter" in failed["StatusReason"]


def test_runtime_flag_names_the_interpreter_of_a_runtime(
    found: dict[str, Any], bare_node: Callable[..., NodeProcess]
) -> None:
    interpreter = found["python3.12"]
    if interpreter is None or sys.version_info[:2] == (3, 12):
        pytest.skip("needs a python3.12 that is not the node's own")
    lam = bare_node("--runtime", f"python3.12={interpreter.path}").client("lambda")
    got = _probe(lam, _create(lam, "python3.12"), ["boto3"])
    assert got["version"] == "3.12" and got["modules"] == {"boto3": "ok"}


def test_a_runtime_flag_that_is_not_that_python_stops_the_node(tmp_path: Path) -> None:
    other = "python3.12" if sys.version_info[:2] != (3, 12) else "python3.13"
    node = NodeProcess(tmp_path / "data", free_port(), ["--runtime", f"{other}={sys.executable}"])
    with pytest.raises(RuntimeError, match=f"not a working CPython {other[6:]}"):
        node.start()


def test_lamina_runtimes_lists_interpreters_and_custom_runtimes(found: dict[str, Any]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lamina", "runtimes", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = {row["runtime"]: row for row in json.loads(done.stdout)}
    own = rows[NATIVE]
    assert own["native"] and own["fork_template"]
    assert own["boto3"] == importlib.metadata.version("boto3")
    assert os.path.realpath(own["interpreter"]) == os.path.realpath(sys.executable)
    assert rows["provided.al2023"]["fork_template"]
    for runtime, interpreter in found.items():
        assert rows[runtime]["version"] == (interpreter.version if interpreter else None)
