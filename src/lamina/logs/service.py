"""LogService: CloudWatch Logs' reads over the function logs — groups, streams, events, filters.

A function's log group is `/aws/lambda/NAME`; each execution environment writes one stream
named `YYYY/MM/DD/[VERSION]<32 hex>`; a group or stream exists once it holds an event, as on
AWS (the runtime creates them on the first line). Every read flushes the sink first, so a line
of an invocation that has answered is readable at once.

Tokens follow AWS: GetLogEvents answers `f/<56 digits>/s` and `b/<56 digits>/s`; at the end of
a stream the token passed in comes back unchanged (that is how callers know to stop).
FilterLogEvents returns events ordered by time, and `nextToken` only while more remain.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lamina.engine.log_sink import LogSink
from lamina.errors import LogsInvalidParameter, LogsResourceNotFound
from lamina.logs.patterns import compile_pattern
from lamina.store.base import LogEvent, Store
from lamina.store.log_index import LogGroupInfo, LogStreamInfo

__all__ = [
    "EventPage",
    "FilterPage",
    "FilterQuery",
    "LogEvent",
    "LogGroupInfo",
    "LogService",
    "LogStreamInfo",
    "check_limit",
]

#: Most events one GetLogEvents / FilterLogEvents call may ask for (and the default).
MAX_EVENTS_PER_PAGE = 10_000
#: Most bytes one page of events holds (message bytes + 26 per event), as AWS counts them.
MAX_PAGE_BYTES = 1_048_576
#: Bytes AWS adds to each event's message when it measures a page.
EVENT_OVERHEAD_BYTES = 26
#: Events read from the store per round while filtering a whole group.
SCAN_BATCH_EVENTS = 5_000
_TOKEN_RE = re.compile(r"^([fb])/(\d{1,56})(?:/s)?$")
_BAD_TOKEN = "The specified nextToken is invalid."


@dataclass(frozen=True)
class EventPage:
    """A GetLogEvents answer: events in time order and the two tokens."""

    events: list[LogEvent]
    forward_token: str
    backward_token: str


@dataclass(frozen=True)
class FilterPage:
    """A FilterLogEvents answer: matching events in time order, and the token of the rest."""

    events: list[LogEvent]
    next_token: str | None
    searched_streams: list[str]


@dataclass(frozen=True)
class FilterQuery:
    """What FilterLogEvents asks for (times in epoch ms, both ends included)."""

    group: str
    stream_names: Sequence[str] | None = None
    stream_prefix: str = ""
    start_ms: int = 0
    end_ms: int | None = None
    pattern: str | None = None
    token: str | None = None
    limit: int | None = None


def check_limit(limit: int | None, most: int) -> int:
    """`limit`, or `most` when None; outside 1..most is AWS's validation error."""
    if limit is None:
        return most
    if limit < 1:
        raise LogsInvalidParameter(
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy"
            " constraint: Member must have value greater than or equal to 1"
        )
    if limit > most:
        raise LogsInvalidParameter(
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy"
            f" constraint: Member must have value less than or equal to {most}"
        )
    return limit


def _within_bytes(events: list[LogEvent], newest: bool) -> list[LogEvent]:
    """The longest run of `events` (from the oldest, or from the newest) within 1 MB."""
    ordered = reversed(events) if newest else iter(events)
    kept: list[LogEvent] = []
    size = 0
    for e in ordered:
        size += len(e.message.encode()) + EVENT_OVERHEAD_BYTES
        if size > MAX_PAGE_BYTES and kept:
            break
        kept.append(e)
    return kept[::-1] if newest else kept


def _token(kind: str, event_id: int) -> str:
    return f"{kind}/{max(event_id, 0):056d}/s"


def _parse_token(token: str) -> tuple[str, int]:
    found = _TOKEN_RE.match(token)
    if found is None:
        raise LogsInvalidParameter(_BAD_TOKEN)
    return found.group(1), int(found.group(2))


def _filter_token(event: LogEvent) -> str:
    return base64.urlsafe_b64encode(f"{event.timestamp_ms}:{event.event_id}".encode()).decode()


