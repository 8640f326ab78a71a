"""Operational routes: `/health` (readiness) and `/metrics` (Prometheus, from one snapshot)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lamina import __version__
from lamina.api.deps import services
from lamina.engine.metrics import exposition


async def health(request: Request) -> Response:
    store = services(request).store_kind
    return JSONResponse({"status": "ok", "version": __version__, "store": store})


async def metrics(request: Request) -> Response:
    # the text is rendered on the loop: a few ms at most, from the snapshot's frozen records
    body = exposition(await services(request).snapshots.take())
    return Response(body, 200, media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
