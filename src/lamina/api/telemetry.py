"""Live views of the node: `/lamina/v1/stats` (JSON) and Prometheus `/metrics`."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api.deps import node
from lamina.api.http import json


async def stats(request: Request) -> Response:
    """Per function: running, reserved, provisioned ready/busy, throttles, invocations,
    errors, environments by state and async queue depth; account-wide figures."""
    n = node(request)
    c = n.concurrency.statistics()
    pool = n.pool.statistics()
    provisioned = n.pool.provisioned_by_function()
    now = n.clock.time()
    queued = {f: (await n.store.event_stats(f, now=now)).depth
              for f in await n.store.event_functions()}  # fmt: skip
    names = sorted(
        {*(m.name for m in await n.functions.records.all_meta()), *c.in_use, *pool.functions}
    )
    functions: dict[str, Any] = {}
    for name in names:
        envs = pool.functions.get(name)
        live, busy = provisioned.get(name, (0, 0))
        functions[name] = {
            "running": c.in_use.get(name, 0),
            "reserved": c.reserved.get(name),
            "provisioned": {"ready": live - busy, "busy": busy},
            "throttles": c.throttles.get(name, 0),
            "invocations": n.telemetry.invocations.get(name, 0),
            "errors": n.telemetry.errors.get(name, 0),
            "environments": {
                "total": (envs.starting + envs.ready + envs.busy) if envs else 0,
                "starting": envs.starting if envs else 0,
                "idle": envs.idle if envs else 0,
                "busy": envs.busy if envs else 0,
            },
            "queue_depth": queued.get(name, 0),
        }
    return json(
        request,
        {
            "account": {
                "limit": c.account_limit,
                "unreserved_limit": c.unreserved_limit,
                "unreserved_in_use": c.unreserved_in_use,
                "in_use": sum(c.in_use.values()),
            },
            "environments": {
                "total": pool.total,
                "cold_starts": pool.cold_starts,
                "evictions": n.pool.evictions,
                "memory_in_use_mb": n.pool.memory_in_use_mb,
                "memory_budget_mb": n.pool.memory_budget_mb,
            },
            "functions": functions,
        },
    )


async def metrics(request: Request) -> Response:
    # on the loop: the collectors read live pool and concurrency state (a few ms at most)
    body = generate_latest(node(request).telemetry.registry)
    return Response(body, 200, media_type=CONTENT_TYPE_LATEST)


async def cluster(request: Request) -> Response:
    """The live nodes sharing this node's store, each with what it runs now."""
    n = node(request)
    nodes = [
        {
            "node": record.node,
            "self": record.node == n.leases.node_id,
            "running": sum(record.in_use.values()),
            "functions": {f: count for f, count in sorted(record.in_use.items()) if count},
            "expires_at": record.expires_at,
        }
        for record in await n.leases.live_nodes()
    ]
    return json(request, {"store": n.store_kind, "nodes": nodes})


routes = [
    Route("/lamina/v1/stats", stats, methods=["GET"]),
    Route("/lamina/v1/cluster", cluster, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
