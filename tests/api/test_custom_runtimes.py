"""Custom runtimes (provided.al2023 / provided.al2) through a real node: a `bootstrap` speaks the
Runtime API 2018-06-01 — AWS's tutorial shell bootstrap unchanged, bootstraps in C and Node.js,
errors, init errors, crashes, timeouts, the 6 MB limit, and AWS's own awslambdaric."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import FUNCTIONS_DIR, ROLE, NodeProcess, unique_name

#: Custom-runtime sources shared with bench/runtimes.py.
PROVIDED = FUNCTIONS_DIR / "provided"

#: AWS's tutorial bootstrap ("Building a custom runtime", AWS Lambda Developer Guide, sample
#: code under MIT-0), unchanged: `#!/bin/sh` with bash features (`set -o pipefail`, `source`).
TUTORIAL_BOOTSTRAP = (PROVIDED / "tutorial_bootstrap").read_text()
TUTORIAL_FUNCTION = r"""function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" 1>&2;
  RESPONSE="Echoing request: '$EVENT_DATA'"

  echo $RESPONSE
}
"""

#: One shell bootstrap, many behaviours, picked by the event's "do".
SHELL_BOOTSTRAP = r"""#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
if [ "${_HANDLER}" = "init.fail" ]; then
  echo "init is failing"
  curl -sS -H 'Lambda-Runtime-Function-Error-Type: Runtime.ConfigError' \
    -d '{"errorMessage":"missing setting","errorType":"ConfigError","stackTrace":[]}' \
    "$API/init/error" >/dev/null
  exit 1
fi
LAST=none
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  case "$EVENT" in
    *'"do": "error"'*)
      curl -sS -H 'Lambda-Runtime-Function-Error-Type: Function.Boom' \
        -d '{"errorMessage":"it broke","errorType":"Boom","stackTrace":["line 1"]}' \
        "$API/invocation/$ID/error" >/dev/null ;;
    *'"do": "exit"'*) echo "leaving now"; exit 3 ;;
    *'"do": "hang"'*) sleep 600 ;;
    *'"do": "eat"'*) printf -v BIG '%*s' 400000000 ''; echo "${#BIG}" ;;
    *'"do": "big"'*)
      head -c 7000000 /dev/zero | tr '\0' 'a' > "$TMPDIR/big"
      LAST=$(curl -sS -o /dev/null -w '%{http_code}' --data-binary @"$TMPDIR/big" \
        "$API/invocation/$ID/response") ;;
    *) curl -sS -d "{\"last\": \"$LAST\"}" "$API/invocation/$ID/response" >/dev/null ;;
  esac
done
"""

C_BOOTSTRAP = (PROVIDED / "bootstrap.c").read_text()

NODE_BOOTSTRAP = r"""
const http = require("http");
const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host, port, method, path: "/2018-06-01/runtime" + path },
      (response) => {
        let data = "";
        response.on("data", (chunk) => (data += chunk));
        response.on("end", () => resolve({ headers: response.headers, body: data }));
      },
    );
    request.on("error", reject);
    if (body) request.write(body);
    request.end();
  });
}

(async () => {
  for (;;) {
    const next = await call("GET", "/invocation/next");
    const id = next.headers["lambda-runtime-aws-request-id"];
    const event = JSON.parse(next.body);
    const result = JSON.stringify({ lang: "node", sum: event.a + event.b });
    await call("POST", `/invocation/${id}/response`, result);
  }
})();
"""

#: A bootstrap in Python (the node's own, by path) that answers with what /next told it.
HEADERS_BOOTSTRAP = """
import json, os, urllib.request
api = "http://%s/2018-06-01/runtime/invocation/" % os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(api + "next") as response:
        headers = {k.lower(): v for k, v in response.headers.items()}
        event = json.loads(response.read())
    answer = {"event": event, "headers": headers, "env": {
        k: os.environ.get(k) for k in ("_HANDLER", "LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV")}}
    request_id = headers["lambda-runtime-aws-request-id"]
    data = json.dumps(answer).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data)).read()
