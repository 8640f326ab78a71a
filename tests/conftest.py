"""Shared fixtures: a real `lamina serve` on a free port, boto3 clients, function factories."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/lamina-test"
FUNCTIONS_DIR = Path(__file__).parent / "functions"
#: How long a node may take to answer /health after start.
NODE_START_TIMEOUT_S = 30.0


def wait_for(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON lines a test handler appended to `path` (none if it does not exist yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def aws_env(home: Path) -> dict[str, str]:
    """Environment for the AWS CLI: throwaway credentials, config files under `home`."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_PAGER": "",
    }
    env.pop("AWS_PROFILE", None)
    return env


def run_aws(node: NodeProcess, home: Path, service: str, *args: str) -> Any:
    """Run `aws SERVICE ARGS` against `node`; its parsed JSON output."""
    done = subprocess.run(
        ["aws", service, *args, "--endpoint-url", node.url, "--output", "json"],
        env=aws_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def queue_counts(sqs: Any, url: str) -> tuple[int, int, int]:
    """(visible, in flight, delayed) messages of a queue."""
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(got["ApproximateNumberOfMessages"]),
        int(got["ApproximateNumberOfMessagesNotVisible"]),
        int(got["ApproximateNumberOfMessagesDelayed"]),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def zip_dir(path: Path) -> bytes:
    """A zip of every file under `path`, as a user's deployment package."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(path.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                zf.write(file, file.relative_to(path).as_posix())
    return buf.getvalue()


def zip_source(files: dict[str, str]) -> bytes:
    """A zip holding `files` (name → source text)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


@dataclass
class NodeProcess:
    """A `lamina serve` subprocess and how to reach it."""

    data_dir: Path
    port: int
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path = self.data_dir.parent / f"node-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        cmd = [
            sys.executable,
            "-m",
            "lamina",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.args,
        ]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"node did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Stop the node with `sig` and return its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def client(self, service: str = "lambda", **config: Any) -> Any:
        cfg = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            read_timeout=120,
            max_pool_connections=64,
            **config,
        )
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=cfg,
        )


def store_args(request: pytest.FixtureRequest) -> list[str]:
    """`--store` for the nodes of this test: LAMINA_TEST_STORE=redis runs them on the session's
    redis-server (emptied once per test); the default is each node's own SQLite store."""
    if os.environ.get("LAMINA_TEST_STORE") != "redis":
        return []
    server: RedisServer = request.getfixturevalue("redis_server")
    server.command("FLUSHALL")
    return ["--store", server.url]


@pytest.fixture
def node_factory(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., NodeProcess]]:
    """Start nodes with extra flags; every node is stopped at the end of the test."""
    started: list[NodeProcess] = []
    default_store = store_args(request)

    def make(*args: str, data_dir: Path | None = None, port: int | None = None) -> NodeProcess:
        n = NodeProcess(data_dir or tmp_path / "data", port or free_port(), [*default_store, *args])
        n.start()
        started.append(n)
        return n

    yield make
    for n in started:
        n.stop()


@pytest.fixture
def node(node_factory: Callable[..., NodeProcess]) -> NodeProcess:
    """A fresh node on a free port with an empty data dir."""
    return node_factory()


@pytest.fixture
def lam(node: NodeProcess) -> Any:
    """A boto3 Lambda client for `node`."""
    return node.client("lambda")


@pytest.fixture
def create_function(lam: Any) -> Callable[..., dict[str, Any]]:
    """Create a function from a folder in tests/functions (or a source dict)."""

    def make(
        code: str | dict[str, str] = "basic",
        *,
        name: str | None = None,
        handler: str = "app.handler",
        client: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        c = client or lam
        data = zip_source(code) if isinstance(code, dict) else zip_dir(FUNCTIONS_DIR / code)
        fn_name = name or f"fn-{uuid.uuid4().hex[:10]}"
        kwargs.setdefault("Runtime", "python3.12")
        out: dict[str, Any] = c.create_function(
            FunctionName=fn_name, Role=ROLE, Handler=handler, Code={"ZipFile": data}, **kwargs
        )
        c.get_waiter("function_active_v2").wait(
            FunctionName=fn_name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
        )
        return out

    return make


@dataclass
class RedisServer:
    """A real `redis-server` on a free port in its own directory (AOF on, fsync always)."""

    directory: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        cmd = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--protected-mode", "no",
        ]  # fmt: skip
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.answers, timeout=10.0)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        """Send one inline command and return the raw first reply chunk."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as s:
            s.sendall(" ".join(args).encode() + b"\r\n")
            return s.recv(65536)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def require_redis_server() -> None:
    """Skip without the redis-server binary, except on CI (CI=true), where it must be there."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        pytest.skip("redis-server is not installed")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session (tests empty it with FLUSHALL before use)."""
    require_redis_server()
    server = RedisServer(tmp_path_factory.mktemp("redis"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for one test, which may kill and restart it."""
    require_redis_server()
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory, free_port())
    server.start()
    yield server
    server.stop()
