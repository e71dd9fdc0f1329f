"""How Capillary wraps its answers: error and warning lists, envelopes, page totals.

The same facts arrive in several shapes (v2 envelope, v3 envelope, bare object, a list
inside `data` or beside it), so the client reads them through these few functions rather
than assuming one shape per endpoint.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds, from either form HTTP allows (delta seconds or a date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def first_error(body: Any) -> tuple[int | None, str | None]:
    """The first `errors` entry of a v2 or v3 body (top level or inside `data`)."""
    if not isinstance(body, dict):
        return None, None
    errors = body.get("errors")
    if not errors and isinstance(body.get("data"), dict):
        errors = body["data"].get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, dict):
            code = first.get("code")
            try:
                code = int(code) if code is not None else None
            except (TypeError, ValueError):
                code = None
            return code, str(first.get("message") or "")
        return None, str(first)
    return None, None


def warning_codes(body: Any) -> list[int | None]:
    found: list[int | None] = []
    for holder in (body, body.get("data") if isinstance(body, dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("warnings"), list):
            for warning in holder["warnings"]:
                found.append(warning.get("code") if isinstance(warning, dict) else None)
    return found


def single_object(body: Any) -> Any:
    """A v2 object at top level, or inside the envelope's `data` (object or one-item list)."""
    if isinstance(body, dict) and "data" in body and "id" not in body:
        data = body["data"]
        if isinstance(data, list) and data:
            data = data[0]
        if isinstance(data, dict):
            return {**data, "warnings": (data.get("warnings") or []) + (body.get("warnings") or [])}
    return body


def catalogue_page(body: Any) -> tuple[list[Any], int | None, int | None]:
    """Items and totals of a /v3/promotions page, from the shapes the API family uses."""
    items: Any = body
    totals: dict[str, Any] = {}
    if isinstance(body, dict):
        data = body.get("data", body)
        if isinstance(data, dict):
            totals = {**body, **data}
            items = next(
                (
                    data[k]
                    for k in ("content", "promotions", "items", "data")
                    if isinstance(data.get(k), list)
                ),
                [],
            )
        else:
            totals = body
            items = data if isinstance(data, list) else []
        for key in ("page", "pageDetails", "pagination"):
            if isinstance(totals.get(key), dict):
                totals = {**totals, **totals[key]}
    if not isinstance(items, list):
        items = []
    total_pages = next(
        (int(totals[k]) for k in ("totalPages", "pageCount") if isinstance(totals.get(k), int)),
        None,
    )
    total_items = next(
        (
            int(totals[k])
            for k in ("totalElements", "totalEntries", "totalCount", "total")
            if isinstance(totals.get(k), int)
        ),
        None,
    )
    return items, total_pages, total_items
