"""The `lamina` client commands against a real node, run as a user runs them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import httpx

from harness import NodeProcess

ECHO = """
def handler(event, context):
    print('got', event)
    if event.get('fail'):
        raise ValueError('nope')
    return event
"""


def lamina(
    node: NodeProcess, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamina", *args, "--endpoint-url", node.url],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_invoke_prints_the_result_and_the_log_tail(node: NodeProcess, create_function: Any) -> None:
    name = create_function({"app.py": ECHO})["FunctionName"]
    done = lamina(node, "invoke", name, "--payload", '{"a": 1}', "--tail")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"a": 1}
    assert "got {'a': 1}" in done.stderr and "REPORT RequestId:" in done.stderr


def test_invoke_reads_stdin_and_exits_non_zero_on_function_error(
    node: NodeProcess, create_function: Any
) -> None:
    name = create_function({"app.py": ECHO})["FunctionName"]
    done = lamina(node, "invoke", name, "--payload", "-", stdin='{"fail": true}')
    assert done.returncode == 1
    assert json.loads(done.stdout)["errorType"] == "ValueError"


def test_invoke_of_a_missing_function_is_a_clear_error(node: NodeProcess) -> None:
    done = lamina(node, "invoke", "does-not-exist")
    assert done.returncode != 0
    assert "ResourceNotFoundException" in done.stderr


def test_logs_lists_lines_and_follow_streams_new_ones(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = create_function({"app.py": ECHO})["FunctionName"]
    lam.invoke(FunctionName=name, Payload=b'{"first": 1}')
    done = lamina(node, "logs", name)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("START RequestId:") and "got {'first': 1}" in lines
    # Follow: lines of an invocation made after the stream opened arrive on it.
    url = f"{node.url}/lamina/v1/functions/{name}/logs"
    after = httpx.get(url, timeout=10).json()["next"]
    with httpx.stream("GET", url, params={"follow": "1", "after": after}, timeout=30) as resp:
        lam.invoke(FunctionName=name, Payload=b'{"second": 2}')
        deadline = time.monotonic() + 20
        seen = []
        for line in resp.iter_lines():
            seen.append(json.loads(line)["message"])
            if seen[-1].startswith("REPORT") or time.monotonic() > deadline:
                break
    assert "got {'second': 2}" in seen
    assert not any("first" in m for m in seen)


def test_queue_commands_show_pause_and_purge(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = create_function({"app.py": ECHO})["FunctionName"]
    assert "paused" in lamina(node, "queue", "pause", name).stdout
    for i in range(3):
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"i": i}))
    stats = lamina(node, "queue", "stats", name).stdout
    assert any(line.split() == ["depth", "3"] for line in stats.splitlines())
    listed = lamina(node, "queue", "list", name).stdout.strip().splitlines()
    assert len(listed) == 3
    # Oldest first, with ISO-8601 UTC times (not epoch seconds).
    enqueued = [line.split()[0] for line in listed]
    assert enqueued == sorted(enqueued)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t) for t in enqueued)
    assert "next=20" in listed[0]
    assert "purged 3 events" in lamina(node, "queue", "purge", name).stdout
    assert "resumed" in lamina(node, "queue", "resume", name).stdout
