"""Settings: every node flag, its LAMINA_* variable, default and help, defined once.

Each field of `Settings` is one `lamina serve` flag: `--account-concurrency` sets
`account_concurrency` and also reads `LAMINA_ACCOUNT_CONCURRENCY`. `flags()` describes them
for the CLI (cli/serve.py builds its click options from it); nothing else reads the
environment for node settings.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

#: Prefix of the environment variable of every flag.
ENV_PREFIX = "LAMINA_"
#: Default port of `lamina serve`.
DEFAULT_PORT = 9001
#: Default directory of the node's state.
DEFAULT_DATA_DIR = Path(".lamina")
#: Default account-wide concurrency limit, as on AWS.
DEFAULT_ACCOUNT_CONCURRENCY = 1000
#: Default base delay between async retries (AWS: 1 min, then 2 min).
DEFAULT_ASYNC_RETRY_BASE_DELAY_S = 60.0
#: Idle execution environments are reaped after this long.
DEFAULT_ENV_IDLE_TIMEOUT_S = 300.0
#: Function log bytes kept per log group (oldest lines go first).
DEFAULT_LOG_RETENTION_MB = 64
#: Function log bytes kept for the whole node (oldest lines of any function go first).
DEFAULT_LOG_RETENTION_TOTAL_MB = 1024
#: Size at which `--log-file` rotates (it keeps LOG_FILE_BACKUPS older files).
DEFAULT_LOG_FILE_MAX_MB = 50


def _flag(
    help: str = "", *, minimum: float | None = None, choices: tuple[str, ...] = ()
) -> dict[str, Any]:
    """What a Settings field's flag shows besides its default: help, lowest value, choices."""
    return {"help": help, "minimum": minimum, "choices": choices}


