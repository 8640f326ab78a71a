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
#: Settable attributes kept as given (policies Lamina does not enforce).
OPAQUE = frozenset({"Policy", "RedriveAllowPolicy"})
#: Encryption settings: stored and shown back, not enforced.
ENCRYPTION = frozenset({"KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"})
#: Attributes computed on read.
COMPUTED = (
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
)
#: FIFO-only attributes: the values each may take, the first one the default.
FIFO_CHOICES: dict[str, tuple[str, ...]] = {
    "ContentBasedDeduplication": ("false", "true"),
    "DeduplicationScope": ("queue", "messageGroup"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}
FIFO_ONLY = frozenset({"FifoQueue", *FIFO_CHOICES})
ALL_NAMES = frozenset({*NUMERIC, *OPAQUE, *ENCRYPTION, *COMPUTED, *FIFO_ONLY, "RedrivePolicy"})
#: How long a FIFO queue remembers a deduplication id (SQS: 5 minutes).
DEDUPLICATION_WINDOW_S = 300


class QueueRecord(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    attributes: dict[str, str]  # settable attributes that differ from the defaults
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    created: int = 0  # epoch seconds
    modified: int = 0
    purged: float = 0.0  # epoch seconds of the last PurgeQueue (kept with the queue: any node)

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue") == "true"

    def number(self, attribute: str) -> int:
        value = self.attributes.get(attribute)
        return NUMERIC[attribute][0] if value is None else int(value)

    def choice(self, attribute: str) -> str:
        """A FIFO attribute's value (its default when not set)."""
        return self.attributes.get(attribute, FIFO_CHOICES[attribute][0])

    def redrive(self) -> Redrive | None:
        raw = self.attributes.get("RedrivePolicy")
        if not raw:
            return None
        policy = msgspec.json.decode(raw)
        return Redrive(policy["deadLetterTargetArn"].rsplit(":", 1)[-1], policy["maxReceiveCount"])

    def shown(self) -> dict[str, str]:
        """Every settable attribute as GetQueueAttributes shows it, defaults included."""
        out = {key: str(default) for key, (default, _, _) in NUMERIC.items()}
        if self.fifo:
            out.update({key: values[0] for key, values in FIFO_CHOICES.items()})
        out["SqsManagedSseEnabled"] = "true"
        out.update(self.attributes)
        return out


encode = msgspec.msgpack.Encoder().encode
decode = msgspec.msgpack.Decoder(QueueRecord).decode

_FIFO_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,75}\.fifo$")


def check_name(name: str | None, attributes: dict[str, str] | None) -> str:
    """A valid queue name; a `.fifo` name goes with `FifoQueue: true` and only with it."""
    if not name:
        raise SqsError("MissingParameter", "The request must contain the parameter QueueName.")
    fifo = str((attributes or {}).get("FifoQueue", "")).lower() == "true"
    if fifo or name.endswith(".fifo"):
        if not fifo or not _FIFO_NAME_RE.match(name):
            raise SqsError(
                "InvalidParameterValue",
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or"
                " underscores, must end with .fifo suffix and be 1 to 80 in length.",
            )
    elif not _NAME_RE.match(name):
        raise SqsError(
            "InvalidParameterValue",
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        )
    return name


def invalid_attribute(name: str, reason: str = "") -> SqsError:
    text = f"Invalid value for the parameter {name}."
    return SqsError("InvalidAttributeValue", f"{text} Reason: {reason}" if reason else text)


def unknown_attribute(name: str) -> SqsError:
    return SqsError("InvalidAttributeName", f"Unknown Attribute {name}.")


def check_settable(
    attributes: dict[str, str], *, fifo: bool, creating: bool = True
) -> dict[str, str]:
    """Validate attributes given to CreateQueue/SetQueueAttributes; return them normalised
    (values equal to the default are dropped, so equal configurations compare equal)."""
    out: dict[str, str] = {}
    for name, value in attributes.items():
        if name in NUMERIC:
            number = _check_number(name, value)
            if number != NUMERIC[name][0]:
                out[name] = str(number)
        elif name in FIFO_ONLY:
            _check_fifo_attribute(name, value, fifo=fifo, creating=creating, out=out)
        elif name == "RedrivePolicy":
            if value:
                out[name] = _check_redrive(value)
        elif name in ENCRYPTION:
            _check_encryption(name, value, out)
        elif name in OPAQUE:
            out[name] = value
        else:
            raise unknown_attribute(name)
    if out.get("KmsMasterKeyId") and out.get("SqsManagedSseEnabled") == "true":
        raise SqsError(
            "InvalidAttributeName",
            "You can use one type of server-side encryption (SSE) at one time. You can either"
            " enable KMS SSE or SQS SSE.",
        )
    if out.get("KmsMasterKeyId"):
        out["SqsManagedSseEnabled"] = "false"
    return out


def _check_fifo_attribute(
    name: str, value: str, *, fifo: bool, creating: bool, out: dict[str, str]
) -> None:
    if not fifo:
        if name in ("DeduplicationScope", "FifoThroughputLimit"):
            raise SqsError(
                "InvalidAttributeName",
                f"You can specify the {name} only when FifoQueue is set to true.",
            )
        raise unknown_attribute(name)
    if name == "FifoQueue":
        if value.lower() != "true":
            raise invalid_attribute(name, "Modifying queue type is not supported.")
        if creating:
            out[name] = "true"
        return
    choices = FIFO_CHOICES[name]
    found = next((c for c in choices if c.lower() == value.lower()), None)
    if found is None:
        raise invalid_attribute(name)
    if found != choices[0]:
        out[name] = found


def _check_encryption(name: str, value: str, out: dict[str, str]) -> None:
    if name == "SqsManagedSseEnabled":
        if value.lower() not in ("true", "false"):
            raise invalid_attribute(name)
        out[name] = value.lower()
    elif name == "KmsDataKeyReusePeriodSeconds":
        if value != "300":  # the default is not shown
            out[name] = value
    elif value:
        out[name] = value


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
