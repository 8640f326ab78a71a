"""Synchronous Invoke through a real node: warm reuse, context, errors, scale-out, fan-out."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil
import pytest
from botocore.exceptions import ClientError

from harness import NodeProcess, zip_source

#: The shared-node tests run on both stores (tests/conftest.py: pytest_generate_tests).
STORES = ("sqlite", "redis")

COUNTER = """
import os
count = 0

def handler(event, context):
    global count
    count += 1
    return {"count": count, "pid": os.getpid()}
"""

CONTEXT = """
import os

def handler(event, context):
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": str(context.memory_limit_in_mb),
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "client_context": getattr(context.client_context, "custom", None),
        "env": {k: os.environ.get(k) for k in (
            "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER", "AWS_REGION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_LOG_GROUP_NAME", "LAMBDA_TASK_ROOT",
            "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "MY_SETTING")},
        "cwd": os.getcwd(),
    }
"""

ASYNC_GATHER = """
import asyncio
from concurrent.futures import ThreadPoolExecutor

async def square(x):
    await asyncio.sleep(0.01)
    return x * x

async def handler(event, context):
    values = await asyncio.gather(*(square(i) for i in range(10)))
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda x: x + 1, range(8)))
    return {"gathered": values, "threaded": threaded}
"""

ERRORS = """
import os, time

def handler(event, context):
    kind = event.get("kind")
    if kind == "raise":
        raise ValueError("boom")
    if kind == "unserialisable":
        return {"x": object()}
    if kind == "busy":
        while True:
            pass
    if kind == "sleep":
        time.sleep(60)
    if kind == "exit":
        os._exit(3)
    if kind == "hog":
        hog = []
        while True:
            hog.append(bytearray(16 * 1024 * 1024))
    return {"ok": True, "pid": os.getpid()}
