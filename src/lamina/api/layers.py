"""PublishLayerVersion, GetLayerVersion(ByArn), ListLayers, ListLayerVersions, DeleteLayerVersion,
and the layer version policy (Add/RemoveLayerVersionPermission, GetLayerVersionPolicy).

Content arrives as `Content.ZipFile` only: an S3 location is refused with
InvalidParameterValueException, as CreateFunction refuses one (Lamina has no S3). The zip is
checked as function code is, and `Content.Location` serves it from this node.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api import shapes
from lamina.api.deps import services
from lamina.api.http import empty, json, paged_json, parse
from lamina.api.services import Services
from lamina.control import validate
from lamina.control.code import checked_zip
from lamina.control.layers import NewLayerVersion
from lamina.control.models import LayerVersion, layer_version_detail, layer_version_summary
from lamina.errors import InvalidParameterValue, ValidationError

P = "/2018-10-31/layers"

#: Every runtime name AWS knows, as its ListLayers `CompatibleRuntime` check lists them
#: (recorded answer); AWS accepts any of them in `CompatibleRuntimes`, deprecated ones included.
KNOWN_RUNTIMES = (
    "ruby3.5, ruby2.6, dotnetcore1.0, python3.7, nodejs8.10, nasa, ruby2.7, python2.7-greengrass,"
    " dotnetcore2.0, python3.8, java21, dotnet6, dotnetcore2.1, python3.9, java11, nodejs6.10,"
    " provided, dotnetcore3.1, dotnet8, java25, java17, nodejs, nodejs4.3, java8.al2, go1.x,"
    " dotnet10, nodejs20.x, go1.9, byol, nodejs10.x, provided.al2023, nodejs22.x, python3.10,"
    " java8, nodejs12.x, python3.11, nodejs24.x, nodejs8.x, python3.12, nodejs14.x, nodejs8.9,"
    " nodejs26.x, python3.13, python3.14, nodejs16.x, python3.15, provided.al2, nodejs4.3-edge,"
    " nodejs18.x, ruby3.2, python3.4, ruby3.3, ruby3.4, ruby2.5, python3.6, python2.7"
)
#: The runtimes PublishLayerVersion's message lists (recorded answer).
PUBLISHABLE_RUNTIMES = (
    "nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x,"
    " java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9,"
    " java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2"
)
_KNOWN = frozenset(KNOWN_RUNTIMES.split(", "))


def _location(s: Services, lv: LayerVersion) -> str:
    return f"{s.settings.public_base}/lamina/v1/code/{lv.code_digest}"


def _version_number(request: Request) -> int:
    raw = request.path_params["version"]
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameterValue(f"Invalid layer version number: {raw}") from None


def _check_runtimes(runtimes: list[str]) -> None:
    if any(r not in _KNOWN for r in runtimes):
        raise ValidationError(
            f"1 validation error detected: Value '[{', '.join(runtimes)}]' at"
            " 'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value"
            f" set: [{PUBLISHABLE_RUNTIMES}]"
        )


def _filters(request: Request) -> tuple[str | None, str | None]:
    """`?CompatibleRuntime` and `?CompatibleArchitecture` (the model checks the second)."""
    runtime = request.query_params.get("CompatibleRuntime") or None
    if runtime is not None and runtime not in _KNOWN:
        raise ValidationError(
            f"1 validation error detected: Value '{runtime}' at 'compatibleRuntime' failed to"
            f" satisfy constraint: Member must satisfy enum value set: [{KNOWN_RUNTIMES}]"
        )
    return runtime, request.query_params.get("CompatibleArchitecture") or None


async def publish_layer_version(request: Request) -> Response:
    req = await parse(request, shapes.PublishLayerVersionRequest)
    s = services(request)
    name = s.layers.layer_name(request.path_params["name"])
    if req.compatible_runtimes is not None:
        _check_runtimes(req.compatible_runtimes)
    validate.check_description(req.description)
    if req.content.zip_file is None:
        what = "S3 content locations are" if req.content.s3_bucket else "empty content is"
        raise InvalidParameterValue(f"Lamina accepts Content.ZipFile only ({what} not supported)")
    code = await checked_zip(req.content.zip_file)
    published = await s.layers.publish(
        NewLayerVersion(
            name=name,
            code=code,
            description=req.description,
            license_info=req.license_info,
            compatible_runtimes=req.compatible_runtimes,
            compatible_architectures=req.compatible_architectures,
        )
    )
    return json(request, layer_version_detail(published, _location(s, published)), 201)


async def get_layer_version(request: Request) -> Response:
    s = services(request)
    name = s.layers.layer_name(request.path_params["name"])
    found = await s.layers.get(name, _version_number(request))
    return json(request, layer_version_detail(found, _location(s, found)))


async def delete_layer_version(request: Request) -> Response:
    s = services(request)
    name = s.layers.layer_name(request.path_params["name"])
    await s.layers.delete(name, _version_number(request))
    return empty(request, 204)


async def list_layer_versions(request: Request) -> Response:
    s = services(request)
    name = s.layers.layer_name(request.path_params["name"])
    runtime, architecture = _filters(request)
    found = await s.layers.versions(name, runtime, architecture)
    return paged_json(request, "LayerVersions", found, layer_version_summary)


def _listed_layer(lv: LayerVersion) -> dict[str, Any]:
    return {
        "LayerName": lv.name,
        "LayerArn": lv.layer_arn,
        "LatestMatchingVersion": layer_version_summary(lv),
    }


async def list_layers_or_find(request: Request) -> Response:
    """ListLayers, or GetLayerVersionByArn (the same path with `?find=LayerVersion`)."""
    s = services(request)
    if request.query_params.get("find") == "LayerVersion":
        found = await s.layers.get_by_arn(request.query_params.get("Arn", ""))
        return json(request, layer_version_detail(found, _location(s, found)))
    runtime, architecture = _filters(request)
    newest = await s.layers.latest_matching(runtime, architecture)
    return paged_json(request, "Layers", newest, _listed_layer)


class AddLayerVersionPermissionRequest(shapes.Shape):
    statement_id: str
    action: str
    principal: str
    organization_id: str | None = None


async def add_permission(request: Request) -> Response:
    req = await parse(request, AddLayerVersionPermissionRequest)
    s = services(request)
    name = s.layers.layer_name(request.path_params["name"])
    statement, revision = await s.layer_policies.add(
        name,
        _version_number(request),
        statement_id=req.statement_id,
        action=req.action,
        principal=req.principal,
        organization_id=req.organization_id,
        revision_id=request.query_params.get("RevisionId"),
    )
    body = {"Statement": msgspec.json.encode(statement).decode(), "RevisionId": revision}
    return json(request, body, 201)


async def get_policy(request: Request) -> Response:
    s = services(request)
    name = s.layers.layer_name(request.path_params["name"])
    policy, revision = await s.layer_policies.get(name, _version_number(request))
    return json(request, {"Policy": policy, "RevisionId": revision})


async def remove_permission(request: Request) -> Response:
    s = services(request)
    name = s.layers.layer_name(request.path_params["name"])
    await s.layer_policies.remove(
        name,
        _version_number(request),
        request.path_params["sid"],
        request.query_params.get("RevisionId"),
    )
    return empty(request, 204)


routes = [
    Route(P, list_layers_or_find, methods=["GET"]),
    Route(P + "/", list_layers_or_find, methods=["GET"]),
    Route(P + "/{name}/versions", publish_layer_version, methods=["POST"]),
    Route(P + "/{name}/versions", list_layer_versions, methods=["GET"]),
    Route(P + "/{name}/versions/{version}", get_layer_version, methods=["GET"]),
    Route(P + "/{name}/versions/{version}", delete_layer_version, methods=["DELETE"]),
    Route(P + "/{name}/versions/{version}/policy", add_permission, methods=["POST"]),
    Route(P + "/{name}/versions/{version}/policy", get_policy, methods=["GET"]),
    Route(P + "/{name}/versions/{version}/policy/{sid}", remove_permission, methods=["DELETE"]),
]
