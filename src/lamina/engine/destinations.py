"""Where async outcomes go: OnSuccess / OnFailure destinations and the dead-letter queue.

A record goes to a Lamina function (as a new Event invocation) or to an SQS-compatible queue.
A destination that fails or no longer exists is counted and logged; it never stalls the queue.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from lamina.control.arns import FULL_ARN_RE, Arns
from lamina.control.functions import FunctionService

log = logging.getLogger("lamina.destinations")

#: The longest error message a dead-letter message carries (reference C.4).
DLQ_ERROR_MESSAGE_BYTES = 1024

EnqueueEvent = Callable[[str, str | None, bytes, str], Awaitable[None]]


class QueueSender(Protocol):
    """The part of the queue service destinations use."""

    async def exists(self, queue_arn: str) -> bool: ...

    async def send(
        self, queue: str, body: str, attributes: dict[str, Any] | None = None, delay_s: int = 0
    ) -> str: ...


@dataclass
class DeliveryCounts:
    delivered: int = 0
    destination_failures: int = 0
    dead_letter_errors: int = 0
    by_function: dict[str, int] = field(default_factory=dict)


def invocation_record(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    attempts: int,
    request_payload: bytes,
    executed_version: str | None,
    function_error: str | None,
    response_payload: bytes | None,
    now: float,
) -> dict[str, Any]:
    """AWS's destination record (reference C.3), keys and nesting exactly."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": stamp,
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _embed(request_payload),
    }
    if executed_version is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": executed_version}
        if function_error:
            context["functionError"] = function_error
        record["responseContext"] = context
        record["responsePayload"] = _embed(response_payload or b"null")
    return record


def _embed(raw: bytes) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return raw.decode(errors="replace")


class Destinations:
    """Delivers invocation records and dead letters."""

    def __init__(self, arns: Arns, functions: FunctionService) -> None:
        self.arns = arns
        self.functions = functions
        self.queues: QueueSender | None = None
        self.enqueue: EnqueueEvent | None = None
        self.counts = DeliveryCounts()

    def bind(self, queues: QueueSender | None, enqueue: EnqueueEvent) -> None:
        """Connect the queue service and the async queue (built after this object)."""
        self.queues = queues
        self.enqueue = enqueue

    async def exists(self, arn: str) -> bool:
        """True if `arn` names an existing Lamina function or queue."""
        m = FULL_ARN_RE.match(arn)
        if m:
            return await self.functions.records.meta(m["name"]) is not None
        if arn.startswith("arn:aws:sqs:") and self.queues is not None:
            return await self.queues.exists(arn)
        return False

    async def deliver(self, arn: str, record: dict[str, Any]) -> bool:
        """Send `record` to `arn`; False (counted and logged) when it could not be delivered."""
        body = msgspec.json.encode(record)
        try:
            await self._send(arn, body, None)
        except Exception as exc:  # any failure of a destination is counted, never raised
            self.counts.destination_failures += 1
            log.warning("destination %s failed: %s", arn, exc)
            return False
        self.counts.delivered += 1
        return True

    async def dead_letter(self, arn: str, payload: bytes, request_id: str, error: str) -> bool:
        """Send the original event to the dead-letter queue with AWS's attributes."""
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {
                "DataType": "String",
                "StringValue": error.encode()[:DLQ_ERROR_MESSAGE_BYTES].decode(errors="ignore")
                or "-",
            },
        }
        try:
            await self._send(arn, payload, attributes)
        except Exception as exc:  # counted as DeadLetterErrors, never raised
            self.counts.dead_letter_errors += 1
            log.warning("dead-letter queue %s failed: %s", arn, exc)
            return False
        return True

    async def _send(self, arn: str, body: bytes, attributes: dict[str, Any] | None) -> None:
        m = FULL_ARN_RE.match(arn)
        if m:
            if self.enqueue is None or await self.functions.records.meta(m["name"]) is None:
                raise LookupError(f"function {m['name']} does not exist")
            await self.enqueue(m["name"], m["qualifier"], body, str(uuid.uuid4()))
            return
        if arn.startswith("arn:aws:sqs:") and self.queues is not None:
            await self.queues.send(arn, body.decode(), attributes)
            return
        raise LookupError(f"unsupported destination {arn}")
