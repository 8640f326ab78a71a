"""Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api import shapes
from lamina.api.deps import path_name, services
from lamina.api.http import empty, json, paged_json, parse
from lamina.control.event_config import EventInvokeConfig
from lamina.control.models import LATEST
from lamina.errors import InvalidParameterValue

P = "/2019-09-25/functions/{name}/event-invoke-config"


def render(request: Request, cfg: EventInvokeConfig) -> dict[str, Any]:
    arns = services(request).arns
    out: dict[str, Any] = {
        "LastModified": cfg.last_modified,
        "FunctionArn": arns.function(cfg.function, cfg.qualifier),
        "DestinationConfig": {
            "OnSuccess": {"Destination": cfg.on_success} if cfg.on_success else {},
            "OnFailure": {"Destination": cfg.on_failure} if cfg.on_failure else {},
        },
    }
    if cfg.max_retry_attempts is not None:
        out["MaximumRetryAttempts"] = cfg.max_retry_attempts
    if cfg.max_event_age_s is not None:
        out["MaximumEventAgeInSeconds"] = cfg.max_event_age_s
    return out


async def _write(request: Request, merge: bool) -> Response:
    req = await parse(request, shapes.EventInvokeConfigRequest)
    name, qualifier = path_name(request)
    dest = req.destination_config
    if (
        req.maximum_retry_attempts is None
        and req.maximum_event_age_in_seconds is None
        and not (dest and (dest.on_success or dest.on_failure))
    ):
        raise InvalidParameterValue(
            "You must specify at least one of error handling or destination setting."
        )
    cfg = EventInvokeConfig(
        function=name,
        qualifier=qualifier or LATEST,
        max_retry_attempts=req.maximum_retry_attempts,
        max_event_age_s=req.maximum_event_age_in_seconds,
        on_success=(dest.on_success.destination or None) if dest and dest.on_success else None,
        on_failure=(dest.on_failure.destination or None) if dest and dest.on_failure else None,
    )
    saved = await services(request).event_configs.put(cfg, merge=merge)
    return json(request, render(request, saved))


async def put_config(request: Request) -> Response:
    return await _write(request, merge=False)


async def update_config(request: Request) -> Response:
    return await _write(request, merge=True)


async def get_config(request: Request) -> Response:
    name, qualifier = path_name(request)
    cfg = await services(request).event_configs.get(name, qualifier or LATEST)
    return json(request, render(request, cfg))


async def delete_config(request: Request) -> Response:
    name, qualifier = path_name(request)
    await services(request).event_configs.delete(name, qualifier or LATEST)
    return empty(request, 204)


async def list_configs(request: Request) -> Response:
    name, _ = path_name(request)
    found = await services(request).event_configs.list(name)
    return paged_json(request, "FunctionEventInvokeConfigs", found, lambda c: render(request, c))


routes = [
    Route(P, put_config, methods=["PUT"]),
    Route(P, update_config, methods=["POST"]),
    Route(P, get_config, methods=["GET"]),
    Route(P, delete_config, methods=["DELETE"]),
    Route(P + "/list", list_configs, methods=["GET"]),
]
