"""How a route reaches the node's services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from lamina.errors import InvalidParameterValue

if TYPE_CHECKING:
    from lamina.node import Node


def node(request: Request) -> Node:
    n: Node = request.app.state.node
    return n


def path_name(request: Request) -> tuple[str, str | None]:
    """(name, qualifier) from the `{name}` path parameter and `?Qualifier`."""
    n = node(request)
    name, qualifier = n.arns.split_name(request.path_params["name"])
    query = request.query_params.get("Qualifier")
    if query and qualifier and query != qualifier:
        raise InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    if query:
        qualifier = query
    return name, qualifier
