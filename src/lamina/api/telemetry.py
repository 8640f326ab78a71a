"""Live views of the node: `/lamina/v1/stats` (JSON) and Prometheus `/metrics`."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api.deps import node
from lamina.api.http import json


async def stats(request: Request) -> Response:
    """Per function: running against its limit, reserved, provisioned ready/busy, throttles,
    invocations, errors, environments by state, recent p50/p99 duration and the async queue's
    depth, oldest age and pause state; account-wide figures (see `engine/snapshot.py`)."""
    return json(request, await node(request).snapshots.take())


async def metrics(request: Request) -> Response:
    # on the loop: the collectors read live pool and concurrency state (a few ms at most)
    body = generate_latest(node(request).telemetry.registry)
    return Response(body, 200, media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/lamina/v1/stats", stats, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
