"""Account settings (and, with the concurrency issue, reserved and provisioned concurrency)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api.deps import node
from lamina.api.http import json
from lamina.control.code import MAX_UNZIPPED_BYTES, MAX_ZIP_BYTES

#: Code storage limit per region, as on AWS.
TOTAL_CODE_SIZE_BYTES = 80_530_636_800


async def get_account_settings(request: Request) -> Response:
    n = node(request)
    metas = await n.functions.records.all_meta()
    versions = await n.functions.list_all_versions()
    reserved = sum(m.reserved_concurrency or 0 for m in metas)
    limit = n.settings.account_concurrency
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


routes = [
    Route("/2016-08-19/account-settings", get_account_settings, methods=["GET"]),
    Route("/2016-08-19/account-settings/", get_account_settings, methods=["GET"]),
]
