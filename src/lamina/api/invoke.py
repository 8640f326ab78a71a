"""Invoke (RequestResponse, Event, DryRun; LogType Tail) and the legacy InvokeAsync."""

from __future__ import annotations

import base64
import binascii
import uuid

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api.deps import path_name, services
from lamina.engine.invoker import Invocation
from lamina.engine.recursion import hop
from lamina.errors import InvalidParameterValue, InvalidRequestContent, RequestTooLarge

#: Largest sync request payload (reference B.5).
MAX_SYNC_REQUEST_BYTES = 6_291_456
#: Largest Event payload (reference B.5: 1 MB since Oct 2025).
MAX_ASYNC_REQUEST_BYTES = 1_048_576
#: Largest InvokeAsync payload (still 256 KB).
MAX_INVOKE_ASYNC_BYTES = 262_144
#: Largest client context, base64 (reference B.1).
MAX_CLIENT_CONTEXT_BYTES = 3583
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


def _check_json(payload: bytes) -> bytes:
    if not payload:
        return b"{}"
    try:
        msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise InvalidRequestContent(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from exc
    return payload


def _client_context(request: Request) -> str | None:
    raw = request.headers.get("x-amz-client-context")
    if raw is None:
        return None
    if len(raw) > MAX_CLIENT_CONTEXT_BYTES:
        raise InvalidParameterValue("Client context must be 3583 bytes or less")
    try:
        msgspec.json.decode(base64.b64decode(raw, validate=True))
    except (binascii.Error, msgspec.DecodeError) as exc:
        raise InvalidRequestContent("Client context must be base64-encoded JSON") from exc
    return raw


async def invoke(request: Request) -> Response:
    s = services(request)
    name, qualifier = path_name(request)
    kind = request.headers.get("x-amz-invocation-type", "RequestResponse")
    if kind not in INVOCATION_TYPES:
        raise InvalidParameterValue(f"Unsupported invocation type: {kind}")
    log_type = request.headers.get("x-amz-log-type", "None")
    if log_type not in ("None", "Tail"):
        raise InvalidParameterValue(f"Unsupported log type: {log_type}")
    body = await request.body()
    if kind == "Event":
        return await _invoke_event(request, name, qualifier, body)
    if len(body) > MAX_SYNC_REQUEST_BYTES:
        raise RequestTooLarge(
            f"Request must be smaller than {MAX_SYNC_REQUEST_BYTES} bytes for the InvokeFunction"
            " operation"
        )
    payload = _check_json(body)
    client_context = _client_context(request)
    if kind == "DryRun":
        await s.invoker.resolve(name, qualifier)
        return Response(b"", 204)
    rid = str(uuid.uuid4())
    request.state.request_id = rid
    lineage = hop(request.headers.get("x-amzn-trace-id"))
    out = await s.invoker.invoke(
        Invocation(name, qualifier, payload, rid, log_type == "Tail", client_context, lineage)
    )
    headers = {"x-amzn-RequestId": rid, "X-Amz-Executed-Version": out.executed_version}
    if out.function_error:
        headers["X-Amz-Function-Error"] = out.function_error
    if out.log_result is not None:
        headers["X-Amz-Log-Result"] = out.log_result
    return Response(out.payload, 200, headers, media_type="application/json")


async def _invoke_event(
    request: Request, name: str, qualifier: str | None, body: bytes
) -> Response:
    return await _accept(request, name, qualifier, body, MAX_ASYNC_REQUEST_BYTES, "Invoke")


async def _accept(
    request: Request, name: str, qualifier: str | None, body: bytes, limit: int, operation: str
) -> Response:
    if len(body) > limit:
        raise RequestTooLarge(
            f"Request must be smaller than {limit} bytes for the {operation} operation"
        )
    payload = _check_json(body)
    s = services(request)
    await s.invoker.resolve(name, qualifier)
    rid = str(uuid.uuid4())
    request.state.request_id = rid
    lineage = hop(request.headers.get("x-amzn-trace-id"))
    await s.intake.accept(name, qualifier, payload, rid, lineage)
    if operation == "InvokeAsync":
        return Response(
            b'{"Status":202}', 202, {"x-amzn-RequestId": rid}, media_type="application/json"
        )
    return Response(b"", 202, {"x-amzn-RequestId": rid})


async def invoke_async(request: Request) -> Response:
    """The deprecated InvokeAsync: always an Event invocation of the unqualified function."""
    name, qualifier = path_name(request)
    body = await request.body()
    return await _accept(request, name, qualifier, body, MAX_INVOKE_ASYNC_BYTES, "InvokeAsync")


routes = [
    Route("/2015-03-31/functions/{name}/invocations", invoke, methods=["POST"]),
    Route("/2014-11-13/functions/{name}/invoke-async", invoke_async, methods=["POST"]),
    Route("/2014-11-13/functions/{name}/invoke-async/", invoke_async, methods=["POST"]),
]
