"""What makes a decoded answer storable, checked once before any model reads it.

A body that parses as JSON may still be impossible to keep: Postgres refuses NUL bytes and
lone surrogates in text and jsonb, NaN and infinities in jsonb, integers beyond 64 bits in
bigint columns; a field of megabytes or nesting hundreds deep is no loyalty record. Each
used to surface as a driver error or a RecursionError that failed the whole pass, naming
neither endpoint nor customer. Here the whole body is walked once, iteratively (nesting
cannot exhaust the stack), and the first problem found is returned as one line; the
client raises it as `UnusableAnswer`, so only that item is quarantined.
"""

from __future__ import annotations

import math
import re
from typing import Any

# Deeper than any Capillary answer (a benefit summary nests about 6 levels).
MAX_DEPTH = 48
# Longer than any text Capillary documents (descriptions, custom fields).
MAX_TEXT_CHARS = 65_536
BIGINT_MAX = 2**63 - 1
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_PLAIN = re.compile(r"\w{1,40}")


# Where a node sits: "$", or its parent's place and its key or index. Built as a chain
# and rendered only for the node that has a problem: every answer is walked whole, and
# formatting each node's path cost more than checking it.
Place = str | tuple["Place", str | int]


def problem(body: Any) -> str | None:
    """The first reason `body` cannot be stored, or None; `$.a.b[3]` says where."""
    stack: list[tuple[Any, Place, int]] = [(body, "$", 1)]
    while stack:
        node, place, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"JSON nested deeper than {MAX_DEPTH} levels (at {_path(place)[:40]}...)"
        if isinstance(node, dict):
            for key, value in node.items():
                if _text_problem(key):
                    return _text_problem(key, f"{_path(place)} (a key)")
                stack.append((value, (place, key), depth + 1))
        elif isinstance(node, list):
            stack.extend((value, (place, i), depth + 1) for i, value in enumerate(node))
        elif _scalar_problem(node):
            return _scalar_problem(node, _path(place))
    return None


def _path(place: Place) -> str:
    """`$.a.b[3]` from a place's chain."""
    steps: list[str] = []
    while isinstance(place, tuple):
        place, step = place
        steps.append(f"[{step}]" if isinstance(step, int) else f".{_name(step)}")
    return place + "".join(reversed(steps))


def _name(key: str) -> str:
    """A key as a path step, quoted and cut when it is not a plain name (one line, short)."""
    return key if _PLAIN.fullmatch(key) else repr(key[:24])


def _scalar_problem(value: Any, where: str = "") -> str | None:
    if isinstance(value, str):
        return _text_problem(value, where)
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is {value} (not a finite number)"
    if isinstance(value, int) and abs(value) > BIGINT_MAX:
        return f"{where} is a number of {len(str(abs(value)))} digits (beyond 64 bits)"
    return None


def _text_problem(text: str, where: str = "") -> str | None:
    if len(text) > MAX_TEXT_CHARS:
        return f"{where} is {len(text):,} characters long (more than {MAX_TEXT_CHARS:,})"
    bad = _UNSTORABLE.search(text)
    if bad:
        what = "a NUL byte" if bad.group() == "\x00" else "invalid UTF-8 (a lone surrogate)"
        return f"{where} holds {what}"
    return None
