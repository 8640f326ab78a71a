"""What a `Sandbox` is handed: the child process it talks to and the envelope around it."""

from __future__ import annotations

from typing import Protocol


class ChildProcess(Protocol):
    """What `Sandbox` needs of its child: a spawned `asyncio.subprocess.Process`, or a
    process forked by the fork server (`lamina.engine.forkserver.ForkedChild`)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


class Envelope(Protocol):
    """What the sandbox asks of the environment's envelope (`lamina.engine.envelope`)."""

    @property
    def limits_memory(self) -> bool: ...

    def kill(self) -> bool: ...

    def thaw(self) -> None: ...

    def out_of_memory(self) -> bool: ...
