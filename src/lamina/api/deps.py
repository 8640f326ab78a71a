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
    return split_function(
        services(request), request.path_params["name"], request.query_params.get("Qualifier")
    )


def split_function(s: Services, raw_name: str, query: str | None) -> tuple[str, str | None]:
    """(name, qualifier) from a FunctionName path segment and the `Qualifier` query value."""
    name, qualifier = s.arns.split_name(raw_name)
    if query and qualifier and query != qualifier:
        raise InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return name, query or qualifier