@dataclass(frozen=True)
class Settings:
    """What a node is started with. Flags and LAMINA_<NAME> variables map onto these fields,
    in this order in `lamina serve --help`."""

    host: str = field(default="127.0.0.1", metadata=_flag("Address to listen on."))
    port: int = field(default=DEFAULT_PORT, metadata=_flag("Port to listen on."))
    public_url: str | None = field(
        default=None,
        metadata=_flag(
            "The URL clients reach this node at (a cluster's load balancer): the base of SQS"
            " queue URLs and code Locations. Default: http://HOST:PORT."
        ),
    )
    data_dir: Path = field(default=DEFAULT_DATA_DIR, metadata=_flag("Where state lives."))
    store: str = field(
        default="sqlite",
        metadata=_flag(
            "sqlite (embedded), memory (nothing kept across restarts) or redis://host:port/db."
        ),
    )
    account_concurrency: int = field(default=DEFAULT_ACCOUNT_CONCURRENCY, metadata=_flag(minimum=1))
    async_retry_base_delay: float = field(
        default=DEFAULT_ASYNC_RETRY_BASE_DELAY_S,
        metadata=_flag("Seconds before the first async retry; the second waits twice as long."),
    )
    region: str = field(default="us-east-1", metadata=_flag())
    account_id: str = field(default="000000000000", metadata=_flag())
    env_idle_timeout: float = field(
        default=DEFAULT_ENV_IDLE_TIMEOUT_S,
        metadata=_flag("Seconds an idle execution environment is kept warm."),
    )
    log_level: str = field(
        default="info", metadata=_flag(choices=("debug", "info", "warning", "error"))
    )
    isolation: str = field(
        default="auto",
        metadata=_flag(
            "cgroup: a cgroup per environment (memory, CPU, tasks, freezer); process: resource"
            " limits and the process group; auto: cgroup where the node may create cgroups."
            " See docs/security-model.md.",
            choices=("auto", "cgroup", "process"),
        ),
    )
    freeze: bool = field(
        default=True,
        metadata=_flag("Freeze idle environments between invocations, as AWS does."),
    )
    sandbox_share: tuple[Path, ...] = field(
        default=(),
        metadata=_flag(
            "A host directory environments still see at its own path (under their private"
            " /tmp too), as file permissions allow; repeatable. For local development."
        ),
    )
    fork_server: bool = field(
        default=True,
        metadata=_flag("Start environments by forking a pre-imported template (fast cold starts)."),
    )
    runtime: tuple[str, ...] = field(
        default=(),
        metadata=_flag(
            "RUNTIME=PATH: run RUNTIME (python3.12) on the CPython at PATH instead of the one"
            " found on PATH, in pyenv or uv; repeatable. `lamina runtimes` lists what runs."
        ),
    )
    unreserved_minimum: int | None = field(
        default=None,
        metadata=_flag(
            "Concurrency reservations must leave unreserved [default: min(100, limit / 10)].",
            minimum=0,
        ),
    )
    memory_budget: int | None = field(
        default=None,
        metadata=_flag(
            "MB of MemorySize all live environments may sum to [default: 3/4 of RAM].", minimum=128
        ),
    )
    max_concurrent_inits: int | None = field(
        default=None,
        metadata=_flag(
            "Environments that may run their init (start + handler import) at once; more wait"
            " for a slot [default: 2 x cores].",
            minimum=1,
        ),
    )
    fsync: bool = field(
        default=False,
        metadata=_flag(
            "Flush every commit to disk (survives a power cut; slower). Without it a commit"
            " survives kill -9 of the node, and WAL checkpoints are flushed."
        ),
    )
    auth_keys: Path | None = field(
        default=None,
        metadata=_flag(
            'JSON file {"ACCESS_KEY_ID": "SECRET"}: every API request must be SigV4-signed by one'
            " of these keys (re-read on SIGHUP). See docs/security.md."
        ),
    )
    allow_origin: tuple[str, ...] = field(
        default=(),
        metadata=_flag(
            "A web origin (https://host:port) whose pages may call the API; repeatable."
        ),
    )
    open_metrics: bool = field(
        default=False,
        metadata=_flag("Serve /metrics without a signature when --auth-keys is on (for scrapers)."),
    )
    log_retention_mb: float = field(
        default=DEFAULT_LOG_RETENTION_MB,
        metadata=_flag(
            "MB of function log kept per function (log group); the oldest lines go first.",
            minimum=0.01,
        ),
    )
    log_retention_total_mb: float = field(
        default=DEFAULT_LOG_RETENTION_TOTAL_MB,
        metadata=_flag(
            "MB of function log kept for the whole node; the oldest lines of any function go"
            " first.",
            minimum=0.01,
        ),
    )
    log_file: Path | None = field(
        default=None,
        metadata=_flag("Also write the node's own log to this file, rotated by size."),
    )
    log_file_max_mb: float = field(
        default=DEFAULT_LOG_FILE_MAX_MB,
        metadata=_flag("Size at which --log-file rotates; 5 older files are kept.", minimum=0.01),
    )

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def public_base(self) -> str:
        """Where URLs handed to clients point (SQS queue URLs, code Locations): --public-url,
        else this node."""
        return (self.public_url or self.endpoint_url).rstrip("/")

    @property
    def unreserved_floor(self) -> int:
        """What reservations must leave unreserved (AWS: 100; scaled for small limits)."""
        if self.unreserved_minimum is not None:
            return self.unreserved_minimum
        return min(100, self.account_concurrency // 10)


@dataclass(frozen=True)
class Flag:
    """One `lamina serve` flag, as `Settings` defines it."""

    name: str  # the Settings field
    kind: type  # str, int, float, bool or Path (an optional field: its non-None type)
    default: Any
    help: str
    minimum: float | None
    choices: tuple[str, ...]
    multiple: bool = False  # repeatable: the field is a tuple of `kind`

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def envvar(self) -> str:
        return ENV_PREFIX + self.name.upper()


def flags() -> list[Flag]:
    """Every flag of `lamina serve`, in `Settings` order."""
    hints = typing.get_type_hints(Settings)
    return [
        Flag(
            name=f.name,
            kind=_plain(hints[f.name]),
            default=f.default,
            help=f.metadata["help"],
            minimum=f.metadata["minimum"],
            choices=f.metadata["choices"],
            multiple=typing.get_origin(hints[f.name]) is tuple,
        )
        for f in fields(Settings)
    ]


def _plain(hint: Any) -> type:
    """`int` for `int | None`, `str` for `tuple[str, ...]`; the hint itself otherwise."""
    if typing.get_origin(hint) is tuple:
        return typing.cast(type, typing.get_args(hint)[0])
    if isinstance(hint, types.UnionType):
        (kind,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
        return typing.cast(type, kind)
    return typing.cast(type, hint)
