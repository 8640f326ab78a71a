"""Put/GetFunctionRecursionConfig: RecursiveLoop Allow or Terminate (control/recursion.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api.deps import services
from lamina.api.http import json
from lamina.errors import InvalidParameterValue, InvalidRequestContent

P = "/2024-08-31/functions/{name}/recursion-config"


async def put_function_recursion_config(request: Request) -> Response:
    s = services(request)
    name, _ = s.arns.split_name(request.path_params["name"])
    try:
        body: Any = await request.json()
    except ValueError as exc:
        raise InvalidRequestContent("Could not parse request body into json") from exc
    loop = body.get("RecursiveLoop") if isinstance(body, dict) else None
    if not isinstance(loop, str):
        raise InvalidParameterValue("RecursiveLoop is required: Allow or Terminate.")
    return json(request, {"RecursiveLoop": await s.recursion_configs.put(name, loop)})


async def get_function_recursion_config(request: Request) -> Response:
    s = services(request)
    name, _ = s.arns.split_name(request.path_params["name"])
    return json(request, {"RecursiveLoop": await s.recursion_configs.get(name)})


routes = [
    Route(P, put_function_recursion_config, methods=["PUT"]),
    Route(P, get_function_recursion_config, methods=["GET"]),
]