"""


def invoke(lam: Any, name: str, payload: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    out = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kwargs)
    return out, json.loads(out["Payload"].read() or b"null")


def test_module_state_survives_between_warm_calls(lam_one: Any, create_function: Any) -> None:
    name = create_function({"app.py": COUNTER})["FunctionName"]
    _, first = invoke(lam_one, name)
    _, second = invoke(lam_one, name)
    assert (first["count"], second["count"]) == (1, 2)
    assert first["pid"] == second["pid"]


def test_cold_start_reports_init_duration_and_warm_call_does_not(
    lam_one: Any, create_function: Any
) -> None:
    name = create_function({"app.py": COUNTER})["FunctionName"]
    cold, _ = invoke(lam_one, name, LogType="Tail")
    warm, _ = invoke(lam_one, name, LogType="Tail")
    cold_log = base64.b64decode(cold["LogResult"]).decode()
    warm_log = base64.b64decode(warm["LogResult"]).decode()
    assert "Init Duration:" in cold_log and "REPORT RequestId:" in cold_log
    assert "Init Duration:" not in warm_log and "REPORT RequestId:" in warm_log
    assert f"START RequestId: {warm['ResponseMetadata']['RequestId']} Version: $LATEST" in warm_log


def test_context_fields_environment_and_remaining_time(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    cfg = create_function(
        {"app.py": CONTEXT},
        Timeout=7,
        MemorySize=256,
        Environment={"Variables": {"MY_SETTING": "on"}},
    )
    name = cfg["FunctionName"]
    ctx = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    out, body = invoke(lam, name, ClientContext=ctx)
    assert body["function_name"] == name
    assert body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == cfg["FunctionArn"]
    assert body["memory_limit_in_mb"] == "256"
    assert body["aws_request_id"] == out["ResponseMetadata"]["RequestId"]
    assert body["log_group_name"] == f"/aws/lambda/{name}"
    assert "[$LATEST]" in body["log_stream_name"]
    assert 5000 < body["remaining"] <= 7000
    assert body["client_context"] == {"k": "v"}
    env = body["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name and env["_HANDLER"] == "app.handler"
    assert env["AWS_REGION"] == "us-east-1" and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_ENDPOINT_URL"] == node.url and env["MY_SETTING"] == "on"
    assert env["AWS_ACCESS_KEY_ID"]
    assert body["cwd"] == env["LAMBDA_TASK_ROOT"]
    assert out["ExecutedVersion"] == "$LATEST"


def test_async_def_handler_with_gather_and_threads(lam: Any, create_function: Any) -> None:
    name = create_function({"app.py": ASYNC_GATHER})["FunctionName"]
    for _ in range(2):  # the second call reuses the environment's event loop
        out, body = invoke(lam, name)
        assert "FunctionError" not in out
        assert body == {"gathered": [i * i for i in range(10)], "threaded": list(range(1, 9))}


@pytest.mark.parametrize(
    ("kind", "error_type", "message_part"),
    [
        ("raise", "ValueError", "boom"),
        ("unserialisable", "Runtime.MarshalError", ""),
        ("busy", "Sandbox.Timedout", "Task timed out after 1.00 seconds"),
        ("sleep", "Sandbox.Timedout", "Task timed out after 1.00 seconds"),
        ("exit", "Runtime.ExitError", "exit status 3"),
    ],
)
def test_function_error_is_reported_and_next_call_works(
    lam: Any, create_function: Any, kind: str, error_type: str, message_part: str
) -> None:
    name = create_function({"app.py": ERRORS}, Timeout=1)["FunctionName"]
    out, body = invoke(lam, name, {"kind": kind})
    assert out["StatusCode"] == 200
    assert out["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type
    assert message_part in body["errorMessage"]
    out, body = invoke(lam, name, {"kind": "fine"})
    assert "FunctionError" not in out and body["ok"] is True


def test_memory_hog_is_killed_and_reported_out_of_memory(lam: Any, create_function: Any) -> None:
    name = create_function({"app.py": ERRORS}, Timeout=20, MemorySize=128)["FunctionName"]
    out, body = invoke(lam, name, {"kind": "hog"}, LogType="Tail")
    assert out["FunctionError"] == "Unhandled"
    assert "Runtime.OutOfMemory" in base64.b64decode(out["LogResult"]).decode() or body[
        "errorType"
    ] in ("Runtime.OutOfMemory", "Runtime.ExitError")
    out, body = invoke(lam, name, {"kind": "fine"})
    assert body["ok"] is True


@pytest.mark.parametrize(
    ("files", "handler", "error_type"),
    [
        ({"app.py": "import not_a_module_anywhere\n"}, "app.handler", "Runtime.ImportModuleError"),
        ({"app.py": "x = 1\n"}, "app.handler", "Runtime.HandlerNotFound"),
        ({"app.py": "def handler(:\n"}, "app.handler", "Runtime.UserCodeSyntaxError"),
    ],
)
def test_init_errors_have_aws_error_types(
    lam: Any, create_function: Any, files: dict[str, str], handler: str, error_type: str
) -> None:
    name = create_function(files, handler=handler)["FunctionName"]
    for _ in range(2):  # init is retried on the next call, and fails the same way
        out, body = invoke(lam, name)
        assert out["FunctionError"] == "Unhandled"
        assert body["errorType"] == error_type


def test_twenty_parallel_calls_scale_out_to_twenty_environments(
    lam: Any, create_function: Any
) -> None:
    code = "import os, time\n\ndef handler(e, c):\n    time.sleep(1)\n    return os.getpid()\n"
    name = create_function({"app.py": code}, Timeout=30)["FunctionName"]
    with ThreadPoolExecutor(20) as pool:
        pids = list(pool.map(lambda _: invoke(lam, name)[1], range(20)))
    assert len(set(pids)) == 20


def test_code_update_takes_effect_on_next_call(lam: Any, create_function: Any) -> None:
    name = create_function({"app.py": "def handler(e, c):\n    return 'v1'\n"})["FunctionName"]
    assert invoke(lam, name)[1] == "v1"
    lam.update_function_code(
        FunctionName=name, ZipFile=zip_source({"app.py": "def handler(e, c):\n    return 'v2'\n"})
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
    assert invoke(lam, name)[1] == "v2"


FANOUT = """
import json
from concurrent.futures import ThreadPoolExecutor
import boto3

