"""One connection of its own for the scripts every invoke runs (slot admission and release).

Through redis-py's asyncio client one command costs ~150 µs of the node's CPU (a pool checkout
under a condition, a timeout context, retry wrappers, generic packing and parsing), four times
the round trip itself; on a small machine, where the node shares its cores with redis-server
and the functions, that CPU is latency. `ScriptLink` writes EVALSHA straight to its socket (the
head naming the script and its keys packed once per key set, only the arguments per call),
reads the replies with hiredis, and pairs them with their callers in order: Redis answers a
connection's commands in the order they were sent, so any number of calls share the one
connection, pipelined.

A script the server does not know (restarted, SCRIPT FLUSH) is sent again once as EVAL, which
loads it. A call that finds the connection gone opens a new one; a call in flight when the
connection is lost is sent once more on a new one (the scripts run here are idempotent: a slot
id added twice is one slot, removed twice is gone), and fails with StoreError if that breaks
too. A call not answered within `answer_timeout_s` fails with StoreError, as does every other
call in flight then: the connection is dropped, since later replies could no longer be paired.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import hiredis
from redis.asyncio.connection import parse_url

from lamina.errors import StoreError

log = logging.getLogger("lamina.store.redis")

#: Heads kept per link (one per script and key set, so per function); beyond it they are
#: packed again rather than kept.
MAX_HEADS = 4096


def pack(*parts: bytes) -> bytes:
    """RESP bulk strings, without the array header."""
    return b"".join(b"$%d\r\n%b\r\n" % (len(p), p) for p in parts)


def as_arg(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, float):
        return repr(value).encode()
    return str(value).encode()


class _Lost(StoreError):
    """The connection went away before the reply came (the command may or may not have run)."""


class _Call:
    """One command sent: who waits for its reply (nobody: log a failure), and the EVAL form to
    send if the server answers NOSCRIPT."""

    __slots__ = ("again", "future", "timer", "what")

    def __init__(self, future: asyncio.Future[Any] | None, what: str, again: bytes | None) -> None:
        self.future = future
        self.what = what
        self.again = again
        self.timer: asyncio.TimerHandle | None = None

    def settle(self, reply: Any) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if isinstance(reply, hiredis.ReplyError):
            self.fail(StoreError(f"redis: {reply}"))
        elif self.future is not None and not self.future.done():
            self.future.set_result(reply)

    def fail(self, exc: StoreError) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.future is None:
            log.warning("%s failed: %s", self.what, exc)
        elif not self.future.done():
            self.future.set_exception(exc)


def _no_script(reply: Any) -> bool:
    return isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT")


class _Connection(asyncio.Protocol):
    """One socket: calls waiting for replies, in the order they were sent."""

    def __init__(self, timeout_s: float | None) -> None:
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.waiting: deque[_Call] = deque()
        self.broken = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport (uvloop's too)

    def send(self, command: bytes, call: _Call) -> None:
        if self.broken or self.transport is None:
            call.fail(_Lost("redis: connection lost"))
            return
        self.transport.write(command)
        self.waiting.append(call)
        if self.timeout_s is not None and call.timer is None:
            call.timer = asyncio.get_running_loop().call_later(self.timeout_s, self._timed_out)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            call = self.waiting.popleft()
            again = call.again
            if again is not None and _no_script(reply):
                call.again = None
                self.send(again, call)  # EVAL loads the script for the next EVALSHA
                continue
            call.settle(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._break(_Lost(f"redis: connection lost: {exc or 'closed by the server'}"))

    def _timed_out(self) -> None:
        self._break(StoreError(f"redis: no answer within {self.timeout_s} s"))

    def _break(self, exc: StoreError) -> None:
        self.broken = True
        if self.transport is not None:
            self.transport.abort()
        while self.waiting:
            self.waiting.popleft().fail(exc)


class ScriptLink:
    """The hot scripts of one node on one connection of their own (see the module docstring).

    Parameters:
        url: redis:// or unix:// (rediss:// is not supported here: see `supports`).
        sources: script name -> its Lua source.
    """

    def __init__(
        self,
        url: str,
        sources: dict[str, str],
        *,
        connect_timeout_s: float,
        answer_timeout_s: float | None,
    ) -> None:
        self._where: dict[str, Any] = dict(parse_url(url))
        self.connect_timeout_s = connect_timeout_s
        self.answer_timeout_s = answer_timeout_s
        self._sources = {name: src.encode() for name, src in sources.items()}
        self._shas = {n: hashlib.sha1(s).hexdigest().encode() for n, s in self._sources.items()}
        self._heads: dict[tuple[str, tuple[str, ...]], bytes] = {}
        self._conn: _Connection | None = None
        self._opening = asyncio.Lock()

    @staticmethod
    def supports(url: str) -> bool:
        """Whether `url` is one a link can open (plain TCP or a Unix socket)."""
        return urlsplit(url).scheme in ("redis", "unix")

    @property
    def connected(self) -> bool:
        """Whether the connection is open (so `send` can write at once)."""
        return self._conn is not None and not self._conn.broken

    async def call(self, name: str, keys: Sequence[str], args: Sequence[object]) -> Any:
        """Run script `name` over `keys` with `args` and return its reply.

        Raises:
            StoreError: no connection, an error reply, or no answer in time.
        """
        try:
            return await self._call_once(name, keys, args)
        except _Lost:
            return await self._call_once(name, keys, args)

    async def _call_once(self, name: str, keys: Sequence[str], args: Sequence[object]) -> Any:
        conn = self._conn
        if conn is None or conn.broken:
            conn = await self._open()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._send(conn, name, keys, args, future)
        return await future

    def send(self, name: str, keys: Sequence[str], args: Sequence[object], what: str) -> None:
        """Run script `name` without waiting for its reply (a failure is logged as `what`);
        on an open connection only (`connected`): with none, it is logged as failed at once."""
        conn = self._conn
        if conn is None or conn.broken:
            log.warning("%s failed: redis: not connected", what)
            return
        self._send(conn, name, keys, args, None, what)

    async def flush(self) -> None:
        """Return once every command sent so far is answered (or the connection broke)."""
        conn = self._conn
        if conn is None or conn.broken:
            return
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.send(b"*1\r\n" + pack(b"PING"), _Call(future, "PING", None))
        with contextlib.suppress(StoreError):
            await future

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    def _send(
        self,
        conn: _Connection,
        name: str,
        keys: Sequence[str],
        args: Sequence[object],
        future: asyncio.Future[Any] | None,
        what: str = "",
    ) -> None:
        head_key = (name, tuple(keys))
        head = self._heads.get(head_key)
        if head is None:
            if len(self._heads) >= MAX_HEADS:
                self._heads.clear()
            head = pack(str(len(keys)).encode(), *(k.encode() for k in keys))
            self._heads[head_key] = head
        tail = head + pack(*(as_arg(a) for a in args))
        count = b"*%d\r\n" % (3 + len(keys) + len(args))
        again = count + pack(b"EVAL", self._sources[name]) + tail
        conn.send(count + pack(b"EVALSHA", self._shas[name]) + tail, _Call(future, what, again))

    async def _open(self) -> _Connection:
        async with self._opening:
            if self._conn is not None and not self._conn.broken:
                return self._conn
            loop = asyncio.get_running_loop()
            conn = _Connection(self.answer_timeout_s)
            where = self._where
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    if "path" in where:
                        await loop.create_unix_connection(lambda: conn, where["path"])
                    else:
                        host, port = where.get("host", "localhost"), where.get("port", 6379)
                        await loop.create_connection(lambda: conn, host, port)
                    for command in self._hello():
                        future: asyncio.Future[Any] = loop.create_future()
                        conn.send(command, _Call(future, "hello", None))
                        await future
            except (OSError, TimeoutError) as exc:
                conn._break(StoreError(f"redis: {type(exc).__name__}: {exc}"))
                raise StoreError(f"redis: {type(exc).__name__}: {exc}") from exc
            except StoreError:
                conn._break(StoreError("redis: could not open the connection"))
                raise
            self._conn = conn
            return conn

    def _hello(self) -> list[bytes]:
        """AUTH and SELECT, as the URL asks."""
        where, commands = self._where, []
        password = where.get("password")
        if password is not None:
            user = where.get("username")
            creds = [b"AUTH", *([user.encode()] if user else []), password.encode()]
            commands.append(b"*%d\r\n" % len(creds) + pack(*creds))
        db = int(where.get("db") or 0)
        if db:
            commands.append(b"*2\r\n" + pack(b"SELECT", str(db).encode()))
        return commands
