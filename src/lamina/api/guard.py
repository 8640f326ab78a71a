"""The guard in front of every route: origin, content type, body size, then SigV4.

In this order, each refusal before the body is read wherever it can be:
1. A request carrying an `Origin` (or `Sec-Fetch-Site: cross-site|same-site`) from a page not
   on `--allow-origin` and not this node's own origin → 403. On a loopback address, a `Host`
   that is not a loopback name or IP literal → 403 (DNS rebinding).
2. A mutating call with a browser-simple content type (text/plain, form) → refused.
3. A body over the request's limit (api/limits.py) → refused by Content-Length, or as soon as
   the running count passes it; the node holds at most one limit's worth per request.
4. With `--auth-keys`: the key, the clock and the form of the signature are checked from the
   headers; the body is read (bounded) and the signature checked with botocore (auth/sigv4.py).
Errors are written in the protocol of the service asked (rest-json, SQS JSON, Logs JSON 1.1).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import signal
import uuid
from typing import Any

import msgspec
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lamina.api import limits, model_check
from lamina.api.hot import HotLane
from lamina.api.limits import Service
from lamina.auth import sigv4
from lamina.auth.keys import KeyRing, is_loopback
from lamina.config import Settings
from lamina.errors import AuthError

#: Headers a permitted cross-origin page may read from answers.
EXPOSED_HEADERS = (
    "x-amzn-RequestId, x-amzn-ErrorType, X-Amz-Function-Error, X-Amz-Log-Result,"
    " X-Amz-Executed-Version"
)
#: Bodies larger than this (code uploads) are not decoded a second time for the model check.
MAX_MODEL_CHECKED_BODY_BYTES = 1_048_576
#: How long a browser may cache a preflight answer, seconds.
PREFLIGHT_MAX_AGE_S = 600

#: Query-protocol codes SQS sends for the authentication failures (x-amzn-query-error).
_SQS_AUTH_CODES = {
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
    "UnrecognizedClientException": "InvalidClientTokenId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "IncompleteSignatureException": "IncompleteSignature",
}


class Refused(Exception):
    """One refusal: an error code, HTTP status and message, rendered per service."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


def render(service: Service, refused: Refused, rid: str) -> Response:
    """`refused` as the protocol of `service` writes errors."""
    headers = {"x-amzn-RequestId": rid}
    if service is Service.SQS:
        code = _SQS_AUTH_CODES.get(refused.code, refused.code)
        body: dict[str, Any] = {"__type": f"com.amazonaws.sqs#{code}", "message": refused.message}
        headers["x-amzn-query-error"] = f"{code};Sender"
        media = "application/x-amz-json-1.0"
    elif service is Service.LOGS:
        body = {"__type": refused.code, "message": refused.message}
        media = "application/x-amz-json-1.1"
    else:
        body = {"Type": "User", "message": refused.message}
        headers["x-amzn-ErrorType"] = refused.code
        media = "application/json"
    status = 400 if service is Service.LOGS and refused.status == 403 else refused.status
    return Response(msgspec.json.encode(body), status, headers, media_type=media)


