"""The CloudWatch Logs JSON 1.1 protocol on `POST /`: `X-Amz-Target: Logs_20140328.<Op>`.

Only requests carrying that target reach this module (`LogsRoute` matches on the header), so
it shares `POST /` with SQS. Supported: DescribeLogGroups, DescribeLogStreams, GetLogEvents,
FilterLogEvents; any other action is UnknownOperationException. Errors are `LogsError`s
(`__type` + message, HTTP 400), which botocore turns into `client.exceptions.<Code>`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from lamina.api.deps import services
from lamina.api.errors import request_id
from lamina.errors import LogsInvalidParameter, LogsUnknownOperation
from lamina.logs.service import (
    FilterQuery,
    LogEvent,
    LogGroupInfo,
    LogService,
    LogStreamInfo,
    check_limit,
)

TARGET_PREFIX = "Logs_20140328."
#: Most groups or streams one Describe call returns (and the default).
MAX_DESCRIBE_ITEMS = 50
_TARGET_HEADER = b"x-amz-target"


class LogsRoute(Route):
    """`POST /` for requests whose X-Amz-Target names a CloudWatch Logs action."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            for key, value in scope["headers"]:
                if key == _TARGET_HEADER and value.startswith(TARGET_PREFIX.encode()):
                    return super().matches(scope)
        return Match.NONE, {}


class _Group(msgspec.Struct, kw_only=True):
    logGroupName: str | None = None
    logGroupIdentifier: str | None = None


class DescribeGroups(msgspec.Struct, kw_only=True):
    logGroupNamePrefix: str | None = None
    logGroupNamePattern: str | None = None
    nextToken: str | None = None
    limit: int | None = None


class DescribeStreams(_Group, kw_only=True):
    logStreamNamePrefix: str | None = None
    orderBy: str | None = None
    descending: bool = False
    nextToken: str | None = None
    limit: int | None = None


class GetEvents(_Group, kw_only=True):
    logStreamName: str | None = None
    startTime: int | None = None
    endTime: int | None = None
    nextToken: str | None = None
    limit: int | None = None
    startFromHead: bool | None = None


class FilterEvents(_Group, kw_only=True):
    logStreamNames: list[str] | None = None
    logStreamNamePrefix: str | None = None
    startTime: int | None = None
    endTime: int | None = None
    filterPattern: str | None = None
    nextToken: str | None = None
    limit: int | None = None


def _service(request: Request) -> LogService:
    return services(request).log_service


def _arns(request: Request) -> tuple[str, str]:
    settings = services(request).settings
    return settings.region, settings.account_id


def _group_name(req: _Group) -> str:
    """The group named by `logGroupName` or `logGroupIdentifier` (a name or an ARN)."""
    if req.logGroupName and req.logGroupIdentifier:
        raise LogsInvalidParameter(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters."
        )
    name = req.logGroupName or req.logGroupIdentifier
    if not name:
        raise LogsInvalidParameter("Either logGroupName or logGroupIdentifier must be given.")
    if name.startswith("arn:"):
        parts = name.split(":")
        if len(parts) < 7 or parts[5] != "log-group":
            raise LogsInvalidParameter(f"Invalid log group ARN: {name}")
        name = parts[6]
    return name


def _page_after(names: list[str], token: str | None, limit: int | None) -> tuple[int, int, bool]:
    """(first index, end index, more?) of a Describe page after the name in `token`."""
    size = check_limit(limit, MAX_DESCRIBE_ITEMS)
    start = 0
    if token:
        start = next((i + 1 for i, name in enumerate(names) if name == token), len(names))
    return start, start + size, start + size < len(names)


def _group_json(g: LogGroupInfo, region: str, account: str) -> dict[str, Any]:
    arn = f"arn:aws:logs:{region}:{account}:log-group:{g.name}"
    return {
        "logGroupName": g.name,
        "creationTime": g.created_ms,
        "metricFilterCount": 0,
        "arn": f"{arn}:*",
        "storedBytes": g.stored_bytes,
        "logGroupClass": "STANDARD",
        "logGroupArn": arn,
        "deletionProtectionEnabled": False,
    }


def _stream_json(s: LogStreamInfo, group_arn: str) -> dict[str, Any]:
    return {
        "logStreamName": s.name,
        "creationTime": s.first_event_ms,
        "firstEventTimestamp": s.first_event_ms,
        "lastEventTimestamp": s.last_event_ms,
        "lastIngestionTime": s.last_ingestion_ms,
        "storedBytes": 0,
        "arn": f"{group_arn}:log-stream:{s.name}",
    }


