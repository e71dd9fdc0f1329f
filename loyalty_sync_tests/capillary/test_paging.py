"""Paging on its own: when an answer ends, and how one that never ends is stopped.

The rules are checked with plain fetch functions; the two paged endpoints are then driven
through a whole client over `httpx.MockTransport`, so a server's page arithmetic can be
as wrong as a test needs without starting one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from loyalty_sync.capillary.auth import Credentials
from loyalty_sync.capillary.client import CapillaryClient, ClientSettings
from loyalty_sync.capillary.errors import UnusableAnswer
from loyalty_sync.capillary.paging import Page, PageGuard, PageRequest, PageTotals, read_pages
from loyalty_sync.capillary.ratelimit import MemoryRateLimiter

NO_TOTALS = PageTotals()


def _pages(counts: list[int], totals: PageTotals = NO_TOTALS, size: int = 3) -> list[PageRequest]:
    """The requests `read_pages` makes when the server answers pages of `counts` items."""
    asked: list[PageRequest] = []

    def fetch(request: PageRequest) -> Page[int]:
        asked.append(request)
        count = counts[request.number] if request.number < len(counts) else 0
        return Page(count, count, totals)

    list(read_pages(fetch, size))
    return asked


def test_a_short_page_is_the_last() -> None:
    asked = _pages([3, 3, 1])
    assert [(r.number, r.offset) for r in asked] == [(0, 0), (1, 3), (2, 6)]


def test_an_empty_page_ends_an_answer_of_full_pages() -> None:
    assert len(_pages([3, 3])) == 3


def test_the_stated_item_total_ends_the_answer() -> None:
    assert len(_pages([3, 3, 3], PageTotals(items=6))) == 2


def test_the_stated_page_count_ends_the_answer() -> None:
    assert len(_pages([3, 3, 3], PageTotals(pages=1))) == 1


def test_request_parameters_of_both_styles() -> None:
    request = PageRequest(100).after(100).after(100)
    assert request.limit_offset() == {"limit": 100, "offset": 200}
    assert request.page_size() == {"page": 2, "size": 100}


def test_pages_are_fetched_only_when_used() -> None:
    asked: list[PageRequest] = []

    def fetch(request: PageRequest) -> Page[int]:
        asked.append(request)
        return Page(request.number, 3)

    pages = read_pages(fetch, 3)
    assert asked == []
    assert next(pages) == 0 and len(asked) == 1


def _guard(cap: int = 3) -> PageGuard[tuple[int, int]]:
    return PageGuard(
        lambda item: item, cap, lambda reason: UnusableAnswer(None, reason), "promotion"
    )


def test_the_guard_keeps_each_item_once_within_a_page() -> None:
    guard = _guard()
    guard.add([(1, 10), (1, 10), (1, 11)])
    guard.add([(1, 12)])
    assert guard.items == [(1, 10), (1, 11), (1, 12)] and guard.pages == 2


def test_the_guard_stops_a_page_that_repeats_an_earlier_one() -> None:
    guard = _guard()
    guard.add([(1, 10)])
    with pytest.raises(UnusableAnswer, match="page 2 repeats promotion 10 of an earlier"):
        guard.add([(1, 11), (1, 10)])


def test_the_guard_stops_at_the_page_cap() -> None:
    guard = _guard(cap=2)
    guard.add([(1, 1)])
    guard.add([(1, 2)])
    with pytest.raises(UnusableAnswer, match=r"more than 2 pages \(2 promotions so far\)"):
        guard.add([(1, 3)])


# --- Through the client --------------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def mock_client() -> Iterator[Callable[..., CapillaryClient]]:
    made: list[CapillaryClient] = []

    def make(handler: Handler, **settings: object) -> CapillaryClient:
        http = httpx.Client(
            base_url="http://capillary.test", transport=httpx.MockTransport(handler)
        )
        client = CapillaryClient(
            ClientSettings(base_url="http://capillary.test", own_org_id=1, **settings),
            Credentials("till", "secret-password"),
            MemoryRateLimiter(60_000),
            http=http,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _promotion_data(
    request: httpx.Request, total: int, repeat_from: int | None = None
) -> httpx.Response:
    """promotionData for a customer holding `total` promotions; from page `repeat_from` on,
    the server starts its pages over."""
    limit = int(request.url.params["limit"])
    offset = int(request.url.params["offset"])
    if repeat_from is not None and offset >= repeat_from * limit:
        offset = 0
    ids = range(offset, min(offset + limit, total))
    body = {
        "customerId": 7,
        "pageDetails": {"totalEntries": total},
        "promotions": [{"promotionId": 1000 + i, "programId": 5, "orgId": 1} for i in ids],
        "warnings": [],
    }
    return httpx.Response(200, content=json.dumps(body).encode())


def test_promotion_data_reads_every_page_once(mock_client: Callable[..., CapillaryClient]) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["offset"])
        return _promotion_data(request, total=25)

    result = mock_client(handler).promotion_data(1, "id", 7, page_size=10)
    assert seen == ["0", "10", "20"]
    assert result.pages == 3 and len(result.promotions) == 25 and result.customer_id == 7


def test_promotion_data_that_starts_over_is_stopped(
    mock_client: Callable[..., CapillaryClient],
) -> None:
    client = mock_client(lambda request: _promotion_data(request, total=10_000, repeat_from=2))
    with pytest.raises(UnusableAnswer, match="page 3 repeats promotion 1000"):
        client.promotion_data(1, "id", 7, page_size=10)
    assert client.stats.snapshot()["errors_by_code"] == {"unusable": 1}


def test_promotion_data_past_the_page_cap_is_stopped(
    mock_client: Callable[..., CapillaryClient],
) -> None:
    client = mock_client(
        lambda request: _promotion_data(request, total=10_000), promotion_data_max_pages=4
    )
    with pytest.raises(UnusableAnswer, match=r"more than 4 pages .*\(promotion_data_max_pages\)"):
        client.promotion_data(1, "id", 7, page_size=10)
    assert client.stats.snapshot()["calls_by_endpoint"] == {"promotion_data": 5}


def test_the_catalogue_pages_by_number_until_its_page_count(
    mock_client: Callable[..., CapillaryClient],
) -> None:
    asked: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page, size = request.url.params["page"], request.url.params["size"]
        asked.append((page, size))
        items = [{"id": int(page) * 2 + i, "name": f"p{page}{i}"} for i in range(2)]
        body = {"data": {"content": items, "totalPages": 3}}
        return httpx.Response(200, content=json.dumps(body).encode())

    catalogue = mock_client(handler).promotion_catalogue(1, page_size=2)
    assert asked == [("0", "2"), ("1", "2"), ("2", "2")]
    assert len(catalogue.promotions) == 6 and catalogue.pages == 3 and catalogue.complete
