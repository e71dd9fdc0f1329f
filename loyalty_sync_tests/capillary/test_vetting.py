"""Which decoded answers cannot be stored, and how the one line names where."""

from __future__ import annotations

from typing import Any

import pytest

from loyalty_sync.capillary.vetting import BIGINT_MAX, MAX_DEPTH, MAX_TEXT_CHARS, problem


def _nested(depth: int) -> Any:
    body: Any = "leaf"
    for _ in range(depth - 1):
        body = [body]
    return body


def test_an_ordinary_answer_is_storable() -> None:
    body = {
        "customers": [{"id": 1, "points": 12.5, "active": True, "name": "Åsa", "tags": None}],
        "count": BIGINT_MAX,
    }
    assert problem(body) is None


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"a": {"name": "x\x00y"}}, "$.a.name holds a NUL byte"),
        ({"a": ["ok", "\ud800"]}, "$.a[1] holds invalid UTF-8 (a lone surrogate)"),
        ({"points": float("nan")}, "$.points is nan (not a finite number)"),
        ({"points": float("-inf")}, "$.points is -inf (not a finite number)"),
        ({"id": BIGINT_MAX + 1}, "$.id is a number of 19 digits (beyond 64 bits)"),
        ({"id": -(BIGINT_MAX + 2)}, "$.id is a number of 19 digits (beyond 64 bits)"),
        ({"bad\x00key": 1}, "$ (a key) holds a NUL byte"),
        ({"x": "y" * (MAX_TEXT_CHARS + 1)}, f"$.x is {MAX_TEXT_CHARS + 1:,} characters long"),
    ],
    ids=["nul", "surrogate", "nan", "inf", "bigint", "negative-bigint", "key", "long-text"],
)
def test_the_first_problem_names_its_place(body: Any, said: str) -> None:
    found = problem(body)
    assert found is not None and found.startswith(said)
    assert "\n" not in found


def test_nesting_is_limited_without_recursion() -> None:
    assert problem(_nested(MAX_DEPTH)) is None
    deep = problem(_nested(MAX_DEPTH + 1))
    assert deep is not None and deep.startswith(f"JSON nested deeper than {MAX_DEPTH} levels")
    # Far deeper than Python's recursion limit: still one line, no RecursionError.
    assert (problem(_nested(100_000)) or "").startswith("JSON nested deeper")


def test_an_odd_key_is_quoted_and_cut_in_the_path() -> None:
    found = problem({"a strange key that goes on and on": {"v": float("nan")}})
    assert found == "$.'a strange key that goes '.v is nan (not a finite number)"


def test_booleans_and_limits_themselves_pass() -> None:
    assert problem([True, False, -BIGINT_MAX, "z" * MAX_TEXT_CHARS, 1e308]) is None
