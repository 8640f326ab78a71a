"""The dashboard: `GET /ui` (server-rendered HTML) and its script.

The page then follows `GET /lamina/v1/stream` (server-sent events, one stats snapshot every
half second) and reads `/lamina/v1/functions/{name}/logs/recent` for its "recent invocations"
panel; both live in api/lamina.py. Everything is same-origin and offline: no build step, no
CDN; the chart is plain SVG drawn by `ui/dashboard.js`.
"""

from __future__ import annotations

import html
from importlib.resources import files
from string import Template
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from lamina.api.deps import services
from lamina.api.stats_view import snapshot_json

_ASSETS = files("lamina.ui")
_PAGE = Template(_ASSETS.joinpath("dashboard.html").read_text(encoding="utf-8"))
_SCRIPT = _ASSETS.joinpath("dashboard.js").read_text(encoding="utf-8")
#: Table columns: (class, heading).
COLUMNS = (
    ("name", "function"),
    ("running", "running / limit"),
    ("reserved", "reserved"),
    ("provisioned", "provisioned"),
    ("inv", "inv/s"),
    ("err", "errors/s"),
    ("thr", "throttles/s"),
    ("p50", "p50 ms"),
    ("p99", "p99 ms"),
    ("depth", "queue"),
    ("age", "oldest"),
    ("state", "queue state"),
    ("actions", ""),
)


def _cell(value: Any) -> str:
    return "-" if value is None else html.escape(str(value))


def _row(name: str, fn: dict[str, Any]) -> str:
    prov = fn["provisioned"]["ready"] + fn["provisioned"]["busy"]
    age = fn["queue_oldest_age_s"]
    values = {
        "name": _cell(name),
        "running": f"{fn['running']} / {_cell(fn['limit'])}",
        "reserved": _cell(fn["reserved"]),
        "provisioned": _cell(prov or None),
        "inv": "0.0",
        "err": "0.0",
        "thr": "0.0",
        "p50": _cell(fn["duration_p50_ms"]),
        "p99": _cell(fn["duration_p99_ms"]),
        "depth": str(fn["queue_depth"]),
        "age": f"{age:.1f} s" if age is not None else "-",
        "state": "paused" if fn["queue_paused"] else "running",
        "actions": '<button data-action="pause">Pause</button>'
        '<button data-action="resume">Resume</button>'
        '<button data-action="purge">Purge</button>',
    }
    cells = "".join(f'<td class="{key}">{values[key]}</td>' for key, _ in COLUMNS)
    return f'<tr data-function="{html.escape(name)}">{cells}</tr>'


async def page(request: Request) -> Response:
    snap = snapshot_json(await services(request).snapshots.take())
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


routes = [
    Route("/ui", page, methods=["GET"]),
    Route("/ui/dashboard.js", script, methods=["GET"]),
]
