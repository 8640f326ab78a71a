"""Settings: every node flag, its LAMINA_* variable and its default, parsed once."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

#: Default port of `lamina serve`.
DEFAULT_PORT = 9001
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


@dataclass(frozen=True)
class Settings:
    """What a node is started with. Flags and LAMINA_<NAME> variables map onto these fields."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=lambda: Path(".lamina"))
    store: str = "sqlite"
    account_concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY
    async_retry_base_delay: float = DEFAULT_ASYNC_RETRY_BASE_DELAY_S
    region: str = "us-east-1"
    account_id: str = "000000000000"
    env_idle_timeout: float = DEFAULT_ENV_IDLE_TIMEOUT_S
    log_level: str = "info"
    fork_server: bool = True
    fsync: bool = False  # fsync every commit (power-cut safe) instead of WAL-only (kill -9 safe)
    memory_budget: int | None = None  # MB; None: three quarters of RAM
    unreserved_minimum: int | None = None  # None: min(100, account_concurrency // 10)
    log_retention_mb: float = DEFAULT_LOG_RETENTION_MB  # function logs per log group
    log_retention_total_mb: float = DEFAULT_LOG_RETENTION_TOTAL_MB  # function logs, whole node
    log_file: Path | None = None  # the node's own log, rotated by size; None: stderr only
    log_file_max_mb: float = DEFAULT_LOG_FILE_MAX_MB

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def unreserved_floor(self) -> int:
        """What reservations must leave unreserved (AWS: 100; scaled for small limits)."""
        if self.unreserved_minimum is not None:
            return self.unreserved_minimum
        return min(100, self.account_concurrency // 10)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
