"""The Starlette app: the route table, the error handlers and a lifespan bound to the node.

`build_app` gets the services routes may call (api/services.py) and something to start and
stop — the node, seen only as that. Each api module exports a `routes` list whose handlers
reach their services with `services(request)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from lamina.api import (
    aliases,
    code_signing,
    concurrency,
    event_config,
    functions,
    invoke,
    lamina,
    layers,
    logs,
    mappings,
    ops,
    permissions,
    provisioned,
    recursion,
    sqs,
    tags,
    ui,
)
from lamina.api.errors import (
    handle_aws_error,
    handle_http_error,
    handle_store_error,
    handle_unexpected,
)
from lamina.api.guard import Guard
from lamina.api.hot import HotLane
from lamina.api.services import Services
from lamina.errors import AwsError, StoreError


class Lifecycle(Protocol):
    """What the app's lifespan starts before serving and stops after."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def build_app(services: Services, lifecycle: Lifecycle) -> Starlette:
    """An ASGI app serving every API over `services`; its lifespan starts and stops
    `lifecycle`."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await lifecycle.start()
        try:
            yield
        finally:
            await lifecycle.stop()

    routes: list[BaseRoute] = [
        *invoke.routes,  # first: the hot path should not walk the whole table
        *ops.routes,
        *functions.routes,
        *aliases.routes,
        *layers.routes,
        *tags.routes,
        *permissions.routes,
        *code_signing.routes,
        *concurrency.routes,
        *provisioned.routes,
        *event_config.routes,
        *recursion.routes,
        *mappings.routes,
        *logs.routes,  # before sqs: both serve POST /, told apart by X-Amz-Target
        *sqs.routes,
        *lamina.routes,
        *ui.routes,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        # origin, size, SigV4; then Invoke straight to the hot lane, the rest to the routes
        middleware=[Middleware(Guard, settings=services.settings, hot=HotLane(services))],
        exception_handlers={
            AwsError: handle_aws_error,
            HTTPException: handle_http_error,
            StoreError: handle_store_error,
            Exception: handle_unexpected,
        },
    )
    app.state.services = services
    return app
