"""What a send carries besides body and attributes: message groups and deduplication (FIFO
queues), and the AWSTraceHeader system attribute.

A FIFO message needs a MessageGroupId and a deduplication id: the one given, or the SHA-256 of
the body when the queue has ContentBasedDeduplication. Duplicates are recognised by that id
within the queue, or within the group when DeduplicationScope is `messageGroup`. Standard
queues accept a MessageGroupId too (SQS's fair queues) but no deduplication id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from lamina.errors import SqsError
from lamina.queues.attributes import QueueRecord
from lamina.queues.messages import MessageAttribute, invalid

#: Alphanumeric and punctuation characters, 1 to 128 of them.
_ID_RE = re.compile(r"^[A-Za-z0-9!-/:-@\[-`{-~]{1,128}$")
#: The only message system attribute SQS accepts.
TRACE_HEADER = "AWSTraceHeader"


def _check_id(parameter: str, value: str) -> str:
    if not _ID_RE.match(value):
        raise invalid(
            f"Value {value} for parameter {parameter} is invalid. Reason: {parameter} can only"
            " include alphanumeric and punctuation characters. 1 to 128 in length."
        )
    return value


def not_for_this_queue(parameter: str, value: object) -> SqsError:
    return invalid(
        f"Value {value} for parameter {parameter} is invalid. Reason: The request include"
        " parameter that is not valid for this queue type."
    )


def group_of(record: QueueRecord, group_id: str | None) -> str | None:
    """The checked MessageGroupId: required on FIFO queues, optional on standard ones."""
    if group_id is None:
        if record.fifo:
            raise SqsError(
                "MissingParameter", "The request must contain the parameter MessageGroupId."
            )
        return None
    return _check_id("MessageGroupId", group_id)


def deduplication(
    record: QueueRecord, body: str, group_id: str | None, dedup_id: str | None
) -> tuple[str | None, str | None]:
    """(MessageDeduplicationId, the key duplicates are found by) of one send."""
    if not record.fifo:
        if dedup_id is not None:
            raise not_for_this_queue("MessageDeduplicationId", dedup_id)
        return None, None
    if dedup_id is not None:
        _check_id("MessageDeduplicationId", dedup_id)
    elif record.choice("ContentBasedDeduplication") == "true":
        dedup_id = hashlib.sha256(body.encode()).hexdigest()
    else:
        raise invalid(
            "The queue should either have ContentBasedDeduplication enabled or"
            " MessageDeduplicationId provided explicitly"
        )
    if record.choice("DeduplicationScope") == "messageGroup":
        return dedup_id, f"{group_id}\n{dedup_id}"
    return dedup_id, dedup_id


def delay_of(record: QueueRecord, delay_s: int | None) -> int:
    """A message's delay: its own, or its queue's. FIFO queues only have the queue's (a message
    may say 0, which means the queue's)."""
    if delay_s is None or (record.fifo and delay_s == 0):
        return record.number("DelaySeconds")
    if record.fifo:
        raise not_for_this_queue("DelaySeconds", delay_s)
    return delay_s


def trace_header(
    system_attributes: Mapping[str, MessageAttribute] | None, from_header: str | None
) -> str | None:
    """AWSTraceHeader from MessageSystemAttributes, else from the X-Amzn-Trace-Id header."""
    for name, attr in (system_attributes or {}).items():
        if name != TRACE_HEADER:
            raise invalid(f"Message system attribute name '{name}' is invalid.")
        if attr.data_type != "String" or not attr.string_value:
            raise invalid(
                f"Message system attribute '{name}' must contain a non-empty value of type"
                " 'String'."
            )
        return attr.string_value
    return from_header or None


def sequence_number(seq: int) -> str:
    """SQS's SequenceNumber: a 20-digit decimal string that grows with every message."""
    return f"{seq:020d}"
