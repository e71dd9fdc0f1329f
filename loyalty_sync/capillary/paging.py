"""One way to walk Capillary's paged answers, whichever style of page an endpoint uses.

promotionData pages by `limit`/`offset` and the promotion catalogue by `page`/`size`, but
both end the same way: a page shorter than asked for is the last, and so is the page that
reaches the total the answer states (items, or else pages). An answer that never ends must
not hold a pass forever, so `PageGuard` stops one at a page cap or at the first page
that repeats an item of an earlier page, which a server looping over its pages does.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

P = TypeVar("P")
T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    """Which page to ask for: `number` pages and `offset` items have been read before it."""

    size: int
    number: int = 0
    offset: int = 0

    def after(self, count: int) -> PageRequest:
        return PageRequest(self.size, self.number + 1, self.offset + count)

    def limit_offset(self) -> dict[str, Any]:
        return {"limit": self.size, "offset": self.offset}

    def page_size(self) -> dict[str, Any]:
        return {"page": self.number, "size": self.size}


@dataclass(frozen=True)
class PageTotals:
    """What an answer says of its whole: items, pages, either or neither."""

    items: int | None = None
    pages: int | None = None


@dataclass(frozen=True)
class Page(Generic[P]):
    """One answer as the caller keeps it, with what paging needs to know of it."""

    value: P
    count: int
    totals: PageTotals = PageTotals()


def is_last(page: Page[Any], following: PageRequest) -> bool:
    """Whether `page` ends the answer, `following` being the request that would come next."""
    if page.count < following.size:
        return True
    totals = page.totals
    if totals.items is not None and following.offset >= totals.items:
        return True
    return totals.pages is not None and following.number >= totals.pages


def read_pages(fetch: Callable[[PageRequest], Page[P]], size: int) -> Iterator[P]:
    """The pages of one answer, lazily, each fetched only when the previous one is used."""
    request = PageRequest(size)
    while True:
        page = fetch(request)
        yield page.value
        request = request.after(page.count)
        if is_last(page, request):
            return


class PageGuard(Generic[T]):
    """Collects the items of an answer's pages once each; stops an answer that never ends.

    `stop` makes the error to raise from a reason, which names the items by `noun` and
    the cap by `cap_name`, the setting that raises it.
    """

    def __init__(
        self,
        key: Callable[[T], Hashable],
        cap: int,
        stop: Callable[[str], Exception],
        noun: str = "item",
        cap_name: str = "max_pages",
    ) -> None:
        self._key = key
        self._cap = cap
        self._stop = stop
        self._noun = noun
        self._cap_name = cap_name
        self.pages = 0
        self._seen: dict[Hashable, T] = {}

    @property
    def items(self) -> list[T]:
        return list(self._seen.values())

    def add(self, items: Iterable[T]) -> None:
        """One more page; an item twice on one page is kept once, as Capillary means it."""
        if self.pages >= self._cap:
            raise self._stop(
                f"more than {self._cap} pages ({len(self._seen):,} {self._noun}s so far): "
                f"paging stopped at the page cap ({self._cap_name})"
            )
        self.pages += 1
        on_page: dict[Hashable, T] = {}
        for item in items:
            key = self._key(item)
            if key in self._seen:
                raise self._stop(
                    f"page {self.pages} repeats {self._noun} {_shown(key)} of an earlier "
                    "page: paging that may never end was stopped"
                )
            on_page.setdefault(key, item)
        self._seen.update(on_page)


def _shown(key: Hashable) -> object:
    """A key as a person knows it: the last part of a compound key is the item's id."""
    return key[-1] if isinstance(key, tuple) and key else key
