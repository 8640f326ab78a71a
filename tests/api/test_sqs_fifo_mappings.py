"""Event source mappings on FIFO queues: batches keep each message group's order, and a failure
holds back its group (and only its group) until the failed message is done."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness import NodeProcess, read_jsonl, wait_for

CONSUMER = """
import json, os

def handler(event, context):
    items = [(r["attributes"]["MessageGroupId"], r["body"], r["messageId"])
             for r in event["Records"]]
    with open(os.environ["OUT_FILE"], "a") as fh:
        fh.write(json.dumps({"items": items}) + "\\n")
    marker = os.environ["OUT_FILE"] + ".failed"
    poison = os.environ["POISON"]
    for group, body, message_id in items:
        if body == poison and not os.path.exists(marker):
            open(marker, "w").close()
            if os.environ["MODE"] == "raise":
                raise RuntimeError("cannot handle " + body)
            return {"batchItemFailures": [{"itemIdentifier": message_id}]}
    return None
"""


def run_mapping(node: NodeProcess, create_function: Any, tmp_path: Path, mode: str) -> list[Any]:
    """Send 3 groups × 8 messages through a mapping whose function fails once on a2; return
    the batches the function saw."""
    sqs, lam = node.client("sqs"), node.client("lambda")
    url = sqs.create_queue(
        QueueName=f"work-{mode}.fifo",
        Attributes={"FifoQueue": "true", "VisibilityTimeout": "2"},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    out = tmp_path / f"batches-{mode}-{time.monotonic_ns()}.jsonl"
    env = {"OUT_FILE": str(out), "POISON": "a2", "MODE": mode}
    cfg = create_function({"app.py": CONSUMER}, Timeout=10, Environment={"Variables": env})
    for i in range(8):  # interleaved sends: a0 b0 c0 a1 b1 c1 …
        entries = [
            {
                "Id": g,
                "MessageBody": f"{g}{i}",
                "MessageGroupId": g,
                "MessageDeduplicationId": f"{g}{i}",
            }
            for g in "abc"
        ]
        assert "Failed" not in sqs.send_message_batch(QueueUrl=url, Entries=entries)
    lam.create_event_source_mapping(
        FunctionName=cfg["FunctionName"],
        EventSourceArn=arn,
        BatchSize=5,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )

    def all_done() -> bool:
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return (
            out.exists()
            and counts["ApproximateNumberOfMessages"] == "0"
            and counts["ApproximateNumberOfMessagesNotVisible"] == "0"
        )

    wait_for(all_done, timeout=60)
    return [b["items"] for b in read_jsonl(out)]


def assert_groups_in_order(batches: list[Any]) -> None:
    """Each message's last delivery (the one that stuck) comes in its group's send order."""
    last: dict[str, tuple[int, int]] = {}
    for b, items in enumerate(batches):
        for position, (_, body, _) in enumerate(items):
            last[body] = (b, position)
    for group in "abc":
        order = sorted((last[f"{group}{i}"], i) for i in range(8))
        assert [i for _, i in order] == list(range(8)), (group, batches)


def test_partial_failure_holds_back_the_rest_of_its_group(
    node: NodeProcess, create_function: Any, tmp_path: Path
) -> None:
    batches = run_mapping(node, create_function, tmp_path, "partial")
    assert_groups_in_order(batches)
    seen = [body for items in batches for _, body, _ in items]
    assert seen.count("a2") == 2  # failed once, then done
    # Every batch holds each group's messages in order
    for items in batches:
        for group in "abc":
            mine = [int(body[1:]) for g, body, _ in items if g == group]
            assert mine == sorted(mine)


def test_a_failed_batch_blocks_its_groups_until_it_is_retried(
    node: NodeProcess, create_function: Any, tmp_path: Path
) -> None:
    batches = run_mapping(node, create_function, tmp_path, "raise")
    assert_groups_in_order(batches)
    failed = next(i for i, items in enumerate(batches) if any(b == "a2" for _, b, _ in items))
    retried = next(
        i for i, items in enumerate(batches) if i > failed and any(b == "a2" for _, b, _ in items)
    )
    groups_failed = {g for g, _, _ in batches[failed]}
    # Between the failure and its retry, no group of the failed batch moved on
    between = {g for items in batches[failed + 1 : retried] for g, _, _ in items}
    assert not between & groups_failed, batches
