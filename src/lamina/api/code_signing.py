"""GetFunctionCodeSigningConfig: Lamina has no code signing, so no function has a config.

Deploy tools read it after creating a function (Terraform's `aws_lambda_function` does, and
fails on an error), so it answers as AWS does for a function without one: an empty object.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api.deps import services
from lamina.api.http import json


async def get_function_code_signing_config(request: Request) -> Response:
    s = services(request)
    name, _ = s.arns.split_name(request.path_params["name"])
    await s.functions.meta(name)  # ResourceNotFoundException for an unknown function
    return json(request, {})


routes = [
    Route(
        "/2020-06-30/functions/{name}/code-signing-config",
        get_function_code_signing_config,
        methods=["GET"],
    ),
]
