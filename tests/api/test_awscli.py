"""The AWS CLI talks to a node by changing only --endpoint-url."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness import NodeProcess, run_aws

pytestmark = pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")


def aws(node: NodeProcess, home: Path, *args: str) -> Any:
    """Run `aws lambda ARGS` against `node`; return parsed JSON."""
    return run_aws(node, home, "lambda", *args)


def test_aws_cli_lists_and_gets_functions(
    node: NodeProcess, create_function: Any, tmp_path: Path
) -> None:
    # Given two functions, one with a published version
    first = create_function(name="cli-one", Publish=True)
    create_function(name="cli-two", Description="second")

    # When the AWS CLI lists them and gets one
    listed = aws(node, tmp_path, "list-functions")
    got = aws(node, tmp_path, "get-function", "--function-name", "cli-one", "--qualifier", "1")

    # Then it sees what boto3 sees
    by_name = {f["FunctionName"]: f for f in listed["Functions"]}
    assert set(by_name) == {"cli-one", "cli-two"}
    assert by_name["cli-two"]["Description"] == "second"
    assert by_name["cli-one"]["Version"] == "$LATEST"
    assert got["Configuration"]["Version"] == "1"
    assert got["Configuration"]["CodeSha256"] == first["CodeSha256"]
    assert got["Code"]["Location"].startswith(node.url)


def test_aws_cli_reports_a_missing_function_as_resource_not_found(
    node: NodeProcess, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
    }
    done = subprocess.run(
        ["aws", "lambda", "get-function", "--function-name", "nope", "--endpoint-url", node.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert "ResourceNotFoundException" in done.stderr
    assert "Function not found" in done.stderr
