"""The dashboard: `GET /ui` (server-rendered HTML), its script, the live stream
`GET /lamina/v1/stream` (server-sent events, one JSON snapshot every half second) and the
recent log lines of a function for its "recent invocations" panel.

Everything is same-origin and offline: no build step, no CDN; the chart is plain SVG drawn by
`ui/dashboard.js`. The snapshot is the one `/lamina/v1/stats` answers (`engine/snapshot.py`).
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from importlib.resources import files
from string import Template
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from lamina.api.deps import node
from lamina.api.http import json
from lamina.engine.snapshot import Snapshots
from lamina.logs.service import LogService

#: Seconds between two snapshots on the live stream (the issue asks for at least one a second).
STREAM_INTERVAL_S = 0.5
#: Most log lines the recent-invocations panel asks for.
MAX_RECENT_LINES = 2000
_ASSETS = files("lamina.ui")
_PAGE = Template(_ASSETS.joinpath("dashboard.html").read_text(encoding="utf-8"))
_SCRIPT = _ASSETS.joinpath("dashboard.js").read_text(encoding="utf-8")
#: Table columns: (class, heading).
COLUMNS = (("name", "function"), ("running", "running / limit"), ("reserved", "reserved"),
           ("provisioned", "provisioned"), ("inv", "inv/s"), ("err", "errors/s"),
           ("thr", "throttles/s"), ("p50", "p50 ms"), ("p99", "p99 ms"), ("depth", "queue"),
           ("age", "oldest"), ("state", "queue state"), ("actions", ""))  # fmt: skip


def _services(request: Request) -> tuple[Snapshots, LogService]:
    """What this module needs from the node, taken in one place."""
    n = node(request)
    return n.snapshots, n.log_service


def _cell(value: Any) -> str:
    return "-" if value is None else html.escape(str(value))


def _row(name: str, fn: dict[str, Any]) -> str:
    prov = fn["provisioned"]["ready"] + fn["provisioned"]["busy"]
    age = fn["queue_oldest_age_s"]
    values = {
        "name": _cell(name), "running": f"{fn['running']} / {_cell(fn['limit'])}",
        "reserved": _cell(fn["reserved"]), "provisioned": _cell(prov or None), "inv": "0.0",
        "err": "0.0", "thr": "0.0", "p50": _cell(fn["duration_p50_ms"]),
        "p99": _cell(fn["duration_p99_ms"]), "depth": str(fn["queue_depth"]),
        "age": f"{age:.1f} s" if age is not None else "-",
        "state": "paused" if fn["queue_paused"] else "running",
        "actions": '<button data-action="pause">Pause</button>'
        '<button data-action="resume">Resume</button>'
        '<button data-action="purge">Purge</button>',
    }  # fmt: skip
    cells = "".join(f'<td class="{key}">{values[key]}</td>' for key, _ in COLUMNS)
    return f'<tr data-function="{html.escape(name)}">{cells}</tr>'


async def page(request: Request) -> Response:
    snapshots, _ = _services(request)
    snap = await snapshots.take()
    account = snap["account"]
    body = _PAGE.substitute(
        account=f"{account['in_use']} / {account['limit']} running · unreserved "
        f"{account['unreserved_in_use']} / {account['unreserved_limit']}",
        heads="".join(f'<th class="{key}">{title}</th>' for key, title in COLUMNS),
        rows="".join(_row(name, fn) for name, fn in snap["functions"].items()),
    )
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


async def script(request: Request) -> Response:
    return Response(_SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-store"})


async def stream(request: Request) -> Response:
    """Server-sent events: `data: <snapshot JSON>` every STREAM_INTERVAL_S."""
    snapshots, _ = _services(request)

    async def events() -> AsyncIterator[bytes]:
        yield b"retry: 1000\n\n"
        async for snap in snapshots.follow(STREAM_INTERVAL_S):
            yield b"data: " + msgspec.json.encode(snap) + b"\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def recent(request: Request) -> Response:
    """The newest log lines of a function (`?limit=`, at most MAX_RECENT_LINES)."""
    _, logs = _services(request)
    try:
        limit = min(max(int(request.query_params.get("limit", "500")), 1), MAX_RECENT_LINES)
    except ValueError:
        limit = 500
    events = await logs.recent(f"/aws/lambda/{request.path_params['name']}", limit)
    return json(request, {"events": [
        {"id": e.event_id, "timestamp": e.timestamp_ms, "stream": e.stream, "message": e.message}
        for e in events
    ]})  # fmt: skip


routes = [
    Route("/ui", page, methods=["GET"]),
    Route("/ui/dashboard.js", script, methods=["GET"]),
    Route("/lamina/v1/stream", stream, methods=["GET"]),
    Route("/lamina/v1/functions/{name}/logs/recent", recent, methods=["GET"]),
]
