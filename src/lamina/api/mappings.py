"""Create/Get/Update/Delete/ListEventSourceMappings for queue sources."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api import shapes
from lamina.api.deps import services
from lamina.api.http import json, paged_json, parse
from lamina.control.mappings import Mapping
from lamina.errors import InvalidParameterValue

P = "/2015-03-31/event-source-mappings"


def render(request: Request, m: Mapping, state: str | None = None) -> dict[str, Any]:
    s = services(request)
    out: dict[str, Any] = {
        "UUID": m.uuid,
        "BatchSize": m.batch_size,
        "MaximumBatchingWindowInSeconds": m.batching_window_s,
        "EventSourceArn": m.source_arn,
        "FunctionArn": s.arns.function(m.function, m.qualifier),
        "LastModified": m.last_modified,
        "LastProcessingResult": m.last_result,
        "State": state or ("Enabled" if m.enabled else "Disabled"),
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": list(m.response_types),
        "EventSourceMappingArn": s.arns.mapping(m.uuid),
    }
    if m.maximum_concurrency is not None:
        out["ScalingConfig"] = {"MaximumConcurrency": m.maximum_concurrency}
    return out


def _apply(m: Mapping, req: shapes.EventSourceMappingRequest) -> Mapping:
    changes: dict[str, Any] = {}
    if req.batch_size is not None:
        changes["batch_size"] = req.batch_size
    if req.maximum_batching_window_in_seconds is not None:
        changes["batching_window_s"] = req.maximum_batching_window_in_seconds
    if req.scaling_config is not None:
        changes["maximum_concurrency"] = req.scaling_config.maximum_concurrency
    if req.function_response_types is not None:
        changes["response_types"] = list(req.function_response_types)
    if req.enabled is not None:
        changes["enabled"] = req.enabled
    return msgspec.structs.replace(m, **changes)


async def create_mapping(request: Request) -> Response:
    req = await parse(request, shapes.EventSourceMappingRequest)
    s = services(request)
    if not req.function_name or not req.event_source_arn:
        raise InvalidParameterValue("FunctionName and EventSourceArn are required")
    name, qualifier = s.arns.split_name(req.function_name)
    draft = Mapping(uuid="", function=name, qualifier=qualifier, source_arn=req.event_source_arn)
    created = await s.mappings.create(_apply(draft, req))
    return json(request, render(request, created, "Creating"), 202)


async def get_mapping(request: Request) -> Response:
    m = await services(request).mappings.get(request.path_params["uuid"])
    return json(request, render(request, m))


async def update_mapping(request: Request) -> Response:
    req = await parse(request, shapes.EventSourceMappingRequest)
    s = services(request)
    current = await s.mappings.get(request.path_params["uuid"])
    updated = _apply(current, req)
    if req.function_name:
        name, qualifier = s.arns.split_name(req.function_name)
        updated = msgspec.structs.replace(updated, function=name, qualifier=qualifier)
    saved = await s.mappings.update(updated)
    state = "Updating"
    if saved.enabled != current.enabled:
        state = "Enabling" if saved.enabled else "Disabling"
    return json(request, render(request, saved, state), 202)


async def delete_mapping(request: Request) -> Response:
    m = await services(request).mappings.delete(request.path_params["uuid"])
    return json(request, render(request, m, "Deleting"), 202)


async def list_mappings(request: Request) -> Response:
    s = services(request)
    found = await s.mappings.all()
    source = request.query_params.get("EventSourceArn")
    function = request.query_params.get("FunctionName")
    if source:
        found = [m for m in found if m.source_arn == source]
    if function:
        name, _ = s.arns.split_name(function)
        found = [m for m in found if m.function == name]
    found.sort(key=lambda m: m.last_modified)
    return paged_json(request, "EventSourceMappings", found, lambda m: render(request, m))


routes = [
    Route(P, create_mapping, methods=["POST"]),
    Route(P, list_mappings, methods=["GET"]),
    Route(P + "/", create_mapping, methods=["POST"]),
    Route(P + "/", list_mappings, methods=["GET"]),
    Route(P + "/{uuid}", get_mapping, methods=["GET"]),
    Route(P + "/{uuid}", update_mapping, methods=["PUT"]),
    Route(P + "/{uuid}", delete_mapping, methods=["DELETE"]),
]
