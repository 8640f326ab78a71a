"""The store contract for blobs: content-addressed bytes under their SHA-256 hex digest."""

from __future__ import annotations

import hashlib

import pytest

from lamina.errors import StoreError
from lamina.store.base import Store

pytestmark = pytest.mark.anyio


async def test_blob_round_trips_and_is_idempotent(store: Store) -> None:
    data = b"zip bytes" * 1000
    digest = hashlib.sha256(data).hexdigest()

    await store.put_blob(digest, data)
    await store.put_blob(digest, data)
    got = await store.get_blob(digest)
    await store.delete_blob(digest)
    await store.delete_blob(digest)

    assert (got, await store.get_blob(digest)) == (data, None)


async def test_a_missing_blob_reads_as_none(store: Store) -> None:
    assert await store.get_blob(hashlib.sha256(b"never stored").hexdigest()) is None


async def test_blob_with_a_wrong_digest_is_refused(store: Store) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(StoreError, match="digest mismatch"):
        await store.put_blob(wrong, b"data")
    assert await store.get_blob(wrong) is None


@pytest.mark.parametrize("digest", ["../../etc/passwd", "ABC", "g" * 64, "0" * 63, "A" * 64])
async def test_blob_keys_must_be_hex_sha256(store: Store, digest: str) -> None:
    with pytest.raises(StoreError):
        await store.get_blob(digest)
    with pytest.raises(StoreError):
        await store.put_blob(digest, b"x")
    with pytest.raises(StoreError):
        await store.delete_blob(digest)


async def test_blobs_and_documents_do_not_share_keys(store: Store) -> None:
    data = b"code"
    digest = hashlib.sha256(data).hexdigest()
    await store.put_blob(digest, data)

    assert await store.get("blob", digest) is None
    assert await store.scan("blob") == []
