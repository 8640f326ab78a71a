"""The async queue on a fake clock: AWS's one- and two-minute retry delays and the maximum
event age, run in milliseconds by a node built in-process (memory store, real environments)."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from lamina.clock import FakeClock
from lamina.config import Settings
from lamina.control.code import check_zip
from lamina.control.event_config import EventInvokeConfig
from lamina.control.new_function import NewFunction
from lamina.node import Node
from lamina.store.events import AsyncEvent

#: Appends its event (and request id) to $OUT; fails when the event asks it to.
HANDLER = """
import json, os

def handler(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps({"id": context.aws_request_id, "event": event}) + "\\n")
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError("asked to fail")
"""


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return buf.getvalue()


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@asynccontextmanager
async def _node(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Node]:
    settings = Settings(
        data_dir=tmp_path / "data",
        store="memory",
        fork_server=False,
        sandbox_share=(tmp_path,),  # the handler records into it
    )
    node = Node(settings, clock=clock)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


async def _create(node: Node, name: str, out: Path) -> str:
    """A function running HANDLER that writes to `out`; returns its ARN."""
    version = await node.functions.create(
        NewFunction(
            name=name,
            role="arn:aws:iam::000000000000:role/r",
            runtime="python3.11",
            handler="app.handler",
            code=check_zip(_zip(HANDLER)),
            variables={"OUT": str(out)},
        )
    )
    return version.arn


async def _until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    """Bounded poll in real time: the node's tasks and its environments run meanwhile."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + timeout_s
    while not await condition():
        assert loop.time() < ends, "condition never held"
        await asyncio.sleep(0.01)


async def _waiting_event(node: Node, name: str, attempts: int) -> AsyncEvent | None:
    """The function's one queued event once it has failed `attempts` times, else None."""
    events = await node.async_queue.list(name, "", 10)
    return events[0] if len(events) == 1 and events[0].attempts == attempts else None


def test_a_failing_event_is_retried_after_one_then_two_minutes_then_given_up(
    tmp_path: Path,
) -> None:
    out = tmp_path / "attempts.jsonl"

    async def main() -> list[tuple[int, float]]:
        clock = FakeClock()
        schedule: list[tuple[int, float]] = []
        async with _node(tmp_path, clock) as node:
            await _create(node, "fails", out)
            accepted_at = clock.time()
            await node.intake.accept("fails", None, b'{"fail": true}', "event-1")
            for attempt in (1, 2):

                async def failed(attempt: int = attempt) -> bool:
                    return await _waiting_event(node, "fails", attempt) is not None

                await _until(failed)
                event = await _waiting_event(node, "fails", attempt)
                assert event is not None
                schedule.append((event.attempts, event.next_at - accepted_at))
                clock.advance(event.next_at - clock.time())

            async def given_up() -> bool:
                left = await node.async_queue.list("fails", "", 10)
                return node.async_queue.dropped["fails"] == 1 and not left

            await _until(given_up)
        return schedule

    schedule = asyncio.run(main())
    # Given a handler that always fails, when its event runs, then retry 1 waits 60 s, retry 2
    # another 120 s (AWS's defaults, on the fake clock), and the third failure gives it up.
    assert schedule == [(1, 60.0), (2, 180.0)]
    assert [line["id"] for line in _lines(out)] == ["event-1"] * 3


def test_an_event_older_than_the_maximum_age_goes_to_on_failure_without_running(
    tmp_path: Path,
) -> None:
    out, sink_out = tmp_path / "runs.jsonl", tmp_path / "sink.jsonl"

    async def main() -> None:
        clock = FakeClock()
        async with _node(tmp_path, clock) as node:
            await _create(node, "aged", out)
            sink_arn = await _create(node, "sink", sink_out)
            await node.event_configs.put(
                EventInvokeConfig(
                    function="aged",
                    qualifier="$LATEST",
                    max_event_age_s=60,
                    on_failure=sink_arn,
                ),
                merge=False,
            )
            # Given a paused queue holding one event, when it resumes 61 s later...
            await node.async_queue.pause("aged")
            await node.intake.accept("aged", None, b'{"x": 1}', "event-1")
            clock.advance(61.0)
            await node.async_queue.resume("aged")

            async def delivered() -> bool:
                return bool(_lines(sink_out))

            await _until(delivered)

    asyncio.run(main())
    # ...then the event never ran and OnFailure got AWS's record of an aged-out event.
    assert _lines(out) == []
    (record,) = [line["event"] for line in _lines(sink_out)]
    assert isinstance(record, dict)
    assert record["requestContext"] == {
        "requestId": "event-1",
        "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:aged:$LATEST",
        "condition": "EventAgeExceeded",
        "approximateInvokeCount": 0,
    }
    assert record["requestPayload"] == {"x": 1}
