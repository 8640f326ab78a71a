"""The async queue on a fake clock: AWS's one- and two-minute retry delays and the dead-letter
queue, run in milliseconds by a node built in-process (real store, real environments)."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from lamina.clock import FakeClock
from lamina.config import Settings
from lamina.control.code import check_zip
from lamina.control.functions import NewFunction
from lamina.node import Node
from lamina.store.events import AsyncEvent

HANDLER = """
import json, os

def handler(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps({"id": context.aws_request_id}) + "\\n")
    raise ValueError("always fails")
"""


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return buf.getvalue()


async def _until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    """Bounded poll in real time: the node's tasks and its environments run meanwhile."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + timeout_s
    while not await condition():
        assert loop.time() < ends, "condition never held"
        await asyncio.sleep(0.01)


async def _waiting_event(node: Node, attempts: int) -> AsyncEvent | None:
    """The function's one queued event once it has failed `attempts` times, else None."""
    events = await node.async_queue.list("fails", "", 10)
    return events[0] if len(events) == 1 and events[0].attempts == attempts else None


def test_a_failing_event_is_retried_after_one_then_two_minutes_then_given_up(
    tmp_path: Path,
) -> None:
    out = tmp_path / "attempts.jsonl"

    async def main() -> list[tuple[int, float]]:
        clock = FakeClock()
        node = Node(Settings(data_dir=tmp_path / "data", fork_server=False), clock=clock)
        await node.start()
        schedule: list[tuple[int, float]] = []
        try:
            await node.functions.create(
                NewFunction(
                    name="fails",
                    role="arn:aws:iam::000000000000:role/r",
                    runtime="python3.11",
                    handler="app.handler",
                    code=check_zip(_zip(HANDLER)),
                    variables={"OUT": str(out)},
                )
            )
            accepted_at = clock.time()
            await node.async_queue.accept("fails", None, b"{}", "event-1")
            for attempt in (1, 2):

                async def failed(attempt: int = attempt) -> bool:
                    return await _waiting_event(node, attempt) is not None

                await _until(failed)
                event = await _waiting_event(node, attempt)
                assert event is not None
                schedule.append((event.attempts, event.next_at - accepted_at))
                clock.advance(event.next_at - clock.time())

            async def given_up() -> bool:
                left = await node.async_queue.list("fails", "", 10)
                return node.async_queue.dropped["fails"] == 1 and not left

            await _until(given_up)
        finally:
            await node.stop()
        return schedule

    schedule = asyncio.run(main())
    # Given a handler that always fails, when its event runs, then retry 1 waits 60 s, retry 2
    # another 120 s (AWS's defaults, on the fake clock), and the third failure gives it up.
    assert schedule == [(1, 60.0), (2, 180.0)]
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["event-1"] * 3
