"""The single translator from errors to HTTP: rest-json for Lambda, JSON 1.0 for SQS."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lamina.errors import (
    SQS_JSON_TYPES,
    SQS_QUERY_CODES,
    AwsError,
    ServiceError,
    SqsError,
    StoreError,
    UnknownOperation,
)

log = logging.getLogger("lamina.api")


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = str(uuid.uuid4())
        request.state.request_id = rid
    return rid


def aws_error_response(exc: AwsError, rid: str) -> Response:
    if isinstance(exc, SqsError):
        body: dict[str, Any] = {
            "__type": SQS_JSON_TYPES.get(exc.sqs_code, f"com.amazonaws.sqs#{exc.sqs_code}"),
            "message": exc.message,
        }
        headers = {
            "x-amzn-RequestId": rid,
            "x-amzn-query-error": (
                f"{SQS_QUERY_CODES.get(exc.sqs_code, exc.sqs_code)};"
                f"{'Sender' if exc.sender else 'Receiver'}"
            ),
        }
        return Response(
            msgspec.json.encode(body),
            exc.sqs_status,
            headers,
            media_type="application/x-amz-json-1.0",
        )
    headers = {"x-amzn-RequestId": rid, "x-amzn-ErrorType": exc.code, **exc.headers()}
    return Response(
        msgspec.json.encode(exc.body()), exc.status, headers, media_type="application/json"
    )


async def handle_aws_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AwsError)
    return aws_error_response(exc, request_id(request))


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        err: AwsError = UnknownOperation(
            f"Method {request.method} is not allowed on {request.url.path}"
        )
    else:
        err = UnknownOperation(f"Unknown operation: {request.method} {request.url.path}")
    return aws_error_response(err, request_id(request))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    return error_response(exc, request_id(request), request.method, request.url.path)


async def handle_store_error(request: Request, exc: Exception) -> Response:
    """A write the store refused (a full disk, most often): 500 ServiceException, nothing kept.

    The node goes on serving reads, and writes work again once the store can write."""
    assert isinstance(exc, StoreError)
    return error_response(exc, request_id(request), request.method, request.url.path)


def error_response(exc: Exception, rid: str, method: str, path: str) -> Response:
    """Any exception a route raised, as its answer (AWS-shaped; 500 for the unexpected)."""
    if isinstance(exc, AwsError):
        return aws_error_response(exc, rid)
    if isinstance(exc, StoreError):
        log.warning("%s %s: the store refused: %s", method, path, exc)
        return aws_error_response(
            ServiceError(f"The node could not store the request ({exc}); nothing was changed."),
            rid,
        )
    log.exception("unhandled error in %s %s", method, path, exc_info=exc)
    return aws_error_response(ServiceError(f"Internal error: {type(exc).__name__}"), rid)
