"""SigV4 with --auth-keys: each refusal with AWS's code, keys re-read on SIGHUP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from harness import REGION, ROLE, NodeProcess, wait_for, zip_source

KEYS = {"AKIDGOOD": "good-secret"}


def client(node: NodeProcess, service: str, key: str, secret: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=node.url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(KEYS))
    return path


@pytest.fixture
def secured(node_factory: Any, keys_file: Path) -> NodeProcess:
    n: NodeProcess = node_factory("--auth-keys", str(keys_file))
    return n


def error_of(call: Any) -> tuple[int, str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        call()
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def signed_at(node: NodeProcess, when: datetime, key: str, secret: str) -> httpx.Response:
    """GET ListFunctions signed by botocore as if the client's clock read `when`."""
    url = f"{node.url}/2015-03-31/functions/"
    req = AWSRequest("GET", url, headers={"X-Amz-Date": when.strftime("%Y%m%dT%H%M%SZ")})
    req.context["timestamp"] = req.headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(key, secret), "lambda", REGION)
    req.headers["host"] = f"127.0.0.1:{node.port}"
    signature = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
    req.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key}/{signer.credential_scope(req)},"
        f" SignedHeaders={signer.signed_headers(signer.headers_to_sign(req))},"
        f" Signature={signature}"
    )
    return httpx.get(url, headers=dict(req.headers.items()))


def test_listed_key_passes_and_every_other_request_is_refused(secured: NodeProcess) -> None:
    assert client(secured, "lambda", "AKIDGOOD", "good-secret").list_functions()["Functions"] == []
    # unsigned: AWS answers 403 MissingAuthenticationTokenException
    r = httpx.post(f"{secured.url}/2015-03-31/functions", json={})
    assert (r.status_code, r.headers["x-amzn-ErrorType"]) == (
        403,
        "MissingAuthenticationTokenException",
    )
    assert r.json()["message"] == "Missing Authentication Token"
    assert error_of(client(secured, "lambda", "AKIDNOPE", "x").list_functions) == (
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
    status, code, message = error_of(client(secured, "lambda", "AKIDGOOD", "bad").list_functions)
    assert (status, code) == (403, "InvalidSignatureException")
    assert message.startswith("The request signature we calculated does not match")
    garbage = httpx.get(f"{secured.url}/2015-03-31/functions", headers={"Authorization": "garbage"})
    assert garbage.status_code == 403


def test_skewed_clock_is_refused_as_expired(secured: NodeProcess) -> None:
    now = datetime.now(UTC)
    assert signed_at(secured, now, "AKIDGOOD", "good-secret").status_code == 200
    old = signed_at(secured, now - timedelta(minutes=6), "AKIDGOOD", "good-secret")
    assert (old.status_code, old.headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException")
    assert old.json()["message"].startswith("Signature expired: ")
    future = signed_at(secured, now + timedelta(minutes=6), "AKIDGOOD", "good-secret")
    assert future.status_code == 403
    assert future.json()["message"].startswith("Signature not yet current: ")


def test_a_tampered_body_fails_the_signature(secured: NodeProcess) -> None:
    url = f"{secured.url}/2015-03-31/functions/f/invocations"
    req = AWSRequest("POST", url, data=b'{"a": 1}')
    SigV4Auth(Credentials("AKIDGOOD", "good-secret"), "lambda", REGION).add_auth(req)
    headers = dict(req.headers.items())
    assert httpx.post(url, content=b'{"a": 1}', headers=headers).status_code == 404
    assert httpx.post(url, content=b'{"a": 2}', headers=headers).status_code == 403


def test_sqs_refusals_are_sqs_errors(secured: NodeProcess) -> None:
    good = client(secured, "sqs", "AKIDGOOD", "good-secret")
    assert "QueueUrl" in good.create_queue(QueueName="q1")
    assert error_of(client(secured, "sqs", "AKIDNOPE", "x").list_queues)[:2] == (
        403,
        "InvalidClientTokenId",
    )
    assert error_of(client(secured, "sqs", "AKIDGOOD", "bad").list_queues)[:2] == (
        403,
        "SignatureDoesNotMatch",
    )


def test_health_is_open_metrics_and_lamina_v1_are_not(
    secured: NodeProcess, node_factory: Any, keys_file: Path, tmp_path: Path
) -> None:
    assert httpx.get(f"{secured.url}/health").status_code == 200
    assert httpx.get(f"{secured.url}/metrics").status_code == 403
    assert httpx.get(f"{secured.url}/lamina/v1/node").status_code == 403
    opened = node_factory(
        "--auth-keys", str(keys_file), "--open-metrics", data_dir=tmp_path / "other"
    )
    assert httpx.get(f"{opened.url}/metrics").status_code == 200


def test_handlers_call_the_node_with_the_node_key(secured: NodeProcess) -> None:
    lam = client(secured, "lambda", "AKIDGOOD", "good-secret")
    code = "import boto3\ndef handler(e, c):\n    return len(boto3.client('sqs').list_queues())\n"
    lam.create_function(
        FunctionName="caller",
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": zip_source({"app.py": code})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName="caller")
    out = lam.invoke(FunctionName="caller")
    assert "FunctionError" not in out, out["Payload"].read()


def test_keys_are_reread_on_sighup(secured: NodeProcess, keys_file: Path) -> None:
    newcomer = client(secured, "lambda", "AKIDNEW", "new-secret")
    assert error_of(newcomer.list_functions)[1] == "UnrecognizedClientException"
    keys_file.write_text(json.dumps({**KEYS, "AKIDNEW": "new-secret"}))
    assert secured.proc is not None
    secured.proc.send_signal(signal.SIGHUP)

    def accepted() -> bool:
        try:
            newcomer.list_functions()
        except botocore.exceptions.ClientError:
            return False
        return True

    wait_for(accepted, timeout=10)


def test_public_host_without_keys_warns_loudly(node_factory: Any) -> None:
    n = node_factory("--host", "0.0.0.0")
    assert "WITHOUT --auth-keys" in n.log()


def test_lamina_client_commands_sign_with_the_callers_keys(
    secured: NodeProcess, tmp_path: Path
) -> None:
    lam = client(secured, "lambda", "AKIDGOOD", "good-secret")
    lam.create_function(
        FunctionName="echo",
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": zip_source({"app.py": "def handler(e, c):\n    return e\n"})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName="echo")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDGOOD",
        "AWS_SECRET_ACCESS_KEY": "good-secret",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }

    def lamina(*args: str, keys: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lamina", *args, "--endpoint-url", secured.url],
            capture_output=True,
            text=True,
            timeout=60,
            env=keys,
        )

    done = lamina("invoke", "echo", "--payload", '{"a": 1}', keys=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"a": 1}
    assert lamina("queue", "stats", "echo", keys=env).returncode == 0
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    unsigned = {k: v for k, v in env.items() if k not in keys}
    assert lamina("queue", "stats", "echo", keys=unsigned).returncode != 0
