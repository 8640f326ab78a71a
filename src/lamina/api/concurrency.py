"""Account settings (and, with the concurrency issue, reserved and provisioned concurrency)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api import shapes
from lamina.api.deps import path_name, services
from lamina.api.http import empty, json, parse
from lamina.control.code import MAX_UNZIPPED_BYTES, MAX_ZIP_BYTES
from lamina.control.models import LATEST
from lamina.control.validate import check_range
from lamina.errors import InvalidParameterValue

#: Code storage limit per region, as on AWS.
TOTAL_CODE_SIZE_BYTES = 80_530_636_800


async def get_account_settings(request: Request) -> Response:
    s = services(request)
    metas = await s.functions.records.all_meta()
    versions = await s.functions.list_all_versions()
    reserved = sum(m.reserved_concurrency or 0 for m in metas)
    limit = s.settings.account_concurrency
    return json(
        request,
        {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_SIZE_BYTES,
                "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                "CodeSizeZipped": MAX_ZIP_BYTES,
                "ConcurrentExecutions": limit,
                "UnreservedConcurrentExecutions": limit - reserved,
            },
            "AccountUsage": {
                "TotalCodeSize": sum(v.code_size for v in versions),
                "FunctionCount": len(metas),
            },
        },
    )


async def put_function_concurrency(request: Request) -> Response:
    req = await parse(request, shapes.PutFunctionConcurrencyRequest)
    s = services(request)
    name, qualifier = path_name(request)
    if qualifier is not None:  # recorded AWS answer (issue 13, item 1)
        raise InvalidParameterValue(
            "This operation is permitted on Lambda functions only. Aliases and versions do not"
            " support this operation. Please specify either a function name or an unqualified"
            " function ARN."
        )
    value = req.reserved_concurrent_executions
    check_range(value, "reservedConcurrentExecutions", 0, 2**31 - 1)
    async with s.functions.lock(name):
        if await s.functions.records.meta(name) is None:
            raise s.functions.not_found(name, LATEST)  # AWS names $LATEST here (recorded)
        others = sum(
            m.reserved_concurrency or 0
            for m in await s.functions.records.all_meta()
            if m.name != name
        )
        provisioned = sum(c.requested for c in await s.provisioned.all(name))
        if value < provisioned:
            raise InvalidParameterValue(
                f"Specified ReservedConcurrentExecutions for function is less than the function's"
                f" provisioned concurrency [{provisioned}]."
            )
        minimum = s.settings.unreserved_floor
        if s.settings.account_concurrency - others - value < minimum:
            raise InvalidParameterValue(
                "Specified ReservedConcurrentExecutions for function decreases account's"
                f" UnreservedConcurrentExecution below its minimum value of [{minimum}]."
            )
    await s.functions.set_reserved_concurrency(name, value)
    return json(request, {"ReservedConcurrentExecutions": value})


async def get_function_concurrency(request: Request) -> Response:
    name, _ = path_name(request)
    meta, _raw = await services(request).functions.meta(name)
    if meta.reserved_concurrency is None:
        return json(request, {})
    return json(request, {"ReservedConcurrentExecutions": meta.reserved_concurrency})


async def delete_function_concurrency(request: Request) -> Response:
    name, _ = path_name(request)
    await services(request).functions.set_reserved_concurrency(name, None)
    return empty(request, 204)


routes = [
    Route("/2017-10-31/functions/{name}/concurrency", put_function_concurrency, methods=["PUT"]),
    Route(
        "/2017-10-31/functions/{name}/concurrency", delete_function_concurrency, methods=["DELETE"]
    ),
    Route("/2019-09-30/functions/{name}/concurrency", get_function_concurrency, methods=["GET"]),
    Route("/2016-08-19/account-settings", get_account_settings, methods=["GET"]),
    Route("/2016-08-19/account-settings/", get_account_settings, methods=["GET"]),
]
