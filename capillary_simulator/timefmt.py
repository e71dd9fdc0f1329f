"""Times in the formats each endpoint uses, from epoch milliseconds.

The data keeps every instant as epoch milliseconds (derived from the configured reference
date, never the wall clock); each endpoint then renders it the way its reference page
shows: UTC `Z` times in customer details, ISO with an India offset in v2 actionSummary,
milliseconds-with-`Z` in promotionData and the catalogue, plain epoch ms in v3.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

DAY_MS = 86_400_000
IST = timezone(timedelta(hours=5, minutes=30))
# actionSummary (v2 and v3) reports only benefits earned on or after this day.
BENEFITS_CUTOFF = date(2025, 6, 12)


def date_ms(day: date) -> int:
    """Epoch milliseconds of midnight UTC starting `day`."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


BENEFITS_CUTOFF_MS = date_ms(BENEFITS_CUTOFF)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso_z(ms: int) -> str:
    """`2025-02-28T06:15:10Z`"""
    return _utc(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=8192)  # promotion dates, rendered for every promotion of every page
def iso_millis_z(ms: int) -> str:
    """`2024-08-30T00:00:00.000Z`"""
    moment = _utc(ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def iso_ist(ms: int) -> str:
    """`2025-03-22T17:36:21+05:30`"""
    return datetime.fromtimestamp(ms / 1000, tz=IST).isoformat(timespec="seconds")


def day_text(ms: int) -> str:
    """`2025-09-05`"""
    return _utc(ms).strftime("%Y-%m-%d")


def end_of_day_z(day: date) -> str:
    """`2125-02-28T23:59:59Z`"""
    return f"{day.isoformat()}T23:59:59Z"


def parse_instant_ms(text: str) -> int:
    """Epoch ms of an ISO date or date-time (UTC when no offset is given)."""
    text = text.strip()
    if len(text) == 10:
        return date_ms(date.fromisoformat(text))
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