"""


def _zip(files: dict[str, str | bytes], executables: tuple[str, ...] = ("bootstrap",)) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o755 if name in executables else 0o644) << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _create(
    lam: Any, files: dict[str, str | bytes], handler: str = "function.handler", **kw: Any
) -> str:
    name = unique_name("custom")
    lam.create_function(
        FunctionName=name,
        Runtime=kw.pop("Runtime", "provided.al2023"),
        Handler=handler,
        Role=ROLE,
        Code={"ZipFile": _zip(files)},
        **kw,
    )
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    return name


def _invoke(lam: Any, name: str, event: Any, **kw: Any) -> tuple[Any, str | None, str]:
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event), LogType="Tail", **kw)
    raw = out["Payload"].read()
    log = base64.b64decode(out.get("LogResult", "")).decode()
    try:
        payload: Any = json.loads(raw)
    except ValueError:
        payload = raw.decode()
    return payload, out.get("FunctionError"), log


def _need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def test_awss_tutorial_bootstrap_runs_unchanged(lam: Any) -> None:
    _need("bash", "curl")
    name = _create(lam, {"bootstrap": TUTORIAL_BOOTSTRAP, "function.sh": TUTORIAL_FUNCTION})
    for _ in range(2):  # cold, then warm in the same environment
        payload, error, log = _invoke(lam, name, {"text": "Hello"})
        assert error is None
        assert payload == """Echoing request: '{"text": "Hello"}'"""
        assert '{"text": "Hello"}' in log  # the handler's stderr is the function's log


def test_an_error_posted_to_the_runtime_api_is_the_callers_function_error(lam: Any) -> None:
    _need("bash", "curl")
    name = _create(lam, {"bootstrap": SHELL_BOOTSTRAP}, Runtime="provided.al2")
    payload, error, log = _invoke(lam, name, {"do": "error"})
    assert error == "Unhandled"
    assert payload == {"errorMessage": "it broke", "errorType": "Boom", "stackTrace": ["line 1"]}
    assert "Status: error" not in log  # the runtime survived: a plain function error
    assert _invoke(lam, name, {"do": "ok"})[:2] == ({"last": "none"}, None)


def test_an_init_error_fails_the_first_invoke_with_the_runtimes_document(lam: Any) -> None:
    _need("bash", "curl")
    name = _create(lam, {"bootstrap": SHELL_BOOTSTRAP}, handler="init.fail")
    payload, error, log = _invoke(lam, name, {})
    assert error == "Unhandled"
    assert payload["errorMessage"] == "missing setting"
    assert "init is failing" in log
    assert "INIT_REPORT" in log and "Error Type: Runtime.ConfigError" in log


def test_a_bootstrap_that_exits_is_a_runtime_exit_error_and_the_next_invoke_starts_anew(
    lam: Any,
) -> None:
    _need("bash", "curl")
    name = _create(lam, {"bootstrap": SHELL_BOOTSTRAP})
    payload, error, log = _invoke(lam, name, {"do": "exit"})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert "leaving now" in log
    assert _invoke(lam, name, {"do": "ok"})[:2] == ({"last": "none"}, None)


def test_a_bootstrap_past_its_timeout_is_killed_like_a_python_handler(lam: Any) -> None:
    _need("bash", "curl")
    name = _create(lam, {"bootstrap": SHELL_BOOTSTRAP}, Timeout=1)
    payload, error, log = _invoke(lam, name, {"do": "hang"})
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Status: timeout" in log


def test_a_bootstrap_past_its_memory_size_is_killed(
    node_factory: Callable[..., NodeProcess],
) -> None:
    """The Runtime API process's own watch over its bootstrap's memory. In process isolation:
    with a cgroup, the kernel's limit acts as well, but 128 MB there is also 7 % of a CPU, which
    makes a shell that fills its memory slow to get there."""
    _need("bash", "curl")
    lam = node_factory("--isolation", "process").client("lambda")
    name = _create(lam, {"bootstrap": SHELL_BOOTSTRAP}, Timeout=30, MemorySize=128)
    payload, error, log = _invoke(lam, name, {"do": "eat"})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith("Runtime exited with error: signal: killed")
    assert "memory used exceeds 128 MB" in log
    assert _invoke(lam, name, {"do": "ok"})[:2] == ({"last": "none"}, None)


def test_a_response_over_6_mb_is_refused_to_the_runtime_and_the_caller(lam: Any) -> None:
    _need("bash", "curl")
    name = _create(lam, {"bootstrap": SHELL_BOOTSTRAP})
    payload, error, _ = _invoke(lam, name, {"do": "big"})
    assert error == "Unhandled"
    assert payload["errorType"] == "Function.ResponseSizeTooLarge"
    assert _invoke(lam, name, {"do": "ok"})[:2] == ({"last": "413"}, None)


def test_without_a_bootstrap_the_entry_point_is_invalid(lam: Any) -> None:
    name = _create(lam, {"function.sh": TUTORIAL_FUNCTION})
    payload, error, log = _invoke(lam, name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.InvalidEntrypoint"
    assert "Couldn't find valid bootstrap(s)" in payload["errorMessage"]
    assert "Error Type: Runtime.InvalidEntrypoint" in log


def test_a_bootstrap_that_is_not_executable_is_an_invalid_entry_point(lam: Any) -> None:
    name = unique_name("custom")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o644 << 16  # as a zip made on Windows carries it
        zf.writestr(info, TUTORIAL_BOOTSTRAP)
    lam.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Handler="function.handler",
        Role=ROLE,
        Code={"ZipFile": buf.getvalue()},
    )
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    payload, error, _ = _invoke(lam, name, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.InvalidEntrypoint"
    assert payload["errorMessage"].endswith("/bootstrap: permission denied")


def test_next_carries_awss_headers_and_the_environment_awss_variables(lam: Any) -> None:
    name = _create(lam, {"bootstrap": f"#!{sys.executable}\n{HEADERS_BOOTSTRAP}"})
    context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    payload, error, _ = _invoke(lam, name, {"n": 1}, ClientContext=context, Qualifier="$LATEST")
    assert error is None
    headers = payload["headers"]
    assert payload["event"] == {"n": 1}
    assert headers["lambda-runtime-invoked-function-arn"].endswith(f":function:{name}:$LATEST")
    assert headers["lambda-runtime-trace-id"].startswith("Root=1-")
    assert json.loads(headers["lambda-runtime-client-context"]) == {"custom": {"k": "v"}}
    assert int(headers["lambda-runtime-deadline-ms"]) > 0
    assert len(headers["lambda-runtime-aws-request-id"]) == 36
    assert payload["env"]["_HANDLER"] == "function.handler"
    assert payload["env"]["AWS_EXECUTION_ENV"] is None  # not set for OS-only runtimes


def test_a_bootstrap_written_in_c(lam: Any, tmp_path: Path) -> None:
    _need("gcc")
    (tmp_path / "bootstrap.c").write_text(C_BOOTSTRAP)
    subprocess.run(
        ["gcc", "-O2", "-o", str(tmp_path / "bootstrap"), str(tmp_path / "bootstrap.c")],
        check=True,
        timeout=120,
    )
    name = _create(lam, {"bootstrap": (tmp_path / "bootstrap").read_bytes()})
    payload, error, log = _invoke(lam, name, {"x": [1, 2]})
    assert (payload, error) == ({"lang": "c", "event": {"x": [1, 2]}}, None)
    assert "c runtime ready" in log
    assert _invoke(lam, name, {"x": 3})[:2] == ({"lang": "c", "event": {"x": 3}}, None)


def test_a_bootstrap_written_for_nodejs(lam: Any) -> None:
    _need("node")
    bootstrap = f"#!{shutil.which('node')}\n{NODE_BOOTSTRAP}"
    name = _create(lam, {"bootstrap": bootstrap})
    for a in (1, 2):
        assert _invoke(lam, name, {"a": a, "b": 40})[:2] == ({"lang": "node", "sum": a + 40}, None)


@pytest.fixture(scope="module")
def awslambdaric(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """AWS's Python runtime interface client and its dependencies, installed for the node's
    Python into a directory of their own (skips the tests when PyPI cannot be reached)."""
    target = tmp_path_factory.mktemp("ric")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
    for _ in range(3):  # PyPI may hiccup; CI has network
        done = subprocess.run(
            [*command, "awslambdaric"], capture_output=True, text=True, timeout=300
        )
        if done.returncode == 0 and (target / "awslambdaric").is_dir():
            return target
    pytest.skip(f"awslambdaric could not be installed: {done.stderr[-500:]}")


RIC_APP = """
import sys

