"""TagResource, UntagResource and ListTags on function ARNs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api import shapes
from lamina.api.deps import services
from lamina.api.http import empty, json, parse
from lamina.control.arns import FULL_ARN_RE
from lamina.errors import InvalidParameterValue

P = "/2017-03-31/tags/{arn}"


def _function_name(request: Request) -> str:
    arn = request.path_params["arn"]
    m = FULL_ARN_RE.match(arn)
    if m and m["qualifier"]:
        raise InvalidParameterValue(
            "Tags on function aliases and versions are not supported. Please specify a function"
            " ARN."
        )
    if not m:
        raise InvalidParameterValue(f"Tags can be set on unqualified function ARNs only: {arn}")
    name, _ = services(request).arns.split_name(arn)
    return name


async def tag_resource(request: Request) -> Response:
    req = await parse(request, shapes.TagResourceRequest)
    await services(request).functions.set_tags(_function_name(request), req.tags, [])
    return empty(request, 204)


async def untag_resource(request: Request) -> Response:
    keys = request.query_params.getlist("tagKeys")
    await services(request).functions.set_tags(_function_name(request), {}, keys)
    return empty(request, 204)


async def list_tags(request: Request) -> Response:
    meta, _ = await services(request).functions.meta(_function_name(request))
    return json(request, {"Tags": dict(meta.tags)})


routes = [
    Route(P, tag_resource, methods=["POST"]),
    Route(P, untag_resource, methods=["DELETE"]),
    Route(P, list_tags, methods=["GET"]),
]
