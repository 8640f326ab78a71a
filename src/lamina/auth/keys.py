"""The access keys a node accepts: the `--auth-keys` file, re-read on SIGHUP, plus a node key.

The file is JSON, `{"ACCESS_KEY_ID": "SECRET", ...}`. The node key is made fresh in each node
process and handed to execution environments (as `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`),
so a handler that calls this node through boto3 signs with a key the node accepts. It is never
written anywhere else.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("lamina.auth")

#: Host names that only reach this machine.
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


@dataclass(frozen=True)
class AccessKey:
    """One access key id and its secret."""

    key_id: str
    secret: str


def _new_node_key() -> AccessKey:
    return AccessKey("AKIALAMINA" + secrets.token_hex(5).upper(), secrets.token_urlsafe(30))


#: This process's node key (environments get it; it is accepted whenever auth is on).
NODE_KEY = _new_node_key()


class KeyFileError(ValueError):
    """The --auth-keys file is missing, not JSON, or not a map of strings to strings."""


def read_key_file(path: Path) -> dict[str, str]:
    """The keys in `path`. Raises KeyFileError with the reason."""
    try:
        found = json.loads(path.read_text())
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise KeyFileError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(found, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in found.items()
    ):
        raise KeyFileError(f'{path} must be a JSON object {{"ACCESS_KEY_ID": "SECRET", ...}}')
    return found


class KeyRing:
    """The secrets by key id; `enabled` is False when the node runs without --auth-keys."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._secrets: dict[str, str] = {}
        if path is not None:
            self._secrets = read_key_file(path)
            log.info("auth: %d access keys loaded from %s", len(self._secrets), path)

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def secret(self, key_id: str) -> str | None:
        if key_id == NODE_KEY.key_id:
            return NODE_KEY.secret
        return self._secrets.get(key_id)

    def reload(self) -> None:
        """Re-read the key file (on SIGHUP); a bad file keeps the keys already loaded."""
        if self.path is None:
            return
        try:
            self._secrets = read_key_file(self.path)
        except KeyFileError as exc:
            log.error("auth: keys NOT reloaded, keeping the %d loaded: %s", len(self._secrets), exc)
            return
        log.info("auth: %d access keys reloaded from %s", len(self._secrets), self.path)


@functools.lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """Whether listening on `host` exposes the node to this machine only (cached: the guard
    asks for every request's Host)."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, auth_keys: Path | None) -> str | None:
    """The loud warning for a node others can reach without authentication, if it is one."""
    if auth_keys is not None or is_loopback(host):
        return None
    return (
        f"\n{'!' * 78}\n"
        f"!! WARNING: listening on {host} WITHOUT --auth-keys.\n"
        "!! Anyone who can reach this port can create functions and run code as this user.\n"
        "!! Start with --auth-keys FILE (see docs/security.md) or listen on 127.0.0.1.\n"
        f"{'!' * 78}"
    )
