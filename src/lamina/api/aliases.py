"""Alias CRUD with RoutingConfig."""

from __future__ import annotations

from msgspec import UNSET
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api import shapes
from lamina.api.deps import path_name, services
from lamina.api.http import empty, json, paged_json, parse
from lamina.control import validate
from lamina.control.models import alias_configuration

P = "/2015-03-31/functions/{name}/aliases"


async def create_alias(request: Request) -> Response:
    req = await parse(request, shapes.CreateAliasRequest)
    name, _ = path_name(request)
    validate.check_description(req.description)
    weights = req.routing_config.additional_version_weights if req.routing_config else None
    alias = await services(request).aliases.create(
        name, req.name, req.function_version, req.description, weights
    )
    return json(request, alias_configuration(alias), 201)


async def get_alias(request: Request) -> Response:
    name, _ = path_name(request)
    alias = await services(request).aliases.get(name, request.path_params["alias"])
    return json(request, alias_configuration(alias))


async def update_alias(request: Request) -> Response:
    req = await parse(request, shapes.UpdateAliasRequest)
    name, _ = path_name(request)
    if req.description is not None:
        validate.check_description(req.description)
    given = req.routing_config is not UNSET
    weights = req.routing_config.additional_version_weights if given else None  # type: ignore[union-attr]
    alias = await services(request).aliases.update(
        name,
        request.path_params["alias"],
        version=req.function_version,
        description=req.description,
        weights=weights,
        weights_given=given,
        revision_id=req.revision_id,
    )
    return json(request, alias_configuration(alias))


async def delete_alias(request: Request) -> Response:
    name, _ = path_name(request)
    await services(request).aliases.delete(name, request.path_params["alias"])
    return empty(request, 204)


async def list_aliases(request: Request) -> Response:
    name, _ = path_name(request)
    found = await services(request).aliases.list(name, request.query_params.get("FunctionVersion"))
    return paged_json(request, "Aliases", found, alias_configuration)


routes = [
    Route(P, create_alias, methods=["POST"]),
    Route(P, list_aliases, methods=["GET"]),
    Route(P + "/{alias}", get_alias, methods=["GET"]),
    Route(P + "/{alias}", update_alias, methods=["PUT"]),
    Route(P + "/{alias}", delete_alias, methods=["DELETE"]),
]
