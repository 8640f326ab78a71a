"""Fixtures every test directory shares: nodes (one per module, or one per test where a test
restarts, kills or flags its node), boto3 clients, function factories, unique names.

Helpers live in harness.py; they are re-exported here for modules that still import them from
conftest."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import (
    FUNCTIONS_DIR,
    NODE_RUNTIME,
    REDIS_DATABASES,
    REGION,
    ROLE,
    SHARE_ENV,
    NodeProcess,
    RedisServer,
    aws_env,
    free_port,
    queue_counts,
    read_jsonl,
    require_redis_server,
    run_aws,
    unique_name,
    wait_for,
    zip_dir,
    zip_source,
)

__all__ = [
    "FUNCTIONS_DIR",
    "REGION",
    "ROLE",
    "NodeProcess",
    "RedisServer",
    "aws_env",
    "free_port",
    "queue_counts",
    "read_jsonl",
    "require_redis_server",
    "run_aws",
    "unique_name",
    "wait_for",
    "zip_dir",
    "zip_source",
]


@pytest.fixture(scope="session", autouse=True)
def sandbox_share(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nodes run environments as other users, with a /tmp of their own: share this session's
    temporary directory with them (handlers record into tests' `tmp_path`), as a user would
    with --sandbox-share."""
    base = tmp_path_factory.getbasetemp()
    for directory in (base, *base.parents[: len(base.parents) - 2]):
        directory.chmod(directory.stat().st_mode | 0o111)
    os.environ[SHARE_ENV] = str(base)
    yield
    os.environ.pop(SHARE_ENV, None)


@pytest.fixture
def tmp_path(tmp_path: Path) -> Path:
    """pytest's `tmp_path`, writable by environments' users (handlers record into it)."""
    tmp_path.chmod(0o777)
    return tmp_path


#: Redis databases handed out in this test process (LAMINA_TEST_STORE=redis); 0 is left alone.
_redis_databases = itertools.count(1)


def store_args(request: pytest.FixtureRequest, store: str = "default") -> list[str]:
    """`--store` for one group of nodes (a test's own, or a module's shared node): "redis" (or
    "default" under LAMINA_TEST_STORE=redis) puts them on an empty database of the session's
    redis-server; otherwise each node has its own SQLite store."""
    if store == "default":
        store = "redis" if os.environ.get("LAMINA_TEST_STORE") == "redis" else "sqlite"
    if store != "redis":
        return []
    server: RedisServer = request.getfixturevalue("redis_server")
    db = next(_redis_databases)
    assert db < REDIS_DATABASES, "more node groups than the test redis-server has databases"
    return ["--store", server.db_url(db)]


@pytest.fixture
def node_factory(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., NodeProcess]]:
    """Start nodes of this test's own (flags, restarts, kill -9); all stopped when it ends.
    They share one store (under LAMINA_TEST_STORE=redis, one Redis database)."""
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module that sets `STORES = ("sqlite", "redis")` runs its shared-node tests once per
    store (the API modules that matter most for issue 10: both stores, every CI run)."""
    stores = getattr(metafunc.module, "STORES", None)
    if stores and "shared_node" in metafunc.fixturenames:
        metafunc.parametrize("node_store", stores, indirect=True, scope="module")


@pytest.fixture(scope="module")
def node_store(request: pytest.FixtureRequest) -> str:
    """The store of the module's shared node: "sqlite", "redis", or "default" (as
    LAMINA_TEST_STORE says)."""
    return str(getattr(request, "param", "default"))


@pytest.fixture(scope="module")
def shared_node_args() -> tuple[str, ...]:
    """Flags of the module's shared node; a module overrides this fixture to add its own."""
    return ()


@pytest.fixture(scope="module")
def shared_node(
    tmp_path_factory: pytest.TempPathFactory,
    shared_node_args: tuple[str, ...],
    node_store: str,
    request: pytest.FixtureRequest,
) -> Iterator[NodeProcess]:
    """One `lamina serve` for the whole test module (per store, for modules with STORES; on
    Redis a cluster of two, whose clients spread their calls over both nodes).
    Tests on it work on names of their own (`unique_name`) and never assume the node is empty,
    so they may run in any order."""
    args = [*store_args(request, node_store), *shared_node_args]
    port = free_port()
    if node_store == "redis":  # queue URLs name the cluster's "load balancer": the first node
        args += ["--public-url", f"http://127.0.0.1:{port}"]
    n = NodeProcess(tmp_path_factory.mktemp("shared") / "data", port, args)
    n.start()
    if node_store == "redis":
        # Two nodes on one Redis behind a "load balancer": the clients alternate between them.
        peer = NodeProcess(tmp_path_factory.mktemp("shared-peer") / "data", free_port(), args)
        peer.start()
        n.peers.append(peer)
    yield n
    n.stop()
    for peer in n.peers:
        peer.stop()


@pytest.fixture
def node(shared_node: NodeProcess) -> NodeProcess:
    """The node a test drives: its module's shared node. A test that restarts, kills or stops
    the node, starts it with flags, or needs it empty asks for `fresh_node`/`node_factory`."""
    return shared_node


@pytest.fixture
def fresh_node(node_factory: Callable[..., NodeProcess]) -> NodeProcess:
    """A node of this test's own on a free port with an empty data dir."""
    return node_factory()


@pytest.fixture(name="unique_name")
def unique_name_fixture() -> Callable[[str], str]:
    """Names no other test on a shared node uses: `unique_name("q")` → "q-1a2b3c4d5e"."""
    return unique_name


@pytest.fixture
def lam(node: NodeProcess) -> Any:
    """A boto3 Lambda client for `node`."""
    return node.client("lambda")


@pytest.fixture
def lam_one(node: NodeProcess) -> Any:
    """A Lambda client that talks to one node even in a cluster: for what is per node (warm
    environments, provisioned environments, module state)."""
    return node.client("lambda", spread=False)


@pytest.fixture
def create_function(request: pytest.FixtureRequest) -> Callable[..., dict[str, Any]]:
    """Create a function from a folder in tests/functions (or a source dict), through `client`
    or else `lam` (the module's shared node is started only when it is used)."""

    def make(
        code: str | dict[str, str] = "basic",
        *,
        name: str | None = None,
        handler: str = "app.handler",
        client: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        c = client or request.getfixturevalue("lam")
        data = zip_source(code) if isinstance(code, dict) else zip_dir(FUNCTIONS_DIR / code)
        fn_name = name or unique_name("fn")
        # The node's own Python (the nodes run on this interpreter): the suite needs no other
        # CPython; tests/api/test_runtimes.py covers each python3.X found on the machine.
        kwargs.setdefault("Runtime", NODE_RUNTIME)
        out: dict[str, Any] = c.create_function(
            FunctionName=fn_name, Role=ROLE, Handler=handler, Code={"ZipFile": data}, **kwargs
        )
        c.get_waiter("function_active_v2").wait(
            FunctionName=fn_name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
        )
        return out

    return make


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session (AOF, fsync always); each user takes a database."""
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
