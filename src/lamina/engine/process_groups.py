"""Killing an environment's process group, including one forked a moment ago."""

from __future__ import annotations

import os
import signal


def kill_group(pid: int) -> None:
    """SIGKILL process group `pid`, or the process alone while it has no session of its own
    (a child forked a moment ago that has not called setsid yet)."""
    for kill in (os.killpg, os.kill):
        try:
            return kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        except PermissionError:
            return
