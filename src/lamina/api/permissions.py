"""AddPermission, RemovePermission and GetPolicy: a function's resource-based policy.

Stored and returned as AWS does; not enforced until authentication exists.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api.deps import services
from lamina.api.http import empty, json, parse
from lamina.control.permissions import Grant, PermissionService, statement_json

P = "/2015-03-31/functions/{name}/policy"


class AddPermissionRequest(msgspec.Struct, rename="pascal", forbid_unknown_fields=False):
    statement_id: str
    action: str
    principal: str
    source_arn: str | None = None
    source_account: str | None = None
    event_source_token: str | None = None
    revision_id: str | None = None
    principal_org_id: str | None = msgspec.field(default=None, name="PrincipalOrgID")
    function_url_auth_type: str | None = None


def _target(request: Request) -> tuple[str, str | None]:
    """(name, qualifier) from the path and `?Qualifier`, which must agree."""
    name, from_name = services(request).arns.split_name(request.path_params["name"])
    query = request.query_params.get("Qualifier")
    return name, PermissionService.qualifier(from_name, query)


async def add_permission(request: Request) -> Response:
    req = await parse(request, AddPermissionRequest)
    name, qualifier = _target(request)
    grant = Grant(
        sid=req.statement_id,
        action=req.action,
        principal=req.principal,
        source_arn=req.source_arn,
        source_account=req.source_account,
        principal_org_id=req.principal_org_id,
        event_source_token=req.event_source_token,
        function_url_auth_type=req.function_url_auth_type,
    )
    statement = await services(request).permissions.add(name, qualifier, grant, req.revision_id)
    return json(request, {"Statement": statement_json(statement)}, 201)


async def remove_permission(request: Request) -> Response:
    name, qualifier = _target(request)
    sid = request.path_params["sid"]
    revision_id = request.query_params.get("RevisionId") or None
    await services(request).permissions.remove(name, qualifier, sid, revision_id)
    return empty(request, 204)


async def get_policy(request: Request) -> Response:
    name, qualifier = _target(request)
    policy, revision_id = await services(request).permissions.get(name, qualifier)
    return json(request, {"Policy": policy, "RevisionId": revision_id})


routes = [
    Route(P, add_permission, methods=["POST"]),
    Route(P, get_policy, methods=["GET"]),
    Route(P + "/{sid}", remove_permission, methods=["DELETE"]),
]
