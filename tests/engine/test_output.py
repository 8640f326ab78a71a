"""The output splitter: segments at sentinels, however the bytes arrive; a flood is bounded."""

from __future__ import annotations

from lamina.engine.output import MAX_OUTPUT_BYTES, OUTPUT_TAIL_BYTES, OutputSplitter

SENTINEL = b"<<end-0123456789>>"


def test_segments_split_at_sentinels_even_when_one_arrives_in_pieces() -> None:
    splitter = OutputSplitter(SENTINEL)
    stream = b"one\n" + SENTINEL + b"two\n" + SENTINEL + b"three"
    found = [splitter.feed(stream[i : i + 5]) for i in range(0, len(stream), 5)]
    assert any(found)
    assert list(splitter.segments) == ["one\n", "two\n"]
    assert splitter.rest() == "one\ntwo\nthree"


def test_a_flood_keeps_its_head_and_tail_and_says_how_much_was_dropped() -> None:
    splitter = OutputSplitter(SENTINEL)
    line = b"x" * 1023 + b"\n"
    for _ in range(20 * 1024):  # 20 MiB in 1 KiB lines
        splitter.feed(line)
    splitter.feed(b"last line\n" + SENTINEL)
    (segment,) = splitter.segments
    dropped = 20 * 1024 * 1024 - MAX_OUTPUT_BYTES
    assert f"[Lamina] {dropped} bytes of output dropped here" in segment
    assert segment.endswith("last line\n")
    assert len(segment) < MAX_OUTPUT_BYTES + 200
    assert segment.index("\n[Lamina]") == MAX_OUTPUT_BYTES - OUTPUT_TAIL_BYTES  # the head kept
