"""The JSON form of a node snapshot: what `/lamina/v1/stats`, the live stream and `/ui` show.

Per function: running invocations against the function's limit, reserved and provisioned
concurrency, counters (invocations, errors, throttles: totals since the node started; a viewer
turns them into rates), environments by state, recent p50/p99 duration, and the async queue's
depth, oldest event age and pause state. Account-wide: the limit, the unreserved pool and what
runs now; node-wide: environments, destinations, event sources, queues, the log writer.
"""

from __future__ import annotations

from typing import Any

from lamina.engine.snapshot import Snapshot


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """`snap` as plain JSON-ready values."""
    c, envs = snap.concurrency, snap.environments
    return {
        "at": snap.at,
        "account": {
            "limit": c.account_limit,
            "unreserved_limit": c.unreserved_limit,
            "unreserved_in_use": c.unreserved_in_use,
            "in_use": sum(c.in_use.values()),
        },
        "environments": {
            "total": envs.total,
            "cold_starts": envs.cold_starts,
            "evictions": envs.evictions,
            "memory_in_use_mb": envs.memory_in_use_mb,
            "memory_budget_mb": envs.memory_budget_mb,
            "inits_running": envs.inits_running,
            "inits_waiting": envs.inits_waiting,
            "inits_max_seen": envs.inits_max_seen,
            "init_budget": envs.init_budget,
        },
        "destinations": {
            "delivery_failures": snap.destinations.destination_delivery_failures,
            "dead_letter_errors": snap.destinations.dead_letter_errors,
        },
        "event_sources": {"pollers": snap.sources.pollers},
        "queues": {"total": snap.queues.queues},
        "logs": {"buffered": snap.logs.buffered},
        "functions": {name: _function(snap, name) for name in snap.functions},
    }


def _function(snap: Snapshot, name: str) -> dict[str, Any]:
    c, inv = snap.concurrency, snap.invocations
    envs = snap.environments.functions.get(name)
    live, busy = snap.provisioned.environments.get(name, (0, 0))
    reserved = c.reserved.get(name)
    queue = snap.event_queues.get(name)
    oldest = queue.oldest_enqueued_at if queue else None
    p50_p99 = inv.percentiles.get(name)
    return {
        "running": c.in_use.get(name, 0),
        "reserved": reserved,
        "limit": reserved if reserved is not None else c.unreserved_limit,
        "provisioned": {"ready": live - busy, "busy": busy},
        "throttles": c.throttles.get(name, 0),
        "invocations": inv.invocations.get(name, 0),
        "errors": inv.errors.get(name, 0),
        "environments": {
            "total": (envs.starting + envs.ready + envs.busy) if envs else 0,
            "starting": envs.starting if envs else 0,
            "idle": envs.idle if envs else 0,
            "busy": envs.busy if envs else 0,
        },
        "queue_depth": queue.depth if queue else 0,
        "queue_oldest_age_s": round(snap.at - oldest, 3) if oldest is not None else None,
        "queue_paused": name in snap.async_queue.paused,
        "duration_p50_ms": round(p50_p99[0], 2) if p50_p99 else None,
        "duration_p99_ms": round(p50_p99[1], 2) if p50_p99 else None,
    }
