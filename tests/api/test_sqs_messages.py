"""SQS messages through a real node: send, MD5s, receive, visibility, delete, delay, long polling,
redrive to a dead-letter queue."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import time
from typing import Any

import httpx
import pytest

from harness import NodeProcess, queue_counts, unique_name, wait_for

ACCOUNT = "000000000000"


@pytest.fixture
def sqs(node: NodeProcess) -> Any:
    return node.client("sqs")


def make_queue(sqs: Any, prefix: str = "q", **attributes: str) -> str:
    """A new queue named `prefix` and a suffix no other test uses (one node serves the module)."""
    name = unique_name(prefix)
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def name_of(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    return queue_counts(sqs, url)


def receive(sqs: Any, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("AttributeNames", ["All"])
    kwargs.setdefault("MessageAttributeNames", ["All"])
    return list(sqs.receive_message(QueueUrl=url, **kwargs).get("Messages", []))


def error_code(exc: pytest.ExceptionInfo[Any]) -> str:
    """The error's name: the modeled one (botocore keeps it as QueryErrorCode when SQS sends a
    legacy query code, which becomes Error.Code), except for the service-wide
    InvalidParameterValue and MissingParameter, whose JSON names (…Exception) botocore keeps as
    QueryErrorCode while Error.Code is the name users match on, as against AWS."""
    error = exc.value.response["Error"]
    if error["Code"] in ("InvalidParameterValue", "MissingParameter"):
        return str(error["Code"])
    return str(error.get("QueryErrorCode", error["Code"]))


# -- MD5s, written here independently of the node -------------------------------------------


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest()


def md5_of_attributes(attributes: dict[str, dict[str, Any]]) -> str:
    """SQS's digest of message attributes: for each attribute, sorted by name, the name and the
    data type each as a 4-byte big-endian length and UTF-8 bytes, one transport byte (1 for
    String and Number, 2 for Binary), then the value as a length and bytes."""
    out = bytearray()

    def with_length(data: bytes) -> None:
        out.extend(struct.pack(">I", len(data)))
        out.extend(data)

    for name in sorted(attributes):
        attribute = attributes[name]
        with_length(name.encode())
        with_length(attribute["DataType"].encode())
        if "BinaryValue" in attribute:
            out.append(2)
            with_length(attribute["BinaryValue"])
        else:
            out.append(1)
            with_length(attribute["StringValue"].encode())
    return hashlib.md5(bytes(out)).hexdigest()


#: Attributes with published digests (the aws-md5-of-message-attributes package's README).
KNOWN_ATTRIBUTES: dict[str, dict[str, Any]] = {
    "attribName1": {"DataType": "String", "StringValue": "attribValue 1"},
    "customNumberTypeAttrib": {
        "DataType": "Number.float",
        "StringValue": "4563442423554324324264524243.32543234",
    },
    "binaryAttribute": {"DataType": "Binary", "BinaryValue": b"Hello binary world!"},
}
KNOWN_DIGESTS = {
    "attribName1": "19e27d4e946b072f3f58da80d94fd778",
    "customNumberTypeAttrib": "9fe1b90bbd9965bdf77bac517c7d2495",
    "binaryAttribute": "31a92b15d92f8db860eda32aceb656c3",
    "all": "c932db14a896c663f83c260297d594ff",
}


def test_the_test_md5_of_attributes_matches_published_digests() -> None:
    for name, digest in KNOWN_DIGESTS.items():
        chosen = KNOWN_ATTRIBUTES if name == "all" else {name: KNOWN_ATTRIBUTES[name]}
        assert md5_of_attributes(chosen) == digest
    assert md5_of_body("") == "d41d8cd98f00b204e9800998ecf8427e"  # RFC 1321 test suite


def test_send_and_receive_carry_the_md5s_sqs_computes(sqs: Any) -> None:
    url = make_queue(sqs)
    body = '{"order": 42, "note": "naïve café ✓ 🚀"}'

    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=KNOWN_ATTRIBUTES)
    (got,) = receive(sqs, url)

    assert sent["MD5OfMessageBody"] == md5_of_body(body)
    assert sent["MD5OfMessageAttributes"] == KNOWN_DIGESTS["all"]
    assert got["MessageId"] == sent["MessageId"]
    assert got["Body"] == body
    assert got["MD5OfBody"] == md5_of_body(body)
    assert got["MD5OfMessageAttributes"] == KNOWN_DIGESTS["all"]
    assert got["MessageAttributes"] == KNOWN_ATTRIBUTES


def test_received_md5_of_attributes_covers_only_the_attributes_returned(sqs: Any) -> None:
    url = make_queue(sqs, VisibilityTimeout="0")
    plain = sqs.send_message(QueueUrl=url, MessageBody="no attributes")
    sqs.send_message(QueueUrl=url, MessageBody="with", MessageAttributes=KNOWN_ATTRIBUTES)

    by_body = {m["Body"]: m for m in receive(sqs, url, MaxNumberOfMessages=10)}
    while len(by_body) < 2:
        by_body.update({m["Body"]: m for m in receive(sqs, url, MaxNumberOfMessages=10)})

    def the_one_with(names: list[str]) -> dict[str, Any]:
        def check() -> list[dict[str, Any]]:
            got = receive(sqs, url, MessageAttributeNames=names, MaxNumberOfMessages=10)
            return [m for m in got if m["Body"] == "with"]

        return dict(wait_for(check)[0])

    named = the_one_with(["attribName1"])
    prefixed = the_one_with(["custom.*"])
    no_prefix = the_one_with(["nothing.*"])
    unnamed = the_one_with([])

    assert "MD5OfMessageAttributes" not in plain
    assert "MessageAttributes" not in by_body["no attributes"]
    assert named["MessageAttributes"] == {"attribName1": KNOWN_ATTRIBUTES["attribName1"]}
    assert named["MD5OfMessageAttributes"] == KNOWN_DIGESTS["attribName1"]
    # "custom.*" matches names that start with "custom" (AWS: ["Hel.*"] gives Hello, Help.Me)
    assert prefixed["MessageAttributes"] == {
        "customNumberTypeAttrib": KNOWN_ATTRIBUTES["customNumberTypeAttrib"]
    }
    assert prefixed["MD5OfMessageAttributes"] == KNOWN_DIGESTS["customNumberTypeAttrib"]
    assert "MessageAttributes" not in no_prefix
    assert "MessageAttributes" not in unnamed


def test_binary_and_custom_typed_attributes_round_trip(sqs: Any) -> None:
    url = make_queue(sqs)
    every_byte = bytes(range(256))
    given = {
        "blob": {"DataType": "Binary.gzip", "BinaryValue": every_byte},
        "empty.ish": {"DataType": "Binary", "BinaryValue": b"\x00"},
        "price": {"DataType": "Number.euro", "StringValue": "-12.50"},
        "big": {"DataType": "Number", "StringValue": "123456789012345678901234567890"},
        "label": {"DataType": "String.utf8", "StringValue": "Grüße ✓"},
    }

    sent = sqs.send_message(QueueUrl=url, MessageBody="binary", MessageAttributes=given)
    (got,) = receive(sqs, url)

    assert got["MessageAttributes"] == given
    assert got["MessageAttributes"]["blob"]["BinaryValue"] == every_byte
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(given)
    assert got["MD5OfMessageAttributes"] == md5_of_attributes(given)


def test_message_bodies_and_attributes_are_validated(sqs: Any) -> None:
    url = make_queue(sqs, MaximumMessageSize="1024")

    def refused(expected: str, **kwargs: Any) -> None:
        kwargs.setdefault("MessageBody", "x")
        with pytest.raises(sqs.exceptions.ClientError) as exc:
            sqs.send_message(QueueUrl=url, **kwargs)
        assert error_code(exc) == expected, kwargs

    def attr(value: str, data_type: str = "String") -> dict[str, str]:
        return {"DataType": data_type, "StringValue": value}

    refused("InvalidMessageContents", MessageBody="bell \x07")
    refused("InvalidParameterValue", MessageBody="x" * 1025)
    refused(
        "InvalidParameterValue", MessageBody="x" * 1000, MessageAttributes={"a": attr("y" * 30)}
    )
    refused("InvalidParameterValue", DelaySeconds=901)
    refused("InvalidParameterValue", MessageAttributes={f"a{i}": attr("v") for i in range(11)})
    for bad_name in ("AWS.reserved", "amazon.x", ".dot", "dot.", "two..dots", "spa ce"):
        refused("InvalidParameterValue", MessageAttributes={bad_name: attr("v")})
    refused("InvalidParameterValue", MessageAttributes={"n": attr("twelve", "Number")})
    refused("InvalidParameterValue", MessageAttributes={"d": attr("2024-01-01", "Date")})
    refused("InvalidParameterValue", MessageAttributes={"e": attr("")})
    assert counts(sqs, url) == (0, 0, 0)
    # Exactly at the limit is fine
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1024)


def test_a_message_of_the_full_default_size_round_trips(sqs: Any) -> None:
    url = make_queue(sqs)
    body = ("0123456789abcdef" * 65_536)[:1_048_576]  # 1 MiB exactly

    sent = sqs.send_message(QueueUrl=url, MessageBody=body)
    (got,) = receive(sqs, url)

    assert got["Body"] == body and got["MD5OfBody"] == sent["MD5OfMessageBody"] == md5_of_body(body)
    with pytest.raises(sqs.exceptions.ClientError) as too_big:
        sqs.send_message(QueueUrl=url, MessageBody=body + "x")
    assert error_code(too_big) == "InvalidParameterValue"


# -- batches --------------------------------------------------------------------------------


def test_send_message_batch_reports_each_entry(sqs: Any) -> None:
    url = make_queue(sqs)
    entries = [
        {"Id": "ok-1", "MessageBody": "one"},
        {"Id": "too-late", "MessageBody": "late", "DelaySeconds": 901},
        {"Id": "ok-2", "MessageBody": "two", "MessageAttributes": KNOWN_ATTRIBUTES},
        {"Id": "bad-chars", "MessageBody": "nul \x00"},
        {"Id": "ok_3", "MessageBody": "three", "DelaySeconds": 0},
    ]

    out = sqs.send_message_batch(QueueUrl=url, Entries=entries)

    ok = {e["Id"]: e for e in out["Successful"]}
    failed = {e["Id"]: e for e in out["Failed"]}
    assert set(ok) == {"ok-1", "ok-2", "ok_3"}
    assert ok["ok-1"]["MD5OfMessageBody"] == md5_of_body("one")
    assert ok["ok-2"]["MD5OfMessageAttributes"] == KNOWN_DIGESTS["all"]
    assert "MD5OfMessageAttributes" not in ok["ok-1"]
    assert failed["too-late"]["Code"] == "InvalidParameterValue"
    assert failed["bad-chars"]["Code"] == "InvalidMessageContents"
    assert all(f["SenderFault"] is True and f["Message"] for f in failed.values())
    got = receive(sqs, url, MaxNumberOfMessages=10)
    assert sorted(m["Body"] for m in got) == ["one", "three", "two"]
    assert {m["MessageId"] for m in got} == {e["MessageId"] for e in ok.values()}


def test_batch_requests_are_validated(sqs: Any) -> None:
    url = make_queue(sqs)
    one = {"Id": "a", "MessageBody": "x"}

    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=[])
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)]
        )
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(QueueUrl=url, Entries=[one, one])
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "has space", "MessageBody": "x"}])
    big = "x" * 200_000  # each message fits; together they exceed 1 MiB
    with pytest.raises(sqs.exceptions.BatchRequestTooLong):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": f"b{i}", "MessageBody": big} for i in range(6)]
        )
    # A small queue MaximumMessageSize limits each message, not the batch
    small = make_queue(sqs, "small", MaximumMessageSize="1024")
    fine = sqs.send_message_batch(
        QueueUrl=small, Entries=[{"Id": f"s{i}", "MessageBody": "y" * 1000} for i in range(10)]
    )
    assert len(fine["Successful"]) == 10 and not fine.get("Failed")
    assert counts(sqs, url) == (0, 0, 0)
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.delete_message_batch(QueueUrl=url, Entries=[])
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[])
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": f"d{i}", "ReceiptHandle": "h"} for i in range(11)]
        )
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": "same", "ReceiptHandle": "h"}, {"Id": "same", "ReceiptHandle": "h"}],
        )


# -- receive, visibility, delete ------------------------------------------------------------


def test_receive_takes_at_most_ten_and_hides_what_it_took(sqs: Any) -> None:
    url = make_queue(sqs)
    for start in (0, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": f"m{i}", "MessageBody": str(i)} for i in range(start, start + 10)],
        )

    first = receive(sqs, url, MaxNumberOfMessages=10)
    single = receive(sqs, url)
    rest: list[dict[str, Any]] = []
    while len(first) + len(single) + len(rest) < 20:
        more = receive(sqs, url, MaxNumberOfMessages=10)
        assert more, "visible messages were left behind"
        rest.extend(more)

    assert 1 <= len(first) <= 10 and len(single) == 1
    bodies = [m["Body"] for m in first + single + rest]
    assert sorted(bodies, key=int) == [str(i) for i in range(20)]
    assert receive(sqs, url, MaxNumberOfMessages=10) == []
    assert counts(sqs, url) == (0, 20, 0)


def test_receive_parameters_are_validated(sqs: Any) -> None:
    url = make_queue(sqs)
    for kwargs in (
        {"MaxNumberOfMessages": 0},
        {"MaxNumberOfMessages": 11},
        {"WaitTimeSeconds": 21},
        {"VisibilityTimeout": 43_201},
    ):
        with pytest.raises(sqs.exceptions.ClientError) as exc:
            sqs.receive_message(QueueUrl=url, **kwargs)
        assert error_code(exc) == "InvalidParameterValue", kwargs


def test_system_attributes_are_returned_when_asked_for(sqs: Any) -> None:
    url = make_queue(sqs, VisibilityTimeout="0")
    before_ms = int(time.time() * 1000)
    sqs.send_message(QueueUrl=url, MessageBody="x")

    (everything,) = receive(sqs, url)
    (one,) = receive(sqs, url, AttributeNames=[], MessageSystemAttributeNames=["SentTimestamp"])
    (none,) = receive(sqs, url, AttributeNames=[])

    attrs = everything["Attributes"]
    assert attrs.keys() == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert attrs["ApproximateReceiveCount"] == "1"
    sent_ms = int(attrs["SentTimestamp"])
    assert before_ms - 5_000 <= sent_ms <= int(attrs["ApproximateFirstReceiveTimestamp"])
    assert one["Attributes"] == {"SentTimestamp": attrs["SentTimestamp"]}
    assert "Attributes" not in none


def test_visibility_timeout_expiry_makes_a_message_visible_again(sqs: Any) -> None:
    # Given a message received once from a queue with a 1 s visibility timeout
    url = make_queue(sqs, VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="again")
    (first,) = receive(sqs, url)

    # When its visibility timeout runs out
    second = wait_for(lambda: receive(sqs, url, WaitTimeSeconds=2), timeout=20)[0]

    # Then it is received again, counted twice, with a new receipt handle
    assert second["MessageId"] == first["MessageId"]
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    first_seen = first["Attributes"]["ApproximateFirstReceiveTimestamp"]
    assert second["Attributes"]["ApproximateFirstReceiveTimestamp"] == first_seen


def test_receive_visibility_timeout_overrides_the_queue_default(sqs: Any) -> None:
    url = make_queue(sqs, VisibilityTimeout="600")
    sqs.send_message(QueueUrl=url, MessageBody="short")

    receive(sqs, url, VisibilityTimeout=1)
    again = wait_for(lambda: receive(sqs, url, WaitTimeSeconds=2), timeout=20)

    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_change_message_visibility(sqs: Any) -> None:
    url = make_queue(sqs)  # visibility timeout 30 s
    sqs.send_message(QueueUrl=url, MessageBody="x")
    (got,) = receive(sqs, url)

    def change(handle: str, timeout: int) -> None:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=timeout)

    # 0 makes it visible at once
    change(got["ReceiptHandle"], 0)
    (again,) = receive(sqs, url)
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"

    # The old receipt handle no longer controls it (AWS: InvalidParameterValue)
    with pytest.raises(sqs.exceptions.ClientError) as stale:
        change(got["ReceiptHandle"], 0)
    assert error_code(stale) == "InvalidParameterValue"
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        change("not-a-handle", 0)
    with pytest.raises(sqs.exceptions.ClientError) as too_long:
        change(again["ReceiptHandle"], 43_201)
    assert error_code(too_long) == "InvalidParameterValue"

    # Shortening the timeout brings it back sooner
    change(again["ReceiptHandle"], 1)
    third = wait_for(lambda: receive(sqs, url, WaitTimeSeconds=2), timeout=20)
    assert third[0]["Attributes"]["ApproximateReceiveCount"] == "3"


def test_change_message_visibility_batch_reports_each_entry(sqs: Any) -> None:
    url = make_queue(sqs)
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(2)]
    )
    got = receive(sqs, url, MaxNumberOfMessages=10)
    while len(got) < 2:
        got += receive(sqs, url, MaxNumberOfMessages=10)

    out = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "first", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "second", "ReceiptHandle": got[1]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "bogus", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 0},
        ],
    )

    assert sorted(e["Id"] for e in out["Successful"]) == ["first", "second"]
    (failed,) = out["Failed"]
    assert failed["Id"] == "bogus" and failed["Code"] == "ReceiptHandleIsInvalid"
    assert counts(sqs, url) == (2, 0, 0)


def test_delete_message_removes_it_and_a_stale_receipt_handle_deletes_nothing(sqs: Any) -> None:
    # Given a message received twice (the first receipt handle is stale)
    url = make_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="x")
    (stale,) = receive(sqs, url, VisibilityTimeout=0)
    (current,) = receive(sqs, url)

    # When the stale handle deletes it, nothing happens
    sqs.delete_message(QueueUrl=url, ReceiptHandle=stale["ReceiptHandle"])
    assert counts(sqs, url) == (0, 1, 0)

    # When the current handle deletes it, it is gone; deleting again is harmless
    sqs.delete_message(QueueUrl=url, ReceiptHandle=current["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=current["ReceiptHandle"])
    assert counts(sqs, url) == (0, 0, 0)
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    # A handle of this queue does not delete from another queue
    other = make_queue(sqs, "other")
    sqs.send_message(QueueUrl=other, MessageBody="y")
    (theirs,) = receive(sqs, other)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=theirs["ReceiptHandle"])
    assert counts(sqs, other) == (0, 1, 0)


def test_delete_message_batch_reports_each_entry(sqs: Any) -> None:
    url = make_queue(sqs)
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(3)]
    )
    got = receive(sqs, url, MaxNumberOfMessages=10)
    while len(got) < 3:
        got += receive(sqs, url, MaxNumberOfMessages=10)

    out = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "ReceiptHandle": got[0]["ReceiptHandle"]},
            {"Id": "b", "ReceiptHandle": got[1]["ReceiptHandle"]},
            {"Id": "c", "ReceiptHandle": "not-a-handle"},
        ],
    )

    assert sorted(e["Id"] for e in out["Successful"]) == ["a", "b"]
    assert [(f["Id"], f["Code"]) for f in out["Failed"]] == [("c", "ReceiptHandleIsInvalid")]
    assert counts(sqs, url) == (0, 1, 0)


def test_a_queue_url_with_another_host_names_the_same_queue(sqs: Any) -> None:
    name = name_of(make_queue(sqs, "portable"))
    aws_url = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{name}"

    sqs.send_message(QueueUrl=aws_url, MessageBody="x")

    assert [m["Body"] for m in receive(sqs, aws_url)] == ["x"]


# -- delays, counts, long polling -----------------------------------------------------------


def test_delayed_messages_are_counted_as_delayed_then_become_visible(sqs: Any) -> None:
    # Given a queue delaying messages by 5 s, one message with the queue's delay, one with its
    # own shorter delay and one sent with no delay
    url = make_queue(sqs, DelaySeconds="5")
    sqs.send_message(QueueUrl=url, MessageBody="queue-delay")
    sqs.send_message(QueueUrl=url, MessageBody="own-delay", DelaySeconds=3)
    sqs.send_message(QueueUrl=url, MessageBody="now", DelaySeconds=0)

    # Then at first only the undelayed one is visible
    assert counts(sqs, url) == (1, 0, 2)
    assert [m["Body"] for m in receive(sqs, url, MaxNumberOfMessages=10)] == ["now"]

    # And the delayed ones turn up later, in the order their delays end
    later: list[str] = []

    def both_arrived() -> bool:
        later.extend(m["Body"] for m in receive(sqs, url, WaitTimeSeconds=5))
        return len(later) == 2

    wait_for(both_arrived, timeout=30)
    assert later == ["own-delay", "queue-delay"]
    assert counts(sqs, url) == (0, 3, 0)


def test_get_queue_attributes_counts_visible_in_flight_and_delayed(sqs: Any) -> None:
    url = make_queue(sqs)
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            *({"Id": f"v{i}", "MessageBody": "visible"} for i in range(4)),
            *({"Id": f"d{i}", "MessageBody": "delayed", "DelaySeconds": 600} for i in range(3)),
        ],
    )

    taken = receive(sqs, url, MaxNumberOfMessages=2)

    assert len(taken) == 2
    assert counts(sqs, url) == (2, 2, 3)


def test_long_poll_returns_early_when_a_message_arrives(sqs: Any) -> None:
    # Given a consumer long-polling an empty queue for 20 s
    url = make_queue(sqs)
    polling = threading.Event()
    result: dict[str, Any] = {}

    def consume() -> None:
        polling.set()
        result["messages"] = receive(sqs, url, WaitTimeSeconds=20)
        result["returned"] = time.monotonic()

    consumer = threading.Thread(target=consume)
    started = time.monotonic()
    consumer.start()
    assert polling.wait(10)
    # (a 1 s poll from here comes back empty: the queue is still empty and the consumer's
    # request has had a second to reach the node)
    assert receive(sqs, url, WaitTimeSeconds=1) == []

    # When a message is sent from this thread
    sent_at = time.monotonic()
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    consumer.join(30)

    # Then the consumer got it after the send and well before its 20 s were up
    assert [m["Body"] for m in result["messages"]] == ["wake up"]
    assert sent_at <= result["returned"] < started + 10


def test_long_poll_waits_its_time_when_nothing_arrives(sqs: Any) -> None:
    url = make_queue(sqs)
    by_queue = make_queue(sqs, "waits", ReceiveMessageWaitTimeSeconds="1")

    t0 = time.monotonic()
    assert receive(sqs, url, WaitTimeSeconds=2) == []
    waited = time.monotonic() - t0
    t1 = time.monotonic()
    assert receive(sqs, by_queue) == []  # the queue's ReceiveMessageWaitTimeSeconds
    waited_by_queue = time.monotonic() - t1
    t2 = time.monotonic()
    assert receive(sqs, by_queue, WaitTimeSeconds=0) == []  # short poll despite the queue

    assert waited >= 1.9
    assert waited_by_queue >= 0.9
    assert time.monotonic() - t2 < waited_by_queue + 5  # bounded, not a timing claim


def test_long_poll_wakes_when_a_delayed_or_hidden_message_becomes_visible(sqs: Any) -> None:
    url = make_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="hidden")
    receive(sqs, url, VisibilityTimeout=1)

    t0 = time.monotonic()
    woke_for_hidden = receive(sqs, url, WaitTimeSeconds=20)
    hidden_after = time.monotonic() - t0
    sqs.delete_message(QueueUrl=url, ReceiptHandle=woke_for_hidden[0]["ReceiptHandle"])

    polling = threading.Event()
    result: dict[str, Any] = {}

    def consume() -> None:
        polling.set()
        t = time.monotonic()
        result["messages"] = receive(sqs, url, WaitTimeSeconds=20)
        result["took"] = time.monotonic() - t

    consumer = threading.Thread(target=consume)
    consumer.start()
    assert polling.wait(10)
    assert receive(sqs, url, WaitTimeSeconds=1) == []
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=1)
    consumer.join(30)

    assert [m["Body"] for m in woke_for_hidden] == ["hidden"] and hidden_after < 10
    assert [m["Body"] for m in result["messages"]] == ["delayed"] and result["took"] < 10


# -- redrive --------------------------------------------------------------------------------


def test_redrive_moves_a_message_to_the_dead_letter_queue_after_max_receive_count(
    sqs: Any,
) -> None:
    # Given a queue whose messages go to a dead-letter queue after two receives
    dlq = make_queue(sqs, "dead")
    dlq_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name_of(dlq)}"
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url = make_queue(sqs, "live", RedrivePolicy=policy)
    source_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name_of(url)}"
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison", MessageAttributes=KNOWN_ATTRIBUTES)

    # When it is received twice without being deleted
    seen = [receive(sqs, url, VisibilityTimeout=0)[0] for _ in range(2)]

    # Then the next receive moves it to the dead-letter queue instead of returning it
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in seen] == ["1", "2"]
    assert receive(sqs, url, MaxNumberOfMessages=10) == []
    assert counts(sqs, url) == (0, 0, 0)
    (dead,) = receive(sqs, dlq, WaitTimeSeconds=5)
    assert dead["MessageId"] == sent["MessageId"]
    assert dead["Body"] == "poison"
    assert dead["MD5OfBody"] == md5_of_body("poison")
    assert dead["MessageAttributes"] == KNOWN_ATTRIBUTES
    assert dead["MD5OfMessageAttributes"] == KNOWN_DIGESTS["all"]
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == source_arn
    # The receive count carries over, as on AWS (recorded: moved after 1 receive, shows "2")
    assert dead["Attributes"]["ApproximateReceiveCount"] == "3"
    assert dead["Attributes"]["SentTimestamp"] == seen[0]["Attributes"]["SentTimestamp"]


def test_redrive_after_visibility_timeouts_expire(sqs: Any) -> None:
    dlq = make_queue(sqs, "dead")
    dlq_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name_of(dlq)}"
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    url = make_queue(sqs, "live", RedrivePolicy=policy, VisibilityTimeout="1")
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)]
    )
    first = receive(sqs, url, MaxNumberOfMessages=10)
    while len(first) < 5:
        first += receive(sqs, url, MaxNumberOfMessages=10)

    # A consumer long-polling the source keeps taking nothing while they move
    moved: list[dict[str, Any]] = []

    def source_empty() -> bool:
        return receive(sqs, url, WaitTimeSeconds=1) == [] and counts(sqs, url)[:2] == (0, 0)

    def all_moved() -> bool:
        moved.extend(receive(sqs, dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1))
        return len(moved) >= 5

    wait_for(source_empty, timeout=30)
    wait_for(all_moved, timeout=30)
    assert sorted(m["Body"] for m in moved) == [str(i) for i in range(5)]


def test_a_deleted_dead_letter_queue_keeps_messages_in_the_source(sqs: Any) -> None:
    dlq = make_queue(sqs, "dead")
    dlq_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name_of(dlq)}"
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    url = make_queue(sqs, "live", RedrivePolicy=policy)
    sqs.send_message(QueueUrl=url, MessageBody="stays")
    receive(sqs, url, VisibilityTimeout=0)

    sqs.delete_queue(QueueUrl=dlq)

    (again,) = receive(sqs, url)
    assert again["Body"] == "stays" and again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_binary_values_are_sent_base64_on_the_wire(node: NodeProcess, sqs: Any) -> None:
    # boto3 hides the encoding; a raw JSON client sees base64 text, as SQS sends it
    url = make_queue(sqs)
    raw = {"raw": {"DataType": "Binary", "BinaryValue": b"\xff\x00\xfe"}}
    sqs.send_message(QueueUrl=url, MessageBody="b", MessageAttributes=raw)
    answer = httpx.post(
        node.url + "/",
        json={"QueueUrl": url, "MessageAttributeNames": ["All"]},
        headers={
            "X-Amz-Target": "AmazonSQS.ReceiveMessage",
            "Content-Type": "application/x-amz-json-1.0",
        },
        timeout=10,
    ).json()

    value = answer["Messages"][0]["MessageAttributes"]["raw"]
    assert value == {
        "DataType": "Binary",
        "BinaryValue": base64.b64encode(b"\xff\x00\xfe").decode(),
    }


# -- several consumers ----------------------------------------------------------------------


def test_concurrent_consumers_never_hold_the_same_message(sqs: Any) -> None:
    # Given 200 messages and four consumers receiving in parallel without deleting
    url = make_queue(sqs)
    for start in range(0, 200, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(start, start + 10)],
        )
    taken: list[list[str]] = [[] for _ in range(4)]

    def consume(mine: list[str]) -> None:
        while True:
            got = receive(sqs, url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            if not got:
                return
            mine.extend(m["Body"] for m in got)

    threads = [threading.Thread(target=consume, args=(t,)) for t in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    # Then each message went to exactly one of them
    everything = [b for mine in taken for b in mine]
    assert sorted(everything, key=int) == [str(i) for i in range(200)]
    assert counts(sqs, url) == (0, 200, 0)


def test_one_message_wakes_one_of_several_long_polls_and_the_others_keep_waiting(
    sqs: Any,
) -> None:
    url = make_queue(sqs)
    results: list[list[str]] = []
    lock = threading.Lock()
    ready = threading.Barrier(4)

    def consume() -> None:
        ready.wait(10)
        got = [m["Body"] for m in receive(sqs, url, WaitTimeSeconds=20)]
        with lock:
            results.append(got)

    threads = [threading.Thread(target=consume) for _ in range(3)]
    for t in threads:
        t.start()
    ready.wait(10)
    assert receive(sqs, url, WaitTimeSeconds=1) == []

    sqs.send_message(QueueUrl=url, MessageBody="first")
    wait_for(lambda: len(results) >= 1, timeout=15)
    with lock:
        assert results == [["first"]]  # the other two polls are still open
    more = [{"Id": "b", "MessageBody": "second"}, {"Id": "c", "MessageBody": "third"}]
    sqs.send_message_batch(QueueUrl=url, Entries=more)
    for t in threads:
        t.join(30)

    assert sorted(b for r in results for b in r) == ["first", "second", "third"]
    assert all(len(r) == 1 for r in results)
