"""The Starlette app: the route table, the error handlers and the lifespan bound to the node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from lamina.api import (
    aliases,
    async_queue,
    code_signing,
    concurrency,
    event_config,
    functions,
    invoke,
    lamina,
    mappings,
    ops,
    permissions,
    provisioned,
    sqs,
    tags,
    telemetry,
)
from lamina.api.errors import (
    handle_aws_error,
    handle_http_error,
    handle_store_error,
    handle_unexpected,
)
from lamina.errors import AwsError, StoreError

if TYPE_CHECKING:
    from lamina.node import Node


def build_app(node: Node) -> Starlette:
    """An ASGI app serving every API of `node`; its lifespan starts and stops the node."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.start()
        try:
            yield
        finally:
            await node.stop()

    routes: list[BaseRoute] = [
        *invoke.routes,  # first: the hot path should not walk the whole table
        *ops.routes,
        *functions.routes,
        *aliases.routes,
        *tags.routes,
        *permissions.routes,
        *code_signing.routes,
        *concurrency.routes,
        *provisioned.routes,
        *lamina.routes,
        *event_config.routes,
        *async_queue.routes,
        *mappings.routes,
        *sqs.routes,
        *telemetry.routes,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            AwsError: handle_aws_error,
            HTTPException: handle_http_error,
            StoreError: handle_store_error,
            Exception: handle_unexpected,
        },
    )
    app.state.node = node
    return app
