"""`lamina ls`, `top`, `invoke --count` and `logs --filter` through click's runner against a
real node, and `lamina logs` as a subprocess (no stray library log lines)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
from click.testing import CliRunner, Result

from harness import NODE_RUNTIME, NodeProcess
from lamina.cli.main import cli

ECHO = """
def handler(event, context):
    print("ERROR bad thing" if event.get("fail") else "INFO fine")
    if event.get("fail"):
        raise ValueError("nope")
    return event
"""


def run(node: NodeProcess, *args: str, **env: str) -> Result:
    return CliRunner(env=env or None).invoke(
        cli, [*args, "--endpoint-url", node.url], catch_exceptions=False
    )


def test_ls_lists_functions_with_limits_running_and_queue(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = create_function({"app.py": ECHO}, MemorySize=512)["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    result = run(node, "ls")
    assert result.exit_code == 0, result.output
    row = next(line.split() for line in result.output.splitlines() if name in line)
    assert row == [name, NODE_RUNTIME, "512", "MB", "3", "s", "3", "-", "0", "0"]


def test_top_shows_rates_and_the_queue(node: NodeProcess, lam: Any, create_function: Any) -> None:
    name = create_function({"app.py": ECHO})["FunctionName"]
    assert run(node, "queue", "pause", name).exit_code == 0
    for _ in range(2):
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    for _ in range(3):
        lam.invoke(FunctionName=name, Payload=b"{}")
    result = run(node, "top", "--iterations", "2", "--sort", "i")
    assert result.exit_code == 0, result.output
    assert "lamina top" in result.output and "RUNNING/LIMIT" in result.output
    rows = [
        [c.strip() for c in line.split("│") if c.strip()] for line in result.output.splitlines()
    ]
    row = next(r for r in reversed(rows) if r and r[0] == name)  # the last refresh
    limit = httpx.get(f"{node.url}/lamina/v1/stats").json()["account"]["unreserved_limit"]
    assert row[1] == f"0/{limit}" and row[5:8] == ["0", "0", "2 ⏸"]
    assert float(row[9]) > 0  # p50 ms


def test_invoke_count_shows_histogram_and_outcomes(node: NodeProcess, create_function: Any) -> None:
    name = create_function({"app.py": ECHO})["FunctionName"]
    result = run(node, "invoke", name, "--count", "20", "--concurrency", "4")
    assert result.exit_code == 0, result.output
    assert "latency" in result.output and "outcomes" in result.output
    assert any(line.split() == ["200", "20"] for line in result.output.splitlines())
    failing = run(node, "invoke", name, "-n", "3", "-c", "2", "--payload", '{"fail": true}')
    assert failing.exit_code == 0  # a report of outcomes, not a failure of the command
    assert any(line.split() == ["200", "Unhandled", "3"] for line in failing.output.splitlines())


def test_logs_filters_and_colours_platform_lines(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = create_function({"app.py": ECHO})["FunctionName"]
    lam.invoke(FunctionName=name, Payload=b"{}")
    lam.invoke(FunctionName=name, Payload=json.dumps({"fail": True}))
    filtered = run(node, "logs", name, "--filter", "?ERROR ?nope")
    assert filtered.exit_code == 0, filtered.output
    assert "ERROR bad thing" in filtered.output and "INFO fine" not in filtered.output
    coloured = run(node, "logs", name, FORCE_COLOR="1", TERM="xterm-256color")
    start = next(line for line in coloured.output.splitlines() if "START RequestId" in line)
    assert start.startswith("\x1b[")  # START is coloured
    assert run(node, "logs", name, "--filter", "{ $.x = 1 }").exit_code != 0


def test_logs_as_a_subprocess_prints_no_library_log_lines(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = create_function({"app.py": ECHO})["FunctionName"]
    lam.invoke(FunctionName=name, Payload=b"{}")
    done = subprocess.run(
        [sys.executable, "-m", "lamina", "logs", name, "--endpoint-url", node.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "INFO fine" in done.stdout
    assert "HTTP Request" not in done.stdout + done.stderr and done.stderr == ""


def test_logs_follow_prints_recent_lines_then_new_matching_ones(
    node: NodeProcess, lam: Any, create_function: Any
) -> None:
    name = create_function({"app.py": ECHO})["FunctionName"]
    lam.invoke(FunctionName=name, Payload=json.dumps({"fail": True}))
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lamina",
            "logs",
            name,
            "--follow",
            "--filter",
            '"bad thing"',
            "--endpoint-url",
            node.url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline().strip() == "ERROR bad thing"  # the recent line
        lam.invoke(FunctionName=name, Payload=b"{}")  # INFO: filtered out
        lam.invoke(FunctionName=name, Payload=json.dumps({"fail": True}))
        assert follower.stdout.readline().strip() == "ERROR bad thing"  # the new one
    finally:
        follower.kill()
        _, err = follower.communicate(timeout=30)
    assert "HTTP Request" not in err
