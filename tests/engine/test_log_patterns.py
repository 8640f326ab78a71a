"""CloudWatch Logs filter patterns on unstructured lines: what matches and what is refused."""

from __future__ import annotations

import pytest

from lamina.errors import LogsInvalidParameter
from lamina.logs.patterns import compile_pattern

LINES = [
    "START RequestId: 1 Version: $LATEST",
    "[ERROR] ValueError: disk full",
    "WARN slow disk, Retrying",
    'said "hello there"',
    "Task timed out after 3.00 seconds",
]


def matching(pattern: str | None) -> list[str]:
    match = compile_pattern(pattern)
    return [line for line in LINES if match(line)]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (None, LINES),
        ("   ", LINES),
        ("ERROR", [LINES[1]]),
        ("disk full", [LINES[1]]),  # both terms, anywhere
        ("error", []),  # terms are case-sensitive
        ('"timed out after"', [LINES[4]]),
        ('"disk, Retrying"', [LINES[2]]),
        ("?ERROR ?WARN", [LINES[1], LINES[2]]),
        ("disk -Retrying", [LINES[1]]),
        ("%dis[k] (full|slow)%", [LINES[1]]),
        ('"\\"hello"', [LINES[3]]),
    ],
)
def test_patterns_match_as_cloudwatch_does(pattern: str | None, expected: list[str]) -> None:
    assert matching(pattern) == expected


@pytest.mark.parametrize("pattern", ["{ $.level = 1 }", "[ip, user]", "%(unclosed%"])
def test_structured_and_broken_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(LogsInvalidParameter, match="filter pattern"):
        compile_pattern(pattern)
