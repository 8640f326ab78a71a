"""The test harness: a real `lamina serve` subprocess on a free port, boto3 clients, zips of
handler code, the AWS CLI, bounded polls.

Test modules import these from here (`from harness import ...`), not from conftest: a
directory's own conftest.py replaces the module named `conftest` while pytest collects."""

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.response import StreamingBody

REGION = "us-east-1"
#: The runtime of this interpreter (the nodes the tests start run on it).
NODE_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
ROLE = "arn:aws:iam::000000000000:role/lamina-test"
FUNCTIONS_DIR = Path(__file__).parent / "functions"
#: Set by conftest: the directory nodes started here share with their environments
#: (`--sandbox-share`; not LAMINA_SANDBOX_SHARE itself, which would reach in-process Settings).
SHARE_ENV = "LAMINA_TEST_SANDBOX_SHARE"
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


def unique_name(prefix: str = "fn") -> str:
    """A name no other test uses, for functions and queues on a shared node: "q-1a2b3c4d5e"."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


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


def _read_payload(parsed: dict[str, Any], **_: Any) -> None:
    """Read an Invoke answer's payload at once, so its connection goes back to the pool even
    when a test never reads it (else the garbage collector closes it: a ResourceWarning)."""
    body = parsed.get("Payload")
    if body is not None:
        data = body.read()
        parsed["Payload"] = StreamingBody(io.BytesIO(data), len(data))


class _Spread:
    """botocore `before-sign` hook that sends each call to the next node in turn (before
    signing, so the signature covers the node it goes to)."""

    def __init__(self, nodes: list[NodeProcess]) -> None:
        self.nodes = nodes
        self.turn = 0

    def __call__(self, request: Any, **_: Any) -> None:
        node = self.nodes[self.turn % len(self.nodes)]
        self.turn += 1
        scheme, rest = request.url.split("://", 1)
        path = rest.split("/", 1)[1] if "/" in rest else ""
        request.url = f"{scheme}://127.0.0.1:{node.port}/{path}"


@dataclass
class NodeProcess:
    """A `lamina serve` subprocess and how to reach it."""

    data_dir: Path
    port: int
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    #: Clients handed out, closed with the node (an unclosed pool is a ResourceWarning: an error).
    clients: list[Any] = field(default_factory=list, repr=False)
    shared_clients: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Other nodes on the same store: this node's boto3 clients spread their calls over all of
    #: them, as a load balancer in front of a cluster would (one call to each in turn).
    peers: list[NodeProcess] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # Environments run as other users: they must be able to pass through to their code.
        parent = self.data_dir.parent
        parent.chmod(parent.stat().st_mode | 0o111)
        self.log_path = self.data_dir.parent / f"node-{self.port}.log"
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
        if os.environ.get(SHARE_ENV):
            cmd += ["--sandbox-share", os.environ[SHARE_ENV]]
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the handle
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
        self.proc.kill()
        self.proc.wait()
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
        self.close_clients()
        return self.proc.returncode

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.close_clients()

    def close_clients(self) -> None:
        self.shared_clients.clear()
        while self.clients:
            self.clients.pop().close()

    def client(self, service: str = "lambda", *, spread: bool = True, **config: Any) -> Any:
        """A boto3 client for this node: one per service with the default config (boto3 clients
        are thread-safe), a new one when `config` asks for something else. With peers, its calls
        go to every node in turn unless `spread` is False (what is per node: warm environments,
        provisioned ones)."""
        spread = spread and bool(self.peers)
        key = service if spread or not self.peers else service + ":pinned"
        if not config and key in self.shared_clients:
            return self.shared_clients[key]
        cfg = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            read_timeout=120,
            max_pool_connections=64,
            **config,
        )
        made = boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=cfg,
        )
        made.meta.events.register("after-call.lambda.Invoke", _read_payload)
        if spread:
            made.meta.events.register("before-sign", _Spread([self, *self.peers]))
        self.clients.append(made)
        if not config:
            self.shared_clients[key] = made
        return made


#: Skips a test that is about the SQLite store's own files when LAMINA_TEST_STORE=redis.
sqlite_files_only = pytest.mark.skipif(
    os.environ.get("LAMINA_TEST_STORE") == "redis",
    reason="reads the SQLite store's files; the Redis store keeps none under --data-dir",
)

#: Numbered databases of a test redis-server: one per node group of a LAMINA_TEST_STORE=redis run.
REDIS_DATABASES = 4096


@dataclass
class RedisServer:
    """A real `redis-server` on a free port in its own directory (AOF on, fsync always)."""

    directory: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.db_url(0)

    def db_url(self, db: int) -> str:
        """The URL of one of its numbered databases (DATABASES of them)."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        cmd = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--protected-mode",
            "no",
            "--databases",
            str(REDIS_DATABASES),
        ]
        with open(self.directory / "redis.log", "ab") as log:  # the child keeps its own copy
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
