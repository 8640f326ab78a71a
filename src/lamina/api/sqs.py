"""The SQS JSON 1.0 protocol on `POST /`: one handler per `X-Amz-Target: AmazonSQS.<Op>`.

Requests decode into the shapes below (botocore's member names); answers are plain dicts so
their keys are exactly SQS's (`MD5OfMessageBody`, …). Errors are `SqsError`s, which
`api/errors.py` turns into the `__type` body and `x-amzn-query-error` header botocore reads.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api.deps import services
from lamina.api.errors import request_id
from lamina.api.sqs_shapes import (
    CreateQueue,
    GetQueueUrl,
    HandleBatch,
    HandleEntry,
    ListQueues,
    QueueAttributes,
    ReceiveMessage,
    Req,
    SendEntry,
    SendMessageBatch,
    Tags,
)
from lamina.errors import SqsError
from lamina.queues.messages import md5_of_attributes, select_attributes
from lamina.queues.messaging import Outgoing, Received, Sent
from lamina.queues.receipts import parse_receipt
from lamina.queues.registry import UnknownQueue
from lamina.queues.service import QueueService

TARGET_PREFIX = "AmazonSQS."
#: The request's X-Amzn-Trace-Id header: the AWSTraceHeader of messages sent without one.
_trace_id: ContextVar[str | None] = ContextVar("lamina_sqs_trace_id", default=None)
MAX_BATCH_ENTRIES = 10
#: Most bytes of all messages of one SendMessageBatch together (SQS: 1 MiB).
MAX_BATCH_BYTES = 1_048_576
_ENTRY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


Handler = Callable[[QueueService, Any], Awaitable[dict[str, Any]]]
_ops: dict[str, tuple[type[Any], Handler]] = {}


def op(name: str, shape: type[Any]) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _ops[name] = (shape, fn)
        return fn

    return register


@op("CreateQueue", CreateQueue)
async def create_queue(q: QueueService, r: CreateQueue) -> dict[str, Any]:
    return {"QueueUrl": await q.registry.create(r.queue_name, r.attributes, r.tags)}


@op("GetQueueUrl", GetQueueUrl)
async def get_queue_url(q: QueueService, r: GetQueueUrl) -> dict[str, Any]:
    return {"QueueUrl": q.registry.url((await q.registry.current(r.queue_name or "-")).name)}


@op("ListQueues", ListQueues)
async def list_queues(q: QueueService, r: ListQueues) -> dict[str, Any]:
    await q.registry.resync()
    urls, token = q.registry.list_urls(r.queue_name_prefix, r.max_results, r.next_token)
    out: dict[str, Any] = {"QueueUrls": urls} if urls else {}
    if token:
        out["NextToken"] = token
    return out


@op("DeleteQueue", Req)
async def delete_queue(q: QueueService, r: Req) -> dict[str, Any]:
    await q.registry.delete(r.queue_url)
    return {}


@op("PurgeQueue", Req)
async def purge_queue(q: QueueService, r: Req) -> dict[str, Any]:
    await q.messages.purge(r.queue_url)
    return {}


@op("GetQueueAttributes", QueueAttributes)
async def get_queue_attributes(q: QueueService, r: QueueAttributes) -> dict[str, Any]:
    found = await q.registry.attributes(r.queue_url, r.attribute_names)
    return {"Attributes": found} if found else {}


@op("SetQueueAttributes", QueueAttributes)
async def set_queue_attributes(q: QueueService, r: QueueAttributes) -> dict[str, Any]:
    await q.registry.set_attributes(r.queue_url, r.attributes)
    return {}


@op("TagQueue", Tags)
async def tag_queue(q: QueueService, r: Tags) -> dict[str, Any]:
    await q.registry.tag(r.queue_url, r.tags)
    return {}


@op("UntagQueue", Tags)
async def untag_queue(q: QueueService, r: Tags) -> dict[str, Any]:
    await q.registry.untag(r.queue_url, r.tag_keys)
    return {}


@op("ListQueueTags", Req)
async def list_queue_tags(q: QueueService, r: Req) -> dict[str, Any]:
    tags = (await q.registry.current(r.queue_url)).tags
    return {"Tags": tags} if tags else {}


def _sent(result: Sent) -> dict[str, Any]:
    out = {"MessageId": result.message_id, "MD5OfMessageBody": result.md5_of_body}
    if result.md5_of_message_attributes:
        out["MD5OfMessageAttributes"] = result.md5_of_message_attributes
    if result.md5_of_system_attributes:
        out["MD5OfMessageSystemAttributes"] = result.md5_of_system_attributes
    if result.sequence_number:
        out["SequenceNumber"] = result.sequence_number
    return out


def _outgoing(e: SendEntry, trace_header: str | None) -> Outgoing:
    return Outgoing(
        e.message_body,
        e.message_attributes,
        e.delay_seconds,
        group_id=e.message_group_id,
        dedup_id=e.message_deduplication_id,
        system_attributes=e.message_system_attributes,
        trace_header=trace_header,
    )


@op("SendMessage", SendEntry)
async def send_message(q: QueueService, r: SendEntry) -> dict[str, Any]:
    (result,) = await q.messages.send_batch(r.queue_url, [_outgoing(r, _trace_id.get())])
    if isinstance(result, SqsError):
        raise result
    return _sent(result)


def _check_entries(entries: list[Any] | None) -> list[Any]:
    if not entries:
        raise SqsError(
            "EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry."
        )
    if len(entries) > MAX_BATCH_ENTRIES:
        raise SqsError(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}. You have sent"
            f" {len(entries)}.",
        )
    ids = [e.id for e in entries]
    for ident in ids:
        if not ident or not _ENTRY_ID_RE.match(ident):
            raise SqsError(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and"
                " underscores. It can be at most 80 letters long.",
            )
    if len(set(ids)) != len(ids):
        raise SqsError("BatchEntryIdsNotDistinct", "Two or more batch entries have the same Id.")
    return entries


def _entry_size(e: SendEntry) -> int:
    """Bytes an entry counts towards the batch limit: body, attribute names, types and values."""
    size = len((e.message_body or "").encode())
    for name, attr in (e.message_attributes or {}).items():
        value = len(attr.binary_value) * 3 // 4 if attr.binary_value else 0  # base64 → bytes
        value += len((attr.string_value or "").encode())
        size += len(name.encode()) + len(attr.data_type.encode()) + value
    return size


def _failed(ident: str, exc: SqsError) -> dict[str, Any]:
    return {"Id": ident, "SenderFault": exc.sender, "Code": exc.sqs_code, "Message": exc.message}


@op("SendMessageBatch", SendMessageBatch)
async def send_message_batch(q: QueueService, r: SendMessageBatch) -> dict[str, Any]:
    entries: list[SendEntry] = _check_entries(r.entries)
    record = q.registry.record(r.queue_url)
    # The whole batch has a fixed limit; each message still has its queue's MaximumMessageSize.
    total = sum(_entry_size(e) for e in entries)
    if total > MAX_BATCH_BYTES:
        raise SqsError(
            "BatchRequestTooLong",
            f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent"
            f" {total} bytes.",
        )
    trace = _trace_id.get()
    results = await q.messages.send_batch(record.name, [_outgoing(e, trace) for e in entries])
    ok: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for e, result in zip(entries, results, strict=True):
        if isinstance(result, SqsError):
            # SQS words a batch entry's size error apart from SendMessage's
            result.message = result.message.replace("are invalid.", "cannot be validated.")
            failed.append(_failed(e.id or "", result))
        else:
            ok.append({"Id": e.id, **_sent(result)})
    return _batch_reply(ok, failed)


def _batch_reply(ok: list[dict[str, Any]], failed: list[dict[str, Any]]) -> dict[str, Any]:
    """SQS leaves `Failed` out when nothing failed."""
    return {"Successful": ok, "Failed": failed} if failed else {"Successful": ok}


def _message(m: Received, r: ReceiveMessage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "MessageId": m.message_id,
        "ReceiptHandle": m.receipt_handle,
        "MD5OfBody": m.md5_of_body,
        "Body": m.body,
    }
    wanted = {*(r.attribute_names or ()), *(r.message_system_attribute_names or ())}
    if wanted:
        system = m.system_attributes()
        keys = system.keys() if "All" in wanted else wanted
        attrs = {k: system[k] for k in keys if k in system}
        if attrs:
            out["Attributes"] = attrs
    chosen = select_attributes(m.attributes, r.message_attribute_names)
    if chosen:
        whole = len(chosen) == len(m.attributes)
        out["MD5OfMessageAttributes"] = (
            m.md5_of_message_attributes if whole else md5_of_attributes(chosen)
        )
        out["MessageAttributes"] = {k: msgspec.to_builtins(v) for k, v in chosen.items()}
    return out


@op("ReceiveMessage", ReceiveMessage)
async def receive_message(q: QueueService, r: ReceiveMessage) -> dict[str, Any]:
    got = await q.messages.receive(
        r.queue_url,
        max_messages=r.max_number_of_messages,
        wait_s=r.wait_time_seconds,
        visibility_s=r.visibility_timeout,
    )
    return {"Messages": [_message(m, r) for m in got]} if got else {}


@op("DeleteMessage", HandleEntry)
async def delete_message(q: QueueService, r: HandleEntry) -> dict[str, Any]:
    if not r.receipt_handle:
        raise SqsError("MissingParameter", "The request must contain the parameter ReceiptHandle.")
    if await q.messages.delete_batch(r.queue_url, [r.receipt_handle]):
        raise _expired(r.receipt_handle)
    return {}


def _expired(handle: str) -> SqsError:
    return SqsError(
        "InvalidParameterValue",
        f"Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has"
        " expired.",
    )


@op("DeleteMessageBatch", HandleBatch)
async def delete_message_batch(q: QueueService, r: HandleBatch) -> dict[str, Any]:
    entries: list[HandleEntry] = _check_entries(r.entries)
    q.registry.record(r.queue_url)
    ok, failed, handles = [], [], []
    for e in entries:
        try:
            parse_receipt(e.receipt_handle)
        except SqsError as exc:
            failed.append(_failed(e.id or "", exc))
            continue
        handles.append(e.receipt_handle or "")
        ok.append({"Id": e.id})
    expired = set(await q.messages.delete_batch(r.queue_url, handles)) if handles else set()
    for e in entries:
        if e.receipt_handle in expired:
            ok.remove({"Id": e.id})
            failed.append(_failed(e.id or "", _expired(e.receipt_handle or "")))
    return _batch_reply(ok, failed)


@op("ChangeMessageVisibility", HandleEntry)
async def change_message_visibility(q: QueueService, r: HandleEntry) -> dict[str, Any]:
    await q.messages.change_visibility(r.queue_url, r.receipt_handle, r.visibility_timeout)
    return {}


@op("ChangeMessageVisibilityBatch", HandleBatch)
async def change_message_visibility_batch(q: QueueService, r: HandleBatch) -> dict[str, Any]:
    entries: list[HandleEntry] = _check_entries(r.entries)
    q.registry.record(r.queue_url)
    ok, failed = [], []
    for e in entries:
        try:
            await q.messages.change_visibility(r.queue_url, e.receipt_handle, e.visibility_timeout)
            ok.append({"Id": e.id})
        except SqsError as exc:
            failed.append(_failed(e.id or "", exc))
    return _batch_reply(ok, failed)


async def answer(queues: QueueService, target: str, body: bytes, trace_id: str | None) -> bytes:
    """Run the SQS action `target` names on the JSON `body`; its JSON answer."""
    if not target.startswith(TARGET_PREFIX):
        raise SqsError(
            "InvalidAction",
            "Lamina serves the SQS JSON protocol: send X-Amz-Target: AmazonSQS.<Action>"
            " (botocore releases since April 2024, so boto3 and the AWS CLI built on them, do).",
        )
    action = target[len(TARGET_PREFIX) :]
    found = _ops.get(action)
    if found is None:
        raise SqsError(
            "InvalidAction", f"The action {action} is not valid for this endpoint.", status=400
        )
    shape, handler = found
    try:
        req = msgspec.json.decode(body or b"{}", type=shape)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise SqsError("InvalidParameterValue", f"Invalid request: {exc}") from exc
    _trace_id.set(trace_id)
    try:
        reply = await handler(queues, req)
    except UnknownQueue as exc:  # on a shared store, another node may have just created it
        if not await queues.registry.found(exc.name):
            raise
        reply = await handler(queues, req)
    return msgspec.json.encode(reply)


async def dispatch(request: Request) -> Response:
    reply = await answer(
        services(request).queues,
        request.headers.get("x-amz-target", ""),
        await request.body(),
        request.headers.get("x-amzn-trace-id"),
    )
    return Response(
        reply,
        200,
        {"x-amzn-RequestId": request_id(request)},
        media_type="application/x-amz-json-1.0",
    )


routes = [
    Route("/", dispatch, methods=["POST"]),
    # Some SDKs (PHP's, for one) POST JSON requests to the queue URL itself, as AWS accepts.
    Route("/{account:int}/{queue:str}", dispatch, methods=["POST"]),
]
