"""Put/Get/Delete/ListProvisionedConcurrencyConfig(s): configs from the control plane, figures
(allocated, status) from the provisioner."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api import shapes
from lamina.api.deps import path_name, services
from lamina.api.http import empty, json, paged_json, parse
from lamina.api.services import Services
from lamina.clock import iso8601_ms
from lamina.control.provisioned import ProvisionedConfig

PATH = "/2019-09-30/functions/{name}/provisioned-concurrency"


async def render(s: Services, c: ProvisionedConfig, *, arn: bool = False) -> dict[str, Any]:
    figures = await s.provisioner.cluster_figures(c.function, c.qualifier, c.requested)
    allocated, status, reason = figures
    out: dict[str, Any] = {
        "RequestedProvisionedConcurrentExecutions": c.requested,
        "AvailableProvisionedConcurrentExecutions": allocated,
        "AllocatedProvisionedConcurrentExecutions": allocated,
        "Status": status,
        "LastModified": iso8601_ms(c.last_modified),
    }
    if reason:
        out["StatusReason"] = reason
    if arn:
        out["FunctionArn"] = s.arns.function(c.function, c.qualifier)
    return out


async def put_config(request: Request) -> Response:
    s = services(request)
    name, qualifier = path_name(request)
    req = await parse(request, shapes.PutProvisionedConcurrencyRequest)
    config = await s.provisioned.put(name, qualifier, req.provisioned_concurrent_executions)
    return json(request, await render(s, config), 202)


async def get_or_list(request: Request) -> Response:
    s = services(request)
    name, qualifier = path_name(request)
    if request.query_params.get("List") == "ALL":
        await s.functions.meta(name)
        configs = sorted(await s.provisioned.all(name), key=lambda c: c.qualifier)
        rendered = [await render(s, c, arn=True) for c in configs]
        return paged_json(request, "ProvisionedConcurrencyConfigs", rendered, lambda r: r)
    return json(request, await render(s, await s.provisioned.get(name, qualifier)))


async def delete_config(request: Request) -> Response:
    s = services(request)
    name, qualifier = path_name(request)
    await s.provisioned.delete(name, qualifier)
    return empty(request)


routes = [
    Route(PATH, put_config, methods=["PUT"]),
    Route(PATH, get_or_list, methods=["GET"]),
    Route(PATH, delete_config, methods=["DELETE"]),
]