class Guard:
    """ASGI middleware applying the checks above; installs the SIGHUP key reload."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        keys: KeyRing | None = None,
        hot: HotLane | None = None,
    ) -> None:
        self.app = app
        self.hot = hot
        self.settings = settings
        self.keys = keys or KeyRing(settings.auth_keys)
        self.allowed_origins = frozenset(o.rstrip("/") for o in settings.allow_origin)
        self._sighup_installed = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self._install_sighup()
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        service = limits.service_of(scope["path"], headers.get("x-amz-target"))
        try:
            origin = self._check_origin(headers)
            if origin is not None and scope["method"] == "OPTIONS":
                await _preflight(origin, headers)(scope, receive, send)
                return
            body = await self._check_request(scope, headers, service, receive)
        except Refused as refused:
            await render(service, refused, str(uuid.uuid4()))(scope, receive, send)
            return
        if origin:
            send = _with_cors(send, origin)
        if self.hot is not None and await self.hot.serve(
            scope, receive, send, service, headers, body
        ):
            return
        await self.app(scope, _replay(body, receive), send)

    async def _check_request(
        self, scope: Scope, headers: Headers, service: Service, receive: Receive
    ) -> bytes:
        """The request's body, once every check passed."""
        method = scope["method"]
        media = limits.refused_content_type(method, headers.get("content-type"))
        if media is not None:
            raise _content_type_refusal(service, media)
        limit = limits.limit_of(
            method, scope["path"], service, headers.get("x-amz-invocation-type")
        )
        _check_declared_length(headers, limit, service)
        caller = self._identify(headers, scope["path"], service)
        body = await _read_body(receive, limit, service)
        if caller is not None:
            request = sigv4.SignedRequest(
                method, _raw_path(scope), scope["query_string"].decode("latin-1"), headers, body
            )
            try:
                sigv4.check_signature(request, caller)
            except AuthError as exc:
                raise Refused(exc.auth_code, 403, exc.message) from exc
        if service is Service.LAMBDA:
            _check_model(scope, headers, body)
        return body

    def _identify(self, headers: Headers, path: str, service: Service) -> sigv4.Caller | None:
        if not self.keys.enabled or not _needs_signature(path, service, self.settings):
            return None
        try:
            return sigv4.identify(headers, self.keys)
        except AuthError as exc:
            raise Refused(exc.auth_code, 403, exc.message) from exc

    def _check_origin(self, headers: Headers) -> str | None:
        """The cross-origin page to answer with CORS headers (allowed), or None (no page)."""
        host = headers.get("host", "")
        if self._host_refused(host):
            raise Refused("AccessDeniedException", 403, f"Host {host!r} is not allowed")
        origin = headers.get("origin")
        if origin is None:
            if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
                raise Refused("AccessDeniedException", 403, "Cross-site requests are not allowed")
            return None
        if origin.rstrip("/") in self.allowed_origins:
            return origin
        if origin in (f"http://{host}", f"https://{host}"):
            return None  # same origin (the dashboard): no CORS headers needed
        raise Refused(
            "AccessDeniedException",
            403,
            f"Origin {origin} is not allowed; start the node with --allow-origin {origin}"
            " to let that page call it",
        )

    def _host_refused(self, host: str) -> bool:
        """DNS rebinding: on a loopback address, only loopback names and IP literals reach us."""
        if not is_loopback(self.settings.host) or not host:
            return False
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if is_loopback(name) or name == self.settings.host or _is_ip(name):
            return False
        return not any(o.split("://", 1)[-1] == host for o in self.allowed_origins)

    def _install_sighup(self) -> None:
        if self._sighup_installed or not self.keys.enabled:
            return
        self._sighup_installed = True
        loop = asyncio.get_running_loop()

        def reload() -> None:
            loop.run_in_executor(None, self.keys.reload)

        try:
            loop.add_signal_handler(signal.SIGHUP, reload)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            self._sighup_installed = False


@functools.lru_cache(maxsize=256)
def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _needs_signature(path: str, service: Service, settings: Settings) -> bool:
    if service is Service.OPEN:
        return False
    if path.startswith("/lamina/v1/code/"):
        return False  # a capability URL: knowing the SHA-256 means having the code
    return not (path == "/metrics" and settings.open_metrics)


def _check_model(scope: Scope, headers: Headers, body: bytes) -> None:
    """botocore's model constraints, before any route looks the function up (as AWS)."""
    if len(body) > MAX_MODEL_CHECKED_BODY_BYTES:
        return  # a code upload: not decoded twice; the route checks its members
    message = model_check.validation_message(
        scope["method"], _raw_path(scope), scope["query_string"].decode("latin-1"), headers, body
    )
    if message is not None:
        raise Refused("ValidationException", 400, message)


def _content_type_refusal(service: Service, media: str) -> Refused:
    if service is Service.SQS:
        return Refused(
            "InvalidAction",
            400,
            f"Content-Type {media} is not accepted: Lamina serves the SQS JSON protocol"
            " (application/x-amz-json-1.0), as botocore releases since April 2024 send it.",
        )
    return Refused(
        "UnsupportedMediaTypeException",
        415,
        f"Content-Type {media} is not accepted on this operation; send application/json"
        " (see docs/security.md: browser-safe defaults).",
    )


def _too_large(limit: limits.Limit, service: Service) -> Refused:
    if service in (Service.SQS, Service.LOGS):
        code = "InvalidParameterValue" if service is Service.SQS else "InvalidParameterException"
        return Refused(code, 400, f"Request must be smaller than {limit.max_bytes} bytes")
    return Refused(
        "RequestEntityTooLargeException",
        413,
        f"Request must be smaller than {limit.max_bytes} bytes for the {limit.operation} operation",
    )


def _check_declared_length(headers: Headers, limit: limits.Limit, service: Service) -> None:
    declared = headers.get("content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError as exc:
        raise Refused("InvalidRequestContentException", 400, "Bad Content-Length") from exc
    if size > limit.max_bytes:
        raise _too_large(limit, service)


async def _read_body(receive: Receive, limit: limits.Limit, service: Service) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit.max_bytes:
            raise _too_large(limit, service)
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _raw_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    if raw:
        return str(raw.decode("latin-1")).split("?", 1)[0]
    return str(scope["path"])


def _preflight(origin: str, headers: Headers) -> Response:
    return Response(
        b"",
        204,
        {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, PATCH",
            "Access-Control-Allow-Headers": headers.get("access-control-request-headers", ""),
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
            "Vary": "Origin",
        },
    )


def _with_cors(send: Send, origin: str) -> Send:
    async def cors_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            extra = [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
                (b"vary", b"Origin"),
            ]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return cors_send
