"""Operational routes: /health and the code download URL GetFunction hands out."""

from __future__ import annotations

import os
import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lamina import __version__
from lamina.api.deps import node
from lamina.errors import ResourceNotFound

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


async def health(request: Request) -> Response:
    n = node(request)
    return JSONResponse({"status": "ok", "version": __version__, "store": n.store_kind})


async def node_info(request: Request) -> Response:
    n = node(request)
    return JSONResponse(
        {
            "pid": os.getpid(),
            "version": __version__,
            "store": n.store_kind,
            "endpoint": n.settings.endpoint_url,
            "memory_budget_mb": n.pool.memory_budget_mb,
            "memory_in_use_mb": n.pool.memory_in_use_mb,
            "evictions": n.pool.evictions,
        }
    )


async def code_zip(request: Request) -> Response:
    digest = request.path_params["digest"]
    data = await node(request).store.get_blob(digest) if _DIGEST.match(digest) else None
    if data is None:
        raise ResourceNotFound(f"Code not found: {digest}")
    return Response(data, 200, media_type="application/zip")


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/lamina/v1/code/{digest}", code_zip, methods=["GET"]),
    Route("/lamina/v1/node", node_info, methods=["GET"]),
]
