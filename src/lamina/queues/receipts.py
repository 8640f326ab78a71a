"""Message ids and receipt handles: how the message service names a message and one receive of it.

A receipt handle is the URL-safe base64 of `<store sequence>:<receipt token>`; the token changes
on every receive, so only the newest handle deletes a message or changes its visibility.
"""

from __future__ import annotations

import base64
import binascii
import os

from lamina.errors import SqsError


def message_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as text, from one read of the system's random source
    (one `uuid4()` per message was a fifth of SendMessageBatch's time)."""
    raw = bytearray(os.urandom(16 * count))
    for at in range(0, len(raw), 16):
        raw[at + 6] = (raw[at + 6] & 0x0F) | 0x40  # version 4
        raw[at + 8] = (raw[at + 8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-"
        f"{h[i + 20 : i + 32]}"
        for i in range(0, len(h), 32)
    ]


def receipt_handle(seq: int, receipt: str) -> str:
    return base64.urlsafe_b64encode(f"{seq}:{receipt}".encode()).decode()


def parse_receipt(handle: str | None) -> tuple[int, str]:
    """(store sequence, receipt token) of a handle, or ReceiptHandleIsInvalid."""
    try:
        seq, token = base64.urlsafe_b64decode((handle or "").encode()).decode().split(":")
        return int(seq), token
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise SqsError(
            "ReceiptHandleIsInvalid",
            f'The input receipt handle "{handle}" is not a valid receipt handle.',
        ) from None
