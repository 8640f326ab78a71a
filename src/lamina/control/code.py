"""Function code: check a zip, name it by its SHA-256, and unpack it once per digest."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import InvalidParameterValue, RequestTooLarge, StoreError

#: Largest zip accepted by CreateFunction / UpdateFunctionCode (ZipFile upload).
MAX_ZIP_BYTES = 52_428_800
#: Largest unzipped size of a function's code.
MAX_UNZIPPED_BYTES = 262_144_000


@dataclass(frozen=True)
class CodePackage:
    """A checked zip: its bytes, hex digest (blob key), AWS CodeSha256, size and unzipped size."""

    data: bytes
    digest: str
    code_sha256: str
    size: int
    unzipped_size: int = 0


#: What a zip whose headers lie, or whose data is corrupt, raises while being read.
_CORRUPT_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    OSError,
)
_UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."


async def checked_zip(data: bytes) -> CodePackage:
    """`check_zip` off the event loop (it decompresses every entry once)."""
    return await asyncio.to_thread(check_zip, data)


def _check_entries(zf: zipfile.ZipFile) -> None:
    """Read every entry through (bounded by its declared size) and check its CRC."""
    try:
        bad = zf.testzip()
    except _CORRUPT_ZIP_ERRORS as exc:
        raise InvalidParameterValue(_UNZIP_FAILED) from exc
    if bad is not None:
        raise InvalidParameterValue(_UNZIP_FAILED)


def check_zip(data: bytes) -> CodePackage:
    """Validate `data` as a function zip. Raises InvalidParameterValue / RequestTooLarge.

    Headers are not trusted: each entry is decompressed once (never past its declared size)
    and its CRC compared, so a zip that lies about its sizes is refused here, before any blob
    or directory is written for it.
    """
    if len(data) > MAX_ZIP_BYTES:
        raise RequestTooLarge(f"Zipped size must be smaller than {MAX_ZIP_BYTES} bytes")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except _CORRUPT_ZIP_ERRORS as exc:
        raise InvalidParameterValue(_UNZIP_FAILED) from exc
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValue(
            f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
        )
    for info in infos:
        name = info.filename
        if name.startswith("/") or ".." in Path(name).parts:
            raise InvalidParameterValue(f"Zip entry has an unsafe path: {name}")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        _check_entries(zf)
    raw = hashlib.sha256(data).digest()
    return CodePackage(data, raw.hex(), base64.b64encode(raw).decode(), len(data), total)


def unzipped_size(data: bytes) -> int:
    """Bytes `data` (a zip already checked once) holds unzipped, as its headers declare."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return sum(i.file_size for i in zf.infolist())


class CodeCache:
    """Unpacked code directories under `<data-dir>/code/<digest>`, made once per digest."""

    def __init__(self, root: Path) -> None:
        # Absolute: environments run with the code directory as cwd and on sys.path, where a
        # relative path (the default `--data-dir .lamina`) would point somewhere else.
        self.root = root.absolute()
        self._locks: dict[str, asyncio.Lock] = {}

    def path(self, digest: str) -> Path:
        return self.root / digest

    async def ensure(self, digest: str, load: bytes | None) -> Path:
        """The directory holding `digest` unpacked; unpack `load` there if it isn't yet."""
        target = self.path(digest)
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            if not target.is_dir():
                if load is None:
                    raise FileNotFoundError(digest)
                try:
                    await asyncio.to_thread(_unpack, load, target)
                except OSError as exc:  # a full disk: the partial copy is already gone
                    raise StoreError(f"cannot unpack code: {exc}") from exc
        return target

    async def remove(self, digest: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.path(digest), True)


def _unpack(data: bytes, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(tmp)
            for info in zf.infolist():  # keep the executable bits Unix zips carry
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(tmp / info.filename, mode | 0o400)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
