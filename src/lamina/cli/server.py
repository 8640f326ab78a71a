"""Run a node under uvicorn (uvloop + httptools) until SIGTERM / SIGINT (`lamina serve`)."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
from collections.abc import Generator
from pathlib import Path
from types import FrameType

import uvicorn

from lamina.api.app import build_app
from lamina.auth.keys import exposure_warning
from lamina.config import Settings
from lamina.node import Node

log = logging.getLogger("lamina.node")
#: Rotated copies of --log-file kept (file.1 … file.5).
LOG_FILE_BACKUPS = 5


class _Server(uvicorn.Server):
    """uvicorn's server, except that a stop signal ends the process with status 0 and tells
    the node at once (so open long polls answer instead of holding up the graceful shutdown).

    uvicorn re-raises the signal it caught once shutdown is complete, which would make a clean
    SIGTERM look like a crash (exit -15) to supervisors and tests.
    """

    def __init__(self, config: uvicorn.Config, node: Node) -> None:
        super().__init__(config)
        self.node = node

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.node.stopping_threadsafe()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()


def log_to_file(settings: Settings) -> None:
    """Add a size-rotated file handler for `--log-file` to the root logger."""
    if settings.log_file is None:
        return
    Path(settings.log_file).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        settings.log_file,
        maxBytes=int(settings.log_file_max_mb * 2**20),
        backupCount=LOG_FILE_BACKUPS,
        encoding="utf-8",
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)


def run(settings: Settings) -> None:
    logging.getLogger().setLevel(settings.log_level.upper())
    log_to_file(settings)
    node = Node(settings)
    app = build_app(node.services, node)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
        log_config=None,
    )
    warning = exposure_warning(settings.host, settings.auth_keys)
    if warning:
        log.warning(warning)
    log.info("listening on http://%s:%d (lamina %s)", settings.host, settings.port, "node")
    _Server(config, node).run()
