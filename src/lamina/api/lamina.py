"""/lamina/v1: what AWS lacks — function logs (with follow), async queue inspection, purge,
pause and resume, live stats and their stream, the node's own figures, and the code zips
GetFunction links to.

Every `/lamina/v1/*` route lives in this module (`/health` and `/metrics` are in api/ops.py).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from lamina import __version__
from lamina.api.deps import services
from lamina.api.http import json
from lamina.api.stats_view import snapshot_json
from lamina.engine.log_sink import LogLine
from lamina.errors import InvalidParameterValue, ResourceNotFound

V1 = "/lamina/v1"
QUEUE = V1 + "/functions/{name}/async-queue"
#: Longest a follow request waits between checks for new lines.
FOLLOW_POLL_S = 1.0
#: Seconds between two snapshots on the live stream (the dashboard wants one a second or more).
STREAM_INTERVAL_S = 0.5
#: Most log lines the dashboard's recent-invocations panel asks for.
MAX_RECENT_LINES = 2000
#: Largest page of listed events.
MAX_LIST = 1000
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _int_param(request: Request, key: str, default: int) -> int:
    try:
        return int(request.query_params.get(key, default))
    except ValueError as exc:
        raise InvalidParameterValue(f"{key} must be an integer") from exc


# -- function logs ----------------------------------------------------------------------------
def _event(e: LogLine) -> dict[str, object]:
    return {"id": e.event_id, "timestamp": e.timestamp_ms, "stream": e.stream, "message": e.message}


async def function_logs(request: Request) -> Response:
    """Log lines of a function: `?after=<id>&limit=N&start=<ms>`; `?follow=1` streams NDJSON."""
    s = services(request)
    name, _ = s.arns.split_name(request.path_params["name"])
    group = f"/aws/lambda/{name}"
    after = _int_param(request, "after", 0)
    limit = min(_int_param(request, "limit", 1000), 10_000)
    start = _int_param(request, "start", 0)
    if request.query_params.get("follow") not in (None, "", "0", "false"):
        return StreamingResponse(
            _follow(request, group, after, start), media_type="application/x-ndjson"
        )
    await s.logs.flush()
    events = await s.logs.read(group, after_id=after, start_ms=start, limit=limit)
    return json(
        request,
        {"events": [_event(e) for e in events], "next": events[-1].event_id if events else after},
    )


async def _follow(request: Request, group: str, after: int, start: int) -> AsyncIterator[bytes]:
    logs = services(request).logs
    while not await request.is_disconnected():
        events = await logs.read(group, after_id=after, start_ms=start, limit=1000)
        for e in events:
            yield msgspec.json.encode(_event(e)) + b"\n"
        if events:
            after = events[-1].event_id
        else:
            await logs.wait_new(FOLLOW_POLL_S)


async def recent_logs(request: Request) -> Response:
    """The newest log lines of a function (`?limit=`, at most MAX_RECENT_LINES; dashboard)."""
    s = services(request)
    name, _ = s.arns.split_name(request.path_params["name"])
    limit = min(max(_int_param(request, "limit", 500), 1), MAX_RECENT_LINES)
    events = await s.log_service.recent(f"/aws/lambda/{name}", limit)
    return json(request, {"events": [_event(e) for e in events]})


# -- async queues -----------------------------------------------------------------------------
async def _function(request: Request) -> str:
    s = services(request)
    name, _ = s.arns.split_name(request.path_params["name"])
    await s.functions.meta(name)
    return name


async def queue_stats(request: Request) -> Response:
    s = services(request)
    name = await _function(request)
    stats, counters, paused = await s.async_queue.stats(name)
    now = s.clock.time()
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
    s = services(request)
    name = await _function(request)
    after = request.query_params.get("after", "")
    limit = min(_int_param(request, "limit", 100), MAX_LIST)
    events = await s.async_queue.list(name, after, limit)
    now = s.clock.time()
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
    return json(request, {"purged": await services(request).async_queue.purge(name)})


async def pause(request: Request) -> Response:
    name = await _function(request)
    await services(request).async_queue.pause(name)
    return json(request, {"function": name, "paused": True})


async def resume(request: Request) -> Response:
    name = await _function(request)
    await services(request).async_queue.resume(name)
    return json(request, {"function": name, "paused": False})


# -- the node ---------------------------------------------------------------------------------
async def stats(request: Request) -> Response:
    """The node's snapshot as JSON (api/stats_view.py says what it holds)."""
    return json(request, snapshot_json(await services(request).snapshots.take()))


async def stream(request: Request) -> Response:
    """Server-sent events: `data: <stats JSON>` every STREAM_INTERVAL_S (the dashboard)."""
    snapshots = services(request).snapshots

    async def events() -> AsyncIterator[bytes]:
        yield b"retry: 1000\n\n"
        async for snap in snapshots.follow(STREAM_INTERVAL_S):
            yield b"data: " + msgspec.json.encode(snapshot_json(snap)) + b"\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def node_info(request: Request) -> Response:
    s = services(request)
    envs = (await s.snapshots.take()).environments
    return JSONResponse(
        {
            "pid": os.getpid(),
            "version": __version__,
            "store": s.store_kind,
            "endpoint": s.settings.endpoint_url,
            "memory_budget_mb": envs.memory_budget_mb,
            "memory_in_use_mb": envs.memory_in_use_mb,
            "evictions": envs.evictions,
        }
    )


async def cluster(request: Request) -> Response:
    """The live nodes sharing this node's store, each with what it runs now."""
    s = services(request)
    nodes = [
        {
            "node": record.node_id,
            "self": record.node_id == s.leases.node_id,
            "running": sum(record.in_use.values()),
            "functions": {f: count for f, count in sorted(record.in_use.items()) if count},
            "expires_at": record.expires_at,
        }
        for record in await s.leases.live_nodes()
    ]
    return json(request, {"store": s.store_kind, "nodes": nodes})


async def code_zip(request: Request) -> Response:
    digest = request.path_params["digest"]
    data = await services(request).functions.code_zip(digest) if _DIGEST.match(digest) else None
    if data is None:
        raise ResourceNotFound(f"Code not found: {digest}")
    return Response(data, 200, media_type="application/zip")


async def storage(request: Request) -> Response:
    """Bytes the node stores by kind (code, unpacked code, logs, events, queues, database, WAL),
    per function and per queue."""
    return json(request, await services(request).storage.report())


routes = [
    Route(V1 + "/functions/{name}/logs", function_logs, methods=["GET"]),
    Route(V1 + "/functions/{name}/logs/recent", recent_logs, methods=["GET"]),
    Route(QUEUE, queue_stats, methods=["GET"]),
    Route(QUEUE + "/events", list_events, methods=["GET"]),
    Route(QUEUE + "/events", purge, methods=["DELETE"]),
    Route(QUEUE + "/pause", pause, methods=["POST"]),
    Route(QUEUE + "/resume", resume, methods=["POST"]),
    Route(V1 + "/stats", stats, methods=["GET"]),
    Route(V1 + "/stream", stream, methods=["GET"]),
    Route(V1 + "/node", node_info, methods=["GET"]),
    Route(V1 + "/cluster", cluster, methods=["GET"]),
    Route(V1 + "/code/{digest}", code_zip, methods=["GET"]),
    Route(V1 + "/storage", storage, methods=["GET"]),
]
