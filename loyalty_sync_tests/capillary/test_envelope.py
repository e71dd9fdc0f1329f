"""Reading answers: Retry-After, error bodies, catalogue page shapes."""

from __future__ import annotations

import email.utils
import time

import pytest

from loyalty_sync.capillary.envelope import catalogue_page, first_error, retry_after_seconds


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after_seconds(later) or 0) <= 31


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"errors": [{"status": False, "code": 8015, "message": "not found"}], "warnings": []},
            (8015, "not found"),
        ),
        (
            {"data": None, "errors": [{"code": "9002", "message": "no"}], "warnings": None},
            (9002, "no"),
        ),
        ({"data": {"errors": [{"code": 500, "message": "x"}]}}, (500, "x")),
        ({"errors": [], "warnings": []}, (None, None)),
        ({"errors": None}, (None, None)),
        ([1, 2], (None, None)),
    ],
)
def testfirst_error(body: object, expected: tuple[int | None, str | None]) -> None:
    assert first_error(body) == expected


@pytest.mark.parametrize(
    ("body", "pages", "total"),
    [
        ({"data": [{"a": 1}], "page": {"totalPages": 3, "totalElements": 7}}, 3, 7),
        ({"data": {"content": [{"a": 1}], "totalPages": 2, "totalElements": 4}}, 2, 4),
        ({"data": [{"a": 1}], "pageDetails": {"pageCount": 5, "totalEntries": 9}}, 5, 9),
        ({"data": [{"a": 1}]}, None, None),
        ([{"a": 1}], None, None),
    ],
)
def test_catalogue_page_shapes(body: object, pages: int | None, total: int | None) -> None:
    items, total_pages, total_items = catalogue_page(body)
    assert items == [{"a": 1}]
    assert (total_pages, total_items) == (pages, total)
