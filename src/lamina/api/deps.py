"""How a route reaches the services it calls (never the node itself)."""

from __future__ import annotations

from starlette.requests import Request

from lamina.api.services import Services
from lamina.errors import InvalidParameterValue


def services(request: Request) -> Services:
    """The services the app was built with (`build_app`)."""
    found: Services = request.app.state.services
    return found


def path_name(request: Request) -> tuple[str, str | None]:
    """(name, qualifier) from the `{name}` path parameter and `?Qualifier`."""
    name, qualifier = services(request).arns.split_name(request.path_params["name"])
    query = request.query_params.get("Qualifier")
    if query and qualifier and query != qualifier:
        raise InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    if query:
        qualifier = query
    return name, qualifier
