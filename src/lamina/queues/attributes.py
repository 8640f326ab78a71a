"""Queue attributes and the queue record that holds them: names, settable attributes with SQS's
defaults and ranges, the redrive policy.

A queue is a control-plane document (kind `sqs-queue`, key = queue name); its messages live
in the store's message table. Attribute values are kept as SQS shows them: strings.
"""

from __future__ import annotations

import re

import msgspec

from lamina.errors import SqsError
from lamina.store.queues import Redrive

KIND = "sqs-queue"
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")

#: Settable numeric attributes: (default, minimum, maximum) — reference F.2.
NUMERIC: dict[str, tuple[int, int, int]] = {
    "DelaySeconds": (0, 0, 900),
    "MaximumMessageSize": (1_048_576, 1024, 1_048_576),
    "MessageRetentionPeriod": (345_600, 60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 0, 20),
    "VisibilityTimeout": (30, 0, 43_200),
}
#: Settable attributes kept as given (policies and encryption settings Lamina does not enforce).
OPAQUE = frozenset(
    {
        "Policy",
        "RedriveAllowPolicy",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
        "SqsManagedSseEnabled",
    }
)
#: Attributes computed on read.
COMPUTED = (
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
)
FIFO_ONLY = frozenset(
    {"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
)
ALL_NAMES = frozenset({*NUMERIC, *OPAQUE, *COMPUTED, *FIFO_ONLY, "RedrivePolicy"})


class QueueRecord(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    attributes: dict[str, str]  # settable attributes that differ from the defaults
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    created: int = 0  # epoch seconds
    modified: int = 0

    def number(self, attribute: str) -> int:
        value = self.attributes.get(attribute)
        return NUMERIC[attribute][0] if value is None else int(value)

    def redrive(self) -> Redrive | None:
        raw = self.attributes.get("RedrivePolicy")
        if not raw:
            return None
        policy = msgspec.json.decode(raw)
        return Redrive(policy["deadLetterTargetArn"].rsplit(":", 1)[-1], policy["maxReceiveCount"])


encode = msgspec.msgpack.Encoder().encode
decode = msgspec.msgpack.Decoder(QueueRecord).decode


def check_name(name: str | None) -> str:
    if not name:
        raise SqsError("MissingParameter", "The request must contain the parameter QueueName.")
    if name.endswith(".fifo"):
        raise unsupported_fifo()
    if not _NAME_RE.match(name):
        raise SqsError(
            "InvalidParameterValue",
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        )
    return name


def unsupported_fifo() -> SqsError:
    return SqsError(
        "UnsupportedOperation", "FIFO queues are not supported by Lamina yet; use a standard queue."
    )


def invalid_attribute(name: str, reason: str = "") -> SqsError:
    text = f"Invalid value for the parameter {name}."
    return SqsError("InvalidAttributeValue", f"{text} Reason: {reason}" if reason else text)


def check_settable(attributes: dict[str, str]) -> dict[str, str]:
    """Validate attributes given to CreateQueue/SetQueueAttributes; return them normalised
    (values equal to the default are dropped, so equal configurations compare equal)."""
    out: dict[str, str] = {}
    for name, value in attributes.items():
        if name in NUMERIC:
            number = _check_number(name, value)
            if number != NUMERIC[name][0]:
                out[name] = str(number)
        elif name == "FifoQueue":
            if value.lower() == "true":
                raise unsupported_fifo()
            if value.lower() != "false":
                raise invalid_attribute(name)
        elif name in FIFO_ONLY:
            raise SqsError(
                "InvalidAttributeName", f"Unknown Attribute {name}. (only for FIFO queues)"
            )
        elif name == "RedrivePolicy":
            if value:
                out[name] = _check_redrive(value)
        elif name in OPAQUE:
            out[name] = value
        else:
            raise SqsError("InvalidAttributeName", f"Unknown Attribute {name}.")
    return out


def _check_number(name: str, value: str) -> int:
    _, low, high = NUMERIC[name]
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid_attribute(name) from None
    if not low <= number <= high:
        raise invalid_attribute(name, f"Must be between {low} and {high}.")
    return number


def _check_redrive(value: str) -> str:
    try:
        policy = msgspec.json.decode(value)
    except msgspec.DecodeError:
        raise invalid_attribute(
            "RedrivePolicy", "Redrive policy is not a valid JSON map."
        ) from None
    if not isinstance(policy, dict):
        raise invalid_attribute("RedrivePolicy", "Redrive policy is not a valid JSON map.")
    arn = policy.get("deadLetterTargetArn")
    count = policy.get("maxReceiveCount")
    if isinstance(count, str) and count.isdigit():
        count = int(count)
    if not isinstance(arn, str) or not arn.startswith("arn:aws:sqs:"):
        raise invalid_attribute("RedrivePolicy", "Invalid value for deadLetterTargetArn.")
    if not isinstance(count, int) or not 1 <= count <= 1000:
        raise invalid_attribute(
            "RedrivePolicy", "Invalid value for maxReceiveCount: must be between 1 and 1000."
        )
    return msgspec.json.encode({"deadLetterTargetArn": arn, "maxReceiveCount": count}).decode()
