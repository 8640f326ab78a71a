"""Small helpers every route uses: decode a shape, answer JSON, page a list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from lamina.api.errors import request_id
from lamina.errors import InvalidParameterValue, InvalidRequestContent, ValidationError

T = TypeVar("T")

#: Largest page ListFunctions / ListVersionsByFunction return.
MAX_PAGE_ITEMS = 50


async def parse(request: Request, shape: type[T]) -> T:
    """Decode the JSON body into `shape`; a malformed body is InvalidRequestContent."""
    body = await request.body()
    try:
        return msgspec.json.decode(body or b"{}", type=shape)
    except msgspec.ValidationError as exc:
        raise ValidationError(f"1 validation error detected: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc


def json(request: Request, body: Any, status: int = 200) -> Response:
    return Response(
        msgspec.json.encode(body),
        status,
        {"x-amzn-RequestId": request_id(request)},
        media_type="application/json",
    )


def empty(request: Request, status: int = 204) -> Response:
    return Response(b"", status, {"x-amzn-RequestId": request_id(request)})


def page(
    request: Request, items: Sequence[T], limit: int = MAX_PAGE_ITEMS
) -> tuple[list[T], str | None]:
    """Items from `?Marker` (an index), at most `?MaxItems` (≤ `limit`), and the next marker."""
    marker = request.query_params.get("Marker") or "0"
    raw_max = request.query_params.get("MaxItems")
    try:
        start = int(marker)
        size = min(int(raw_max), limit) if raw_max else limit
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid Marker or MaxItems: {exc}") from exc
    if size < 1 or start < 0:
        raise InvalidParameterValue("MaxItems must be between 1 and 10000")
    chunk = list(items[start : start + size])
    nxt = str(start + size) if start + size < len(items) else None
    return chunk, nxt


def paged_json(
    request: Request, key: str, items: Sequence[T], render: Callable[[T], Any]
) -> Response:
    """A page of `items` under `key`, rendered, with `NextMarker` when more remain."""
    chunk, nxt = page(request, items)
    out: dict[str, Any] = {key: [render(item) for item in chunk]}
    if nxt:
        out["NextMarker"] = nxt
    return json(request, out)
