"""What a request is before any route sees it: which service, how many body bytes it may carry.

The guard (api/guard.py) reads these to refuse oversize bodies by Content-Length before
reading them and to stop reading at the limit; the routes keep their own finer checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

#: Largest sync Invoke payload (reference B.5; AWS's message uses this figure).
MAX_SYNC_INVOKE_BYTES = 6_291_456
#: Largest Event Invoke payload (reference B.5: 1 MB since Oct 2025).
MAX_ASYNC_INVOKE_BYTES = 1_048_576
#: Largest InvokeAsync (deprecated) payload.
MAX_INVOKE_ASYNC_BYTES = 262_144
#: Largest CreateFunction / UpdateFunctionCode request: a 50 MB zip as base64 in JSON plus
#: the other members (AWS's own figure, recorded: "Request must be smaller than 70167211 ...").
MAX_CODE_REQUEST_BYTES = 70_167_211
#: Largest SQS / Logs JSON request. Their payload limit is 1 MiB of message text; the JSON
#: escapes botocore writes for non-ASCII text (\\uXXXX, up to 3x) need room on top.
MAX_JSON_SERVICE_BYTES = 4 * 1_048_576
#: Largest body of any other request (configuration, tags, aliases, /lamina/v1 ...).
MAX_OTHER_REQUEST_BYTES = 1_048_576

_INVOKE = re.compile(r"^/2015-03-31/functions/[^/]+/invocations/?$")
_INVOKE_ASYNC = re.compile(r"^/2014-11-13/functions/[^/]+/invoke-async/?$")
_CODE = re.compile(r"^/2015-03-31/functions/?$|^/2015-03-31/functions/[^/]+/code/?$")
_LAYER = re.compile(r"^/2018-10-31/layers/[^/]+/versions/?$")


class Service(Enum):
    """Who answers a request, which decides the protocol its errors are written in."""

    LAMBDA = "lambda"  # rest-json; also /lamina/v1 and /metrics
    SQS = "sqs"  # JSON 1.0, awsQueryCompatible
    LOGS = "logs"  # JSON 1.1
    OPEN = "open"  # /health, /ui: no signature needed


@dataclass(frozen=True)
class Limit:
    """The body limit of one request and the operation its error message names."""

    max_bytes: int
    operation: str


def service_of(path: str, target: str | None) -> Service:
    """The service `path` (and its X-Amz-Target) belongs to."""
    if path == "/":
        return Service.LOGS if target and target.startswith("Logs_") else Service.SQS
    if path == "/health" or path == "/ui" or path.startswith("/ui/"):
        return Service.OPEN
    return Service.LAMBDA


def limit_of(method: str, path: str, service: Service, invocation_type: str | None) -> Limit:
    """How many body bytes this request may carry."""
    if service in (Service.SQS, Service.LOGS):
        return Limit(MAX_JSON_SERVICE_BYTES, service.value)
    if method == "POST" and _INVOKE.match(path):
        if invocation_type == "Event":
            return Limit(MAX_ASYNC_INVOKE_BYTES, "InvokeFunction")
        return Limit(MAX_SYNC_INVOKE_BYTES, "InvokeFunction")
    if method == "POST" and _INVOKE_ASYNC.match(path):
        return Limit(MAX_INVOKE_ASYNC_BYTES, "InvokeAsync")
    if method in ("POST", "PUT") and _CODE.match(path):
        return Limit(MAX_CODE_REQUEST_BYTES, "CreateFunction")
    if method == "POST" and _LAYER.match(path):  # a layer zip: the same 50 MB as code
        return Limit(MAX_CODE_REQUEST_BYTES, "PublishLayerVersion")
    return Limit(MAX_OTHER_REQUEST_BYTES, method)


#: Content types a browser may send cross-origin without a CORS preflight (the Fetch
#: standard's "CORS-safelisted" ones). No AWS SDK sends them; refusing them on mutating calls
#: means a web page cannot reach the API without a preflight, which the node never grants.
BROWSER_SIMPLE_TYPES = frozenset(
    {"text/plain", "multipart/form-data", "application/x-www-form-urlencoded"}
)
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def refused_content_type(method: str, content_type: str | None) -> str | None:
    """The media type to refuse on this request, if it carries one of the browser-simple ones."""
    if method not in MUTATING_METHODS or not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    return media if media in BROWSER_SIMPLE_TYPES else None
