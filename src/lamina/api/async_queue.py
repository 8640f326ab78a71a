"""/lamina/v1/functions/{name}/async-queue: inspect, list, purge, pause and resume a queue."""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api.deps import node
from lamina.api.http import json
from lamina.errors import InvalidParameterValue

P = "/lamina/v1/functions/{name}/async-queue"
#: Largest page of listed events.
MAX_LIST = 1000


async def _function(request: Request) -> str:
    n = node(request)
    name, _ = n.arns.split_name(request.path_params["name"])
    await n.functions.meta(name)
    return name


async def queue_stats(request: Request) -> Response:
    n = node(request)
    name = await _function(request)
    stats, counters, paused = await n.async_queue.stats(name)
    now = n.clock.time()
    oldest = stats.oldest_enqueued_at
    return json(
        request,
        {
            "function": name,
            "paused": paused,
            "depth": stats.depth,
            "ready": stats.ready,
            "inFlight": stats.in_flight,
            "delayed": stats.delayed,
            "oldestEventAgeSeconds": round(now - oldest, 3) if oldest is not None else None,
            "received": counters.received,
            "succeeded": counters.succeeded,
            "retried": counters.retried,
            "dropped": counters.dropped,
        },
    )


async def list_events(request: Request) -> Response:
    n = node(request)
    name = await _function(request)
    after = request.query_params.get("after", "")
    try:
        limit = min(int(request.query_params.get("limit", "100")), MAX_LIST)
    except ValueError as exc:
        raise InvalidParameterValue("limit must be an integer") from exc
    events = await n.async_queue.list(name, after, limit)
    now = n.clock.time()
    items: list[dict[str, Any]] = [
        {
            "requestId": e.request_id,
            "qualifier": e.qualifier,
            "attempts": e.attempts,
            "enqueuedAt": e.enqueued_at,
            "nextAttemptAt": e.next_at,
            "inFlight": e.claimed_until is not None and e.claimed_until >= now,
            "lastError": e.last_error,
            "payload": base64.b64encode(e.payload).decode(),
        }
        for e in events
    ]
    out: dict[str, Any] = {"events": items}
    if len(events) == limit:
        out["next"] = events[-1].request_id
    return json(request, out)


async def purge(request: Request) -> Response:
    name = await _function(request)
    return json(request, {"purged": await node(request).async_queue.purge(name)})


async def pause(request: Request) -> Response:
    name = await _function(request)
    await node(request).async_queue.pause(name)
    return json(request, {"function": name, "paused": True})


async def resume(request: Request) -> Response:
    name = await _function(request)
    await node(request).async_queue.resume(name)
    return json(request, {"function": name, "paused": False})


routes = [
    Route(P, queue_stats, methods=["GET"]),
    Route(P + "/events", list_events, methods=["GET"]),
    Route(P + "/events", purge, methods=["DELETE"]),
    Route(P + "/pause", pause, methods=["POST"]),
    Route(P + "/resume", resume, methods=["POST"]),
]