async def describe_log_groups(request: Request, body: bytes) -> dict[str, Any]:
    req = _decode(body, DescribeGroups)
    groups = await _service(request).groups(
        req.logGroupNamePrefix or "", req.logGroupNamePattern or ""
    )
    start, end, more = _page_after([g.name for g in groups], req.nextToken, req.limit)
    region, account = _arns(request)
    out: dict[str, Any] = {
        "logGroups": [_group_json(g, region, account) for g in groups[start:end]]
    }
    if more:
        out["nextToken"] = groups[end - 1].name
    return out


async def describe_log_streams(request: Request, body: bytes) -> dict[str, Any]:
    req = _decode(body, DescribeStreams)
    group = _group_name(req)
    by_time = req.orderBy == "LastEventTime"
    if req.orderBy not in (None, "LogStreamName", "LastEventTime"):
        raise LogsInvalidParameter(f"Invalid orderBy: {req.orderBy}")
    if by_time and req.logStreamNamePrefix:
        raise LogsInvalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
    streams = [
        s
        for s in await _service(request).streams(group)
        if s.name.startswith(req.logStreamNamePrefix or "")
    ]
    if by_time:
        streams.sort(key=lambda s: (s.last_event_ms, s.name))
    if req.descending:
        streams.reverse()
    start, end, more = _page_after([s.name for s in streams], req.nextToken, req.limit)
    region, account = _arns(request)
    group_arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    out: dict[str, Any] = {"logStreams": [_stream_json(s, group_arn) for s in streams[start:end]]}
    if more:
        out["nextToken"] = streams[end - 1].name
    return out


def _event_json(e: LogEvent) -> dict[str, Any]:
    return {"timestamp": e.timestamp_ms, "message": e.message, "ingestionTime": e.ingestion_ms}


async def get_log_events(request: Request, body: bytes) -> dict[str, Any]:
    req = _decode(body, GetEvents)
    group = _group_name(req)
    if not req.logStreamName:
        raise LogsInvalidParameter("logStreamName is required.")
    page = await _service(request).get_events(
        group,
        req.logStreamName,
        start_ms=req.startTime or 0,
        end_ms=req.endTime,
        token=req.nextToken,
        limit=req.limit,
        from_head=bool(req.startFromHead),
    )
    return {
        "events": [_event_json(e) for e in page.events],
        "nextForwardToken": page.forward_token,
        "nextBackwardToken": page.backward_token,
    }


async def filter_log_events(request: Request, body: bytes) -> dict[str, Any]:
    req = _decode(body, FilterEvents)
    query = FilterQuery(
        group=_group_name(req),
        stream_names=req.logStreamNames,
        stream_prefix=req.logStreamNamePrefix or "",
        start_ms=req.startTime or 0,
        end_ms=req.endTime,
        pattern=req.filterPattern,
        token=req.nextToken,
        limit=req.limit,
    )
    page = await _service(request).filter_events(query)
    out: dict[str, Any] = {
        "events": [
            {"logStreamName": e.stream, **_event_json(e), "eventId": f"{e.event_id:056d}"}
            for e in page.events
        ],
        "searchedLogStreams": [
            {"logStreamName": s, "searchedCompletely": True} for s in page.searched_streams
        ],
    }
    if page.next_token:
        out["nextToken"] = page.next_token
    return out


def _decode(body: bytes, shape: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body or b"{}", type=shape)
    except msgspec.DecodeError as exc:
        raise LogsInvalidParameter(f"1 validation error detected: {exc}") from exc


Handler = Callable[[Request, bytes], Awaitable[dict[str, Any]]]
_ACTIONS: dict[str, Handler] = {
    "DescribeLogGroups": describe_log_groups,
    "DescribeLogStreams": describe_log_streams,
    "GetLogEvents": get_log_events,
    "FilterLogEvents": filter_log_events,
}


async def dispatch(request: Request) -> Response:
    action = request.headers.get("x-amz-target", "")[len(TARGET_PREFIX) :]
    handler = _ACTIONS.get(action)
    if handler is None:
        raise LogsUnknownOperation(f"Lamina does not serve the CloudWatch Logs action {action}")
    out = await handler(request, await request.body())
    return Response(
        msgspec.json.encode(out),
        200,
        {"x-amzn-RequestId": request_id(request)},
        media_type="application/x-amz-json-1.1",
    )


routes = [LogsRoute("/", dispatch, methods=["POST"])]