lam = boto3.client("lambda")

def call(i):
    out = lam.invoke(FunctionName=TARGET, Payload=json.dumps({"i": i}))
    return json.loads(out["Payload"].read())["i"]

def handler(event, context):
    with ThreadPoolExecutor(event["n"]) as pool:
        return sorted(pool.map(call, range(event["n"])))
"""


@pytest.mark.parametrize("fan", [1, 20])
def test_function_invokes_another_through_boto3(lam: Any, create_function: Any, fan: int) -> None:
    target = create_function({"app.py": "def handler(e, c):\n    return e\n"})["FunctionName"]
    caller = create_function({"app.py": f"TARGET = {target!r}\n" + FANOUT}, Timeout=60)[
        "FunctionName"
    ]
    out, body = invoke(lam, caller, {"n": fan})
    assert "FunctionError" not in out, body
    assert body == list(range(fan))


def test_tail_log_carries_handler_output(lam: Any, create_function: Any) -> None:
    code = "def handler(e, c):\n    print('hello from', c.aws_request_id)\n    return 1\n"
    name = create_function({"app.py": code})["FunctionName"]
    out, _ = invoke(lam, name, LogType="Tail")
    text = base64.b64decode(out["LogResult"]).decode()
    assert f"hello from {out['ResponseMetadata']['RequestId']}" in text
    assert text.rstrip().splitlines()[-1].startswith("REPORT RequestId:")


def test_dry_run_answers_204_without_running(lam: Any, create_function: Any) -> None:
    name = create_function({"app.py": COUNTER})["FunctionName"]
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    assert invoke(lam, name)[1]["count"] == 1


def test_payload_limits_and_bad_json(lam: Any, create_function: Any) -> None:
    name = create_function({"app.py": "def handler(e, c):\n    return 'x' * e['n']\n"})[
        "FunctionName"
    ]
    with pytest.raises(ClientError) as too_large:  # AWS's code, not the model's (recorded)
        lam.invoke(FunctionName=name, Payload=b'"' + b"a" * 6_291_456 + b'"')
    assert too_large.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke(FunctionName=name, Payload=b"{not json")
    out, body = invoke(lam, name, {"n": 7_000_000})
    assert out["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"


def test_qualifiers_versions_and_aliases(lam: Any, create_function: Any) -> None:
    name = create_function({"app.py": "def handler(e, c):\n    return 'one'\n"})["FunctionName"]
    lam.publish_version(FunctionName=name)
    lam.update_function_code(
        FunctionName=name, ZipFile=zip_source({"app.py": "def handler(e, c):\n    return 'two'\n"})
    )
    lam.create_alias(FunctionName=name, Name="stable", FunctionVersion="1")
    out, body = invoke(lam, name, Qualifier="stable")
    assert (out["ExecutedVersion"], body) == ("1", "one")
    out, body = invoke(lam, name)
    assert (out["ExecutedVersion"], body) == ("$LATEST", "two")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName=name, Qualifier="nope")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName=name, Qualifier="9")


def test_storm_of_failures_leaves_node_healthy_and_no_orphans(
    fresh_node: NodeProcess, create_function: Any
) -> None:
    # A node of its own: the test counts the node's children and stops it.
    node, lam = fresh_node, fresh_node.client("lambda")
    name = create_function({"app.py": ERRORS}, Timeout=1, client=lam)["FunctionName"]
    kinds = ["raise", "busy", "exit", "unserialisable", "fine"] * 4
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda k: invoke(lam, name, {"kind": k}), kinds))
    assert invoke(lam, name, {"kind": "fine"})[1]["ok"] is True
    assert node.proc is not None
    children = psutil.Process(node.proc.pid).children(recursive=True)
    assert len(children) <= len(kinds)
    node.stop()
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
