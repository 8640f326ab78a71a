"""Helpers for engine tests: specs for the handler dirs in tests/functions, one-shot invokes."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psutil

from lamina.clock import Clock
from lamina.engine.concurrency import Concurrency
from lamina.engine.environment import Environment
from lamina.engine.launcher import EnvironmentSpec
from lamina.engine.pool import Pool
from lamina.engine.reports import RunReport as InvokeResult

FUNCTIONS_DIR = Path(__file__).parent.parent / "functions"


def child_processes() -> list[psutil.Process]:
    """This test process's descendants (environments, templates), less the session's
    redis-server (tests/conftest.py), which a worker starts for the tests that use Redis."""
    return [p for p in psutil.Process().children(recursive=True) if p.name() != "redis-server"]


def make_spec(code: str | Path, handler: str = "app.handler", **changes: Any) -> EnvironmentSpec:
    """A spec for the handler dir `code` (a name under tests/functions, or a path)."""
    code_dir = code if isinstance(code, Path) else FUNCTIONS_DIR / code
    name = code_dir.name
    spec = EnvironmentSpec(
        function_name=name,
        function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        version="$LATEST",
        handler=handler,
        runtime="python3.11",
        code_dir=code_dir,
        memory_mb=128,
        timeout_s=3,
        ephemeral_storage_mb=512,
        variables={},
        region="us-east-1",
        account_id="000000000000",
        endpoint_url="http://127.0.0.1:9001",
        revision="r1",
    )
    return dataclasses.replace(spec, **changes)


async def invoke(
    env: Environment, event: bytes = b"{}", *, client_context: str | None = None
) -> InvokeResult:
    """One invocation with a fresh request id, under the spec's timeout."""
    return await env.invoke(
        event,
        request_id=str(uuid.uuid4()),
        invoked_function_arn=env.spec.function_arn,
        client_context=client_context,
        deadline=Clock().monotonic() + env.spec.timeout_s,
    )


@asynccontextmanager
async def borrow(pool: Pool, spec: EnvironmentSpec) -> AsyncIterator[Environment]:
    """Borrow an environment of `spec` under a concurrency lease, as the invoker does."""
    async with (
        Concurrency(1).lease(spec.function_name) as lease,
        pool.environment(spec, lease) as env,
    ):
        yield env


async def call(pool: Pool, spec: EnvironmentSpec, event: bytes = b"{}") -> InvokeResult:
    """Borrow an environment of `spec` from the pool and invoke it once."""
    async with borrow(pool, spec) as env:
        return await invoke(env, event)
