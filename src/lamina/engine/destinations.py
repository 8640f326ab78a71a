"""Where async outcomes go: OnSuccess / OnFailure destinations and the dead-letter queue.

A record goes to a Lamina function (as a new Event invocation) or to an SQS-compatible queue.
A destination that fails or no longer exists is counted and logged; it never stalls the queue.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from lamina.control.arns import FULL_ARN_RE, Arns
from lamina.control.functions import FunctionService
from lamina.engine.intake import EventIntake

log = logging.getLogger("lamina.destinations")

#: The longest error message a dead-letter message carries (reference C.4).
DLQ_ERROR_MESSAGE_BYTES = 1024


class QueueSender(Protocol):
    """The part of the queue service destinations use."""

    async def send(
        self, queue: str, body: str, attributes: dict[str, Any] | None = None, delay_s: int = 0
    ) -> str: ...


@dataclass(frozen=True)
class DeliveryStatistics:
    """Records that could not be delivered, under AWS's metric names: DestinationDeliveryFailures
    (OnSuccess / OnFailure) and DeadLetterErrors (the dead-letter queue)."""

    destination_delivery_failures: int = 0
    dead_letter_errors: int = 0


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

    def __init__(
        self, arns: Arns, functions: FunctionService, queues: QueueSender, intake: EventIntake
    ) -> None:
        self.arns = arns
        self.functions = functions
        self.queues = queues
        self.intake = intake
        self._delivery_failures = 0
        self._dead_letter_errors = 0

    async def deliver(self, arn: str, record: dict[str, Any]) -> bool:
        """Send `record` to `arn`; False (counted and logged) when it could not be delivered."""
        body = msgspec.json.encode(record)
        try:
            await self._send(arn, body, None)
        except Exception as exc:  # any failure of a destination is counted, never raised
            self._delivery_failures += 1
            log.warning("destination %s failed: %s", arn, exc)
            return False
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
            self._dead_letter_errors += 1
            log.warning("dead-letter queue %s failed: %s", arn, exc)
            return False
        return True

    def statistics(self) -> DeliveryStatistics:
        return DeliveryStatistics(self._delivery_failures, self._dead_letter_errors)

    async def _send(self, arn: str, body: bytes, attributes: dict[str, Any] | None) -> None:
        m = FULL_ARN_RE.match(arn)
        if m:
            if await self.functions.records.meta(m["name"]) is None:
                raise LookupError(f"function {m['name']} does not exist")
            await self.intake.accept(m["name"], m["qualifier"], body, str(uuid.uuid4()))
            return
        if arn.startswith("arn:aws:sqs:"):
            await self.queues.send(arn, body.decode(), attributes)
            return
        raise LookupError(f"unsupported destination {arn}")
