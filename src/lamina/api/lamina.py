"""/lamina/v1: what AWS lacks — function logs (with follow), and later queue and stats views."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from lamina.api.deps import node
from lamina.api.http import json
from lamina.errors import InvalidParameterValue
from lamina.store.base import LogEvent

#: Longest a follow request waits between checks for new lines.
FOLLOW_POLL_S = 1.0


def _event(e: LogEvent) -> dict[str, object]:
    return {"id": e.event_id, "timestamp": e.timestamp_ms, "stream": e.stream, "message": e.message}


def _int_param(request: Request, key: str, default: int) -> int:
    try:
        return int(request.query_params.get(key, default))
    except ValueError as exc:
        raise InvalidParameterValue(f"{key} must be an integer") from exc


async def function_logs(request: Request) -> Response:
    """Log lines of a function: `?after=<id>&limit=N&start=<ms>`; `?follow=1` streams NDJSON."""
    n = node(request)
    name, _ = n.arns.split_name(request.path_params["name"])
    group = f"/aws/lambda/{name}"
    after = _int_param(request, "after", 0)
    limit = min(_int_param(request, "limit", 1000), 10_000)
    start = _int_param(request, "start", 0)
    if request.query_params.get("follow") not in (None, "", "0", "false"):
        return StreamingResponse(
            _follow(request, group, after, start), media_type="application/x-ndjson"
        )
    await n.logs.flush()
    events = await n.store.read_logs(group, after_id=after, start_ms=start, limit=limit)
    return json(
        request,
        {"events": [_event(e) for e in events], "next": events[-1].event_id if events else after},
    )


async def _follow(request: Request, group: str, after: int, start: int) -> AsyncIterator[bytes]:
    n = node(request)
    while not await request.is_disconnected():
        events = await n.store.read_logs(group, after_id=after, start_ms=start, limit=1000)
        for e in events:
            yield msgspec.json.encode(_event(e)) + b"\n"
        if events:
            after = events[-1].event_id
        else:
            await n.logs.wait_new(FOLLOW_POLL_S)


async def storage(request: Request) -> Response:
    """Bytes the node stores by kind (code, unpacked code, logs, events, queues, database, WAL),
    per function and per queue."""
    return json(request, await node(request).storage.report())


routes = [
    Route("/lamina/v1/functions/{name}/logs", function_logs, methods=["GET"]),
    Route("/lamina/v1/storage", storage, methods=["GET"]),
]