def handler(event, context):
    print("handled by awslambdaric")
    return {"echo": event, "request_id": context.aws_request_id,
            "left_ms": context.get_remaining_time_in_millis()}

def broken(event, context):
    raise KeyError("missing")
"""


@pytest.mark.timeout(300)
def test_a_python_handler_through_awslambdaric_in_a_custom_runtime(
    lam: Any, awslambdaric: Path
) -> None:
    files: dict[str, str | bytes] = {
        path.relative_to(awslambdaric).as_posix(): path.read_bytes()
        for path in awslambdaric.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    files["bootstrap"] = f'#!/bin/sh\nexec {sys.executable} -m awslambdaric "$_HANDLER"\n'
    files["app.py"] = RIC_APP
    name = _create(lam, files, handler="app.handler")
    payload, error, log = _invoke(lam, name, {"a": 1})
    assert error is None, payload
    assert payload["echo"] == {"a": 1} and 0 < payload["left_ms"] <= 3000
    assert "handled by awslambdaric" in log
    broken = _create(lam, files, handler="app.broken")
    payload, error, _ = _invoke(lam, broken, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "KeyError"
    missing = _create(lam, files, handler="nothere.handler")
    payload, error, log = _invoke(lam, missing, {})
    assert (error, payload["errorType"]) == ("Unhandled", "Runtime.ImportModuleError")
    assert "Error Type: Runtime.ImportModuleError" in log
