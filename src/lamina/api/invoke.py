"""Invoke (RequestResponse, Event, DryRun; LogType Tail) and the legacy InvokeAsync."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api.deps import services, split_function
from lamina.api.services import Services
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


def _client_context(raw: str | None) -> str | None:
    if raw is None:
        return None
    if len(raw) > MAX_CLIENT_CONTEXT_BYTES:
        raise InvalidParameterValue("Client context must be 3583 bytes or less")
    try:
        msgspec.json.decode(base64.b64decode(raw, validate=True))
    except (binascii.Error, msgspec.DecodeError) as exc:
        raise InvalidRequestContent("Client context must be base64-encoded JSON") from exc
    return raw


@dataclass(frozen=True)
class Answer:
    """An Invoke answer before it is written: status, headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    media_type: str | None = None


async def answer_invoke(
    s: Services, name: str, qualifier: str | None, headers: Mapping[str, str], body: bytes
) -> Answer:
    """Invoke `name` (RequestResponse, Event or DryRun as the headers say) with `body`."""
    kind = headers.get("x-amz-invocation-type", "RequestResponse")
    if kind not in INVOCATION_TYPES:
        raise InvalidParameterValue(f"Unsupported invocation type: {kind}")
    log_type = headers.get("x-amz-log-type", "None")
    if log_type not in ("None", "Tail"):
        raise InvalidParameterValue(f"Unsupported log type: {log_type}")
    if kind == "Event":
        return await answer_accept(s, name, qualifier, headers, body, "Invoke")
    if len(body) > MAX_SYNC_REQUEST_BYTES:
        raise RequestTooLarge(
            f"Request must be smaller than {MAX_SYNC_REQUEST_BYTES} bytes for the InvokeFunction"
            " operation"
        )
    payload = _check_json(body)
    client_context = _client_context(headers.get("x-amz-client-context"))
    if kind == "DryRun":
        await s.invoker.resolve(name, qualifier)
        return Answer(204, {})
    rid = str(uuid.uuid4())
    lineage = hop(headers.get("x-amzn-trace-id"))
    out = await s.invoker.invoke(
        Invocation(name, qualifier, payload, rid, log_type == "Tail", client_context, lineage)
    )
    answer = {"x-amzn-RequestId": rid, "X-Amz-Executed-Version": out.executed_version}
    if out.function_error:
        answer["X-Amz-Function-Error"] = out.function_error
    if out.log_result is not None:
        answer["X-Amz-Log-Result"] = out.log_result
    return Answer(200, answer, out.payload, "application/json")


async def answer_accept(
    s: Services,
    name: str,
    qualifier: str | None,
    headers: Mapping[str, str],
    body: bytes,
    operation: str,
) -> Answer:
    """Queue an Event invocation (Invoke or the legacy InvokeAsync); 202 once committed."""
    limit = MAX_INVOKE_ASYNC_BYTES if operation == "InvokeAsync" else MAX_ASYNC_REQUEST_BYTES
    if len(body) > limit:
        raise RequestTooLarge(
            f"Request must be smaller than {limit} bytes for the {operation} operation"
        )
    payload = _check_json(body)
    await s.invoker.resolve(name, qualifier)
    rid = str(uuid.uuid4())
    lineage = hop(headers.get("x-amzn-trace-id"))
    await s.intake.accept(name, qualifier, payload, rid, lineage)
    if operation == "InvokeAsync":
        return Answer(202, {"x-amzn-RequestId": rid}, b'{"Status":202}', "application/json")
    return Answer(202, {"x-amzn-RequestId": rid})


def _respond(request: Request, answer: Answer) -> Response:
    rid = answer.headers.get("x-amzn-RequestId")
    if rid is not None:
        request.state.request_id = rid
    return Response(answer.body, answer.status, answer.headers, media_type=answer.media_type)


async def invoke(request: Request) -> Response:
    s = services(request)
    name, qualifier = split_function(
        s, request.path_params["name"], request.query_params.get("Qualifier")
    )
    body = await request.body()
    return _respond(request, await answer_invoke(s, name, qualifier, request.headers, body))


async def invoke_async(request: Request) -> Response:
    """The deprecated InvokeAsync: always an Event invocation of the unqualified function."""
    s = services(request)
    name, qualifier = split_function(
        s, request.path_params["name"], request.query_params.get("Qualifier")
    )
    body = await request.body()
    answer = await answer_accept(s, name, qualifier, request.headers, body, "InvokeAsync")
    return _respond(request, answer)


routes = [
    Route("/2015-03-31/functions/{name}/invocations", invoke, methods=["POST"]),
    Route("/2014-11-13/functions/{name}/invoke-async", invoke_async, methods=["POST"]),
    Route("/2014-11-13/functions/{name}/invoke-async/", invoke_async, methods=["POST"]),
]
