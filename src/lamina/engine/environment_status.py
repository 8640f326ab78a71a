"""The statuses of an environment and the moves between them (engine/environment.py).

STARTING ──► READY ◄──► BUSY ──► STARTING (its process died before the handler ran)
    │          │          │
    └──────────┴──► DEAD ◄┘      (DEAD is final; every other move raises)
"""

from __future__ import annotations

import enum

from lamina.errors import LaminaError


class EnvironmentStatus(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    DEAD = "dead"


LEGAL_MOVES = {
    EnvironmentStatus.STARTING: {EnvironmentStatus.READY, EnvironmentStatus.DEAD},
    EnvironmentStatus.READY: {EnvironmentStatus.BUSY, EnvironmentStatus.DEAD},
    # BUSY -> STARTING: its process was found dead before the handler ran; a new one starts.
    EnvironmentStatus.BUSY: {
        EnvironmentStatus.READY,
        EnvironmentStatus.DEAD,
        EnvironmentStatus.STARTING,
    },
    EnvironmentStatus.DEAD: set(),
}


class IllegalTransition(LaminaError):
    """An environment was asked to move between two statuses that do not connect."""