def _parse_filter_token(token: str) -> tuple[int, int]:
    try:
        ts, event_id = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        return int(ts), int(event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise LogsInvalidParameter(_BAD_TOKEN) from exc


def _event_page(events: list[LogEvent], direction: str, mark: int) -> EventPage:
    if events:
        return EventPage(events, _token("f", events[-1].event_id), _token("b", events[0].event_id))
    if mark < 0:  # nothing yet: the forward token reads from the first event on
        return EventPage([], _token("f", 0), _token("b", 0))
    if direction == "f":  # the end: the same forward token comes back
        return EventPage([], _token("f", mark), _token("b", mark + 1))
    return EventPage([], _token("f", mark - 1), _token("b", mark))


class LogService:
    """Reads the stored function logs the way CloudWatch Logs answers them."""

    def __init__(self, store: Store, sink: LogSink) -> None:
        self.store = store
        self.sink = sink

    async def groups(self, prefix: str = "", pattern: str = "") -> list[LogGroupInfo]:
        """Groups holding events, by name; `pattern` matches anywhere, ignoring case."""
        if prefix and pattern:
            raise LogsInvalidParameter(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
            )
        await self.sink.flush()
        wanted = pattern.lower()
        return [
            g
            for g in await self.store.log_groups()
            if g.name.startswith(prefix) and wanted in g.name.lower()
        ]

    async def streams(self, group: str) -> list[LogStreamInfo]:
        """Streams of `group` by name. Raises LogsResourceNotFound for an unknown group."""
        await self.sink.flush()
        found = await self.store.log_streams(group)
        if not found:
            raise LogsResourceNotFound("The specified log group does not exist.")
        return found

    async def recent(self, group: str, limit: int) -> list[LogEvent]:
        """The newest `limit` events of `group` (any stream), oldest first; [] for no group."""
        await self.sink.flush()
        return await self.store.read_logs_newest(group, limit=limit)

    async def _stream(self, group: str, stream: str) -> None:
        names = {s.name for s in await self.streams(group)}
        if stream not in names:
            raise LogsResourceNotFound("The specified log stream does not exist.")

    async def get_events(
        self,
        group: str,
        stream: str,
        *,
        start_ms: int = 0,
        end_ms: int | None = None,
        token: str | None = None,
        limit: int | None = None,
        from_head: bool = False,
    ) -> EventPage:
        """A page of one stream's events (endTime excluded, as GetLogEvents does).

        Without a token the page holds the oldest events when `from_head`, else the newest.
        Raises LogsResourceNotFound, LogsInvalidParameter (bad token or limit).
        """
        size = check_limit(limit, MAX_EVENTS_PER_PAGE)
        direction, mark = _parse_token(token) if token else ("f" if from_head else "b", -1)
        await self._stream(group, stream)
        end = end_ms - 1 if end_ms is not None else None
        if direction == "f":
            events = await self.store.read_logs(
                group,
                stream_prefix=stream,
                start_ms=start_ms,
                end_ms=end,
                after_id=max(mark, 0),
                limit=size,
            )
        else:
            events = await self.store.read_logs_newest(
                group,
                stream_prefix=stream,
                start_ms=start_ms,
                end_ms=end,
                before_id=mark if mark >= 0 else None,
                limit=size,
            )
        return _event_page(_within_bytes(events, newest=direction == "b"), direction, mark)

    async def filter_events(self, q: FilterQuery) -> FilterPage:
        """Matching events of a group across streams, by time, from `q.token` on.

        Raises LogsResourceNotFound, LogsInvalidParameter (pattern, token, limit, both
        stream names and a prefix).
        """
        if q.stream_names and q.stream_prefix:
            raise LogsInvalidParameter(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
            )
        size = check_limit(q.limit, MAX_EVENTS_PER_PAGE)
        matches = compile_pattern(q.pattern)
        cursor = _parse_filter_token(q.token) if q.token else (-1, -1)
        streams = [
            s.name for s in await self.streams(q.group) if s.name.startswith(q.stream_prefix)
        ]
        if q.stream_names:
            streams = [s for s in streams if s in set(q.stream_names)]
        chosen = set(streams)
        found = [
            e
            for e in await self._scan(q.group, q.stream_prefix, q.start_ms, q.end_ms)
            if e.stream in chosen and (e.timestamp_ms, e.event_id) > cursor and matches(e.message)
        ]
        found.sort(key=lambda e: (e.timestamp_ms, e.event_id))
        page = _within_bytes(found[:size], newest=False)
        more = len(page) < len(found)
        return FilterPage(page, _filter_token(page[-1]) if more else None, streams)

    async def _scan(
        self, group: str, prefix: str, start_ms: int, end_ms: int | None
    ) -> list[LogEvent]:
        out: list[LogEvent] = []
        after = 0
        while True:
            batch = await self.store.read_logs(
                group,
                stream_prefix=prefix,
                start_ms=start_ms,
                end_ms=end_ms,
                after_id=after,
                limit=SCAN_BATCH_EVENTS,
            )
            out.extend(batch)
            if len(batch) < SCAN_BATCH_EVENTS:
                return out
            after = batch[-1].event_id
