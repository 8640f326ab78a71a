"""Run a node under uvicorn (uvloop + httptools) until SIGTERM / SIGINT."""

from __future__ import annotations

import logging

import uvicorn

from lamina.api.app import build_app
from lamina.config import Settings
from lamina.node import Node

log = logging.getLogger("lamina.node")


def run(settings: Settings) -> None:
    logging.getLogger().setLevel(settings.log_level.upper())
    node = Node(settings)
    app = build_app(node)
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
    log.info("listening on http://%s:%d (lamina %s)", settings.host, settings.port, "node")
    uvicorn.Server(config).run()
