"""The hot lane: Invoke and SQS answered straight from the guard, without Starlette's routing.

Invoke and SendMessage are the calls clients make thousands of times a second (fan-out, event
accept, queue producers). By the time the guard (api/guard.py) hands a request here it has
checked origin, content type, size, signature and the model, and holds the body; an
invocation URL (or an SQS request to `/`) is then served by the same code as the route in
api/invoke.py (api/sqs.py), minus the middleware stack, the route table walk and the
Request/Response objects: the answer goes out as two ASGI messages. Errors are rendered by
api/errors.py as for any route. Every other request goes on to the app.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from lamina.api.deps import split_function
from lamina.api.errors import error_response
from lamina.api.invoke import Answer, answer_invoke
from lamina.api.limits import Service
from lamina.api.services import Services
from lamina.api.sqs import answer as answer_sqs

_PREFIX = "/2015-03-31/functions/"
_SUFFIX = "/invocations"
_SQS_MEDIA = "application/x-amz-json-1.0"


def invoked_name(scope: Scope) -> str | None:
    """The `{name}` segment when `scope` is a POST to an Invoke URL, else None."""
    if scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not path.startswith(_PREFIX) or not path.endswith(_SUFFIX):
        return None
    name = path[len(_PREFIX) : -len(_SUFFIX)]
    return name if name and "/" not in name else None


class HotLane:
    """Serves the Invoke and SQS requests the guard has checked, over the node's services."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        service: Service,
        headers: Mapping[str, str],
        body: bytes,
    ) -> bool:
        """Answer `scope` if it is an Invoke or an SQS JSON request (its body already read)
        and say True; False leaves it to the routes."""
        name = invoked_name(scope)
        if name is not None:
            answering = self._invoke(scope, name, headers, body)
        elif is_sqs(scope, service):
            answering = self._sqs(headers, body)
        else:
            return False
        try:
            answer = await answering
        except Exception as exc:  # rendered as any route's error is
            await error_response(exc, str(uuid.uuid4()), "POST", scope["path"])(
                scope, receive, send
            )
            return True
        await _write(send, answer)
        return True

    async def _invoke(
        self, scope: Scope, raw_name: str, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        query = _qualifier(scope["query_string"])
        name, qualifier = split_function(self.services, raw_name, query)
        return await answer_invoke(self.services, name, qualifier, headers, body)

    async def _sqs(self, headers: Mapping[str, str], body: bytes) -> Answer:
        reply = await answer_sqs(
            self.services.queues,
            headers.get("x-amz-target", ""),
            body,
            headers.get("x-amzn-trace-id"),
        )
        return Answer(200, {"x-amzn-RequestId": str(uuid.uuid4())}, reply, _SQS_MEDIA)


def is_sqs(scope: Scope, service: Service) -> bool:
    """Whether `scope` is an SQS JSON request (POST to `/`; Logs' go elsewhere)."""
    return scope["method"] == "POST" and service is Service.SQS and scope["path"] == "/"


def _qualifier(query_string: bytes) -> str | None:
    if not query_string:
        return None
    found = None
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == "Qualifier":
            found = value
    return found


async def _write(send: Send, answer: Answer) -> None:
    raw = [(b"content-length", str(len(answer.body)).encode())]
    if answer.media_type is not None:
        raw.append((b"content-type", answer.media_type.encode()))
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": raw})
    await send({"type": "http.response.body", "body": answer.body})
