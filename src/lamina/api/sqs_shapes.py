"""Request shapes of the SQS JSON protocol, named as botocore names their members."""

from __future__ import annotations

import msgspec

from lamina.queues.messages import MessageAttribute


class Req(msgspec.Struct, rename="pascal", kw_only=True):
    queue_url: str | None = None


class CreateQueue(msgspec.Struct, rename="pascal", kw_only=True):
    queue_name: str | None = None
    attributes: dict[str, str] | None = None
    tags: dict[str, str] | None = msgspec.field(default=None, name="tags")


class GetQueueUrl(msgspec.Struct, rename="pascal", kw_only=True):
    queue_name: str | None = None
    queue_owner_a_w_s_account_id: str | None = msgspec.field(
        default=None, name="QueueOwnerAWSAccountId"
    )


class ListQueues(msgspec.Struct, rename="pascal", kw_only=True):
    queue_name_prefix: str | None = None
    max_results: int | None = None
    next_token: str | None = None


class QueueAttributes(Req, kw_only=True):
    attributes: dict[str, str] | None = None
    attribute_names: list[str] | None = None


class Tags(Req, kw_only=True):
    tags: dict[str, str] | None = None
    tag_keys: list[str] | None = None


class SendEntry(Req, kw_only=True):
    """An entry of SendMessageBatch, and (with QueueUrl) the whole SendMessage request."""

    id: str | None = None
    message_body: str | None = None
    delay_seconds: int | None = None
    message_attributes: dict[str, MessageAttribute] | None = None
    message_group_id: str | None = None
    message_deduplication_id: str | None = None
    message_system_attributes: dict[str, MessageAttribute] | None = None


class SendMessageBatch(Req, kw_only=True):
    entries: list[SendEntry] | None = None


class ReceiveMessage(Req, kw_only=True):
    max_number_of_messages: int | None = None
    wait_time_seconds: int | None = None
    visibility_timeout: int | None = None
    attribute_names: list[str] | None = None
    message_system_attribute_names: list[str] | None = None
    message_attribute_names: list[str] | None = None


class HandleEntry(Req, kw_only=True):
    """A batch entry with a receipt handle, and (with QueueUrl) the single-message request."""

    id: str | None = None
    receipt_handle: str | None = None
    visibility_timeout: int | None = None


class HandleBatch(Req, kw_only=True):
    entries: list[HandleEntry] | None = None
