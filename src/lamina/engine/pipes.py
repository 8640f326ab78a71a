"""The three pipes between the node and one environment's child process."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Pipes:
    """The three pipes of one environment: frames in, frames out, and output (fds 1 and 2)."""

    read: int  #: parent reads frames
    write: int  #: parent writes frames
    output: int  #: parent reads the child's stdout + stderr
    child_read: int
    child_write: int
    child_output: int

    @classmethod
    def open(cls) -> Pipes:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        out_r, out_w = os.pipe()
        return cls(from_child_r, to_child_w, out_r, to_child_r, from_child_w, out_w)

    def close_child_ends(self) -> None:
        for fd in (self.child_read, self.child_write, self.child_output):
            with contextlib.suppress(OSError):
                os.close(fd)

    def close_parent_ends(self) -> None:
        for fd in (self.read, self.write, self.output):
            with contextlib.suppress(OSError):
                os.close(fd)
