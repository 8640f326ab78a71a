"""`_X_AMZN_TRACE_ID` per invocation: right in os.environ and for subprocesses, no growth."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_setting_the_trace_id_per_invocation_does_not_grow_memory() -> None:
    # In a fresh interpreter: the C environment is process-wide.
    program = textwrap.dedent(
        """
        import os, resource, subprocess
        from lamina.runtime.trace_env import TraceEnv

        def shell_sees():
            return subprocess.run(
                ["sh", "-c", "echo x$_X_AMZN_TRACE_ID"], capture_output=True, text=True
            ).stdout.strip()

        trace = TraceEnv()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for i in range(200_000):
            trace.set("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
                      f"Sampled=0;Lineage=a87bd80c:{i}")
        grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert grown_kb < 5_000, grown_kb  # os.environ[...] = v grows ~30 MB here
        assert os.environ["_X_AMZN_TRACE_ID"].endswith(":199999")
        assert shell_sees().endswith(":199999")
        trace.clear()
        assert "_X_AMZN_TRACE_ID" not in os.environ and shell_sees() == "x"
        trace.set("Root=abc")
        assert os.environ["_X_AMZN_TRACE_ID"] == "Root=abc" and shell_sees() == "xRoot=abc"
        trace.set("y" * 3000)  # too long for the buffer: the ordinary way
        assert os.environ["_X_AMZN_TRACE_ID"] == "y" * 3000 and shell_sees() == "x" + "y" * 3000
        trace.set("Root=def")
        assert os.environ["_X_AMZN_TRACE_ID"] == "Root=def" and shell_sees() == "xRoot=def"
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
