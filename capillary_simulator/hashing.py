"""Stable pseudo-random numbers keyed by a record's coordinates.

Every record of the simulated data draws from its own stream, keyed by (seed, kind of
record, coordinates). Deriving one record therefore never depends on which other records
were derived before it, so data can be produced lazily, in any order, in any process, and
still come out the same. Python's `hash()` is salted per process and is never used.
"""

from __future__ import annotations

import random
from enum import IntEnum

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


class Tag(IntEnum):
    """Kinds of record, so that streams of different kinds never coincide."""

    NAME = 1
    CUSTOMER = 2
    MEMBERSHIP = 3
    ENROLMENT = 4
    PROGRAM = 5
    PROMOTION = 6
    UUID = 7
    HOLDS = 8
    NO_BENEFIT = 9
    BENEFITS = 10
    ANOMALY = 11
    FAULTS = 12
    LATENCY = 13
    TOKEN = 14
    INCENTIVES = 15
    POINTS_FREE = 16
    CHURN = 17
    CHURN_KIND = 18
    CHURN_DETAIL = 19


def _splitmix(value: int) -> int:
    z = (value + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def mix(*parts: int) -> int:
    """A 64-bit value that depends on every part and their order."""
    state = _GOLDEN
    for part in parts:
        state = _splitmix(state ^ (part & _MASK))
    return state


def unit(*parts: int) -> float:
    """A float in [0, 1) keyed by `parts`."""
    return mix(*parts) / 18446744073709551616.0


def rng(*parts: int) -> random.Random:
    """A private `random.Random` for one record."""
    return random.Random(mix(*parts))
