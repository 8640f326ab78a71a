"""Recursive loop detection, as AWS does it: a lineage count in the trace header.

Every invocation runs with `_X_AMZN_TRACE_ID` set to a trace header whose `Lineage=` field
carries how many hops deep in a chain of invocations it is (0 for one started from outside).
boto3 inside a handler sends that header (X-Amzn-Trace-Id) with each request, so an invoke
from a handler arrives with the caller's count and runs at count + 1. A run past
`MAX_HOPS` of a function whose RecursiveLoop is Terminate (the default) is stopped: a sync
invoke answers RecursiveInvocationException, an async event is dropped (counted, and sent
to OnFailure or the dead-letter queue).

A queued async event keeps its count in the store (`AsyncEvent.lineage`), so the chain goes
on after a restart and on any node of a cluster. A batch from an SQS event source mapping
runs at the deepest count of its messages' AWSTraceHeader + 1, so a loop through a queue
(a handler sending to the queue that feeds it) is counted too.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping

from lamina.control.recursion import TERMINATE, RecursionConfigService

#: Hops a chain of invocations may make before it is stopped (AWS: about 16).
MAX_HOPS = 16
_LINEAGE = re.compile(r"(?:^|;)\s*Lineage=([^;]*)")


def caller_lineage(header: str | None) -> int | None:
    """The lineage count in an X-Amzn-Trace-Id header, or None when it has none. Entries
    look like `hash:count` or `version:hash:count`, several joined by `|`; the deepest wins."""
    if not header:
        return None
    found = _LINEAGE.search(header)
    if found is None:
        return None
    counts = [part.rpartition(":")[2] for part in found.group(1).split("|")]
    numbers = [int(c) for c in counts if c.isdigit()]
    return max(numbers) if numbers else None


def hop(header: str | None) -> int:
    """The lineage of an invocation requested with `header`: the caller's count + 1, or 0."""
    count = caller_lineage(header)
    return 0 if count is None else count + 1


def trace_header(request_id: str, function_arn: str, lineage: int) -> str:
    """The `_X_AMZN_TRACE_ID` an invocation runs with."""
    digest = request_id.replace("-", "")
    loop = hashlib.sha256(function_arn.encode()).hexdigest()[:8]
    return (
        f"Root=1-{digest[:8]}-{digest[8:32]};Parent={digest[16:32]};Sampled=0"
        f";Lineage=1:{loop}:{lineage}"
    )


class RecursionGuard:
    """Decides whether a run is a loop to stop; counts what it stopped, per function."""

    def __init__(self, configs: RecursionConfigService) -> None:
        self.configs = configs
        self.dropped: Counter[str] = Counter()

    async def stops(self, function: str, lineage: int) -> bool:
        """Whether a run of `function` at `lineage` is a loop to stop (and count it then).

        Raises:
            ResourceNotFound: no such function.
        """
        if lineage <= MAX_HOPS or await self.configs.get(function) != TERMINATE:
            return False
        self.dropped[function] += 1
        return True

    def statistics(self) -> Mapping[str, int]:
        """Runs stopped as recursive loops, per function (AWS: RecursiveInvocationsDropped)."""
        return dict(self.dropped)
