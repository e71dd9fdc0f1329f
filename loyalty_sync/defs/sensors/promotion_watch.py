"""Which promotions of an org's catalogue are new since the last look, and the cursor for it.

The promotion catalogue (`GET /v3/promotions?sortBy=lastModifiedOn`) is read newest first.
Per org the cursor keeps a watermark: the newest `lastModifiedOn` seen and the ids modified
at exactly that instant (several promotions can share a millisecond, and a page boundary
can fall between them). A later look reads pages until they are older than the watermark,
so a quiet catalogue costs one call per org.

A promotion modified after the watermark is either new or a change to a promotion that
existed before: it is new when it was *created* after the watermark (or at it, without
having been seen). Changes to known promotions are left to the daily sync.

The API pages do not promise a direction for `sortBy`; pages are only cut short when they
really are in descending order, so an ascending catalogue is read whole rather than missed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from loyalty_sync.capillary.client import CapillaryClient
from loyalty_sync.capillary.models import CataloguePromotion

CATALOGUE_PAGE_SIZE = 100


@dataclass(frozen=True)
class OrgMark:
    """What one org's catalogue looked like at the last look.

    `modified` is None when the catalogue was empty: every promotion listed later is new.
    """

    modified: datetime | None
    ids: frozenset[int] = frozenset()

    def is_newer(self, when: datetime) -> bool:
        return self.modified is None or when > self.modified

    def has_seen(self, promotion_id: int, modified: datetime) -> bool:
        return self.modified is not None and (
            modified < self.modified or (modified == self.modified and promotion_id in self.ids)
        )

    def advanced(self, promotions: Sequence[CataloguePromotion]) -> OrgMark:
        """This mark moved on past `promotions` (the newest instant and its ids)."""
        mark = self
        for promotion in promotions:
            when, pid = _modified(promotion), promotion.promotion_id
            if when is None or pid is None:
                continue
            if mark.is_newer(when):
                mark = OrgMark(when, frozenset({pid}))
            elif when == mark.modified:
                mark = OrgMark(when, mark.ids | {pid})
        return mark


@dataclass(frozen=True)
class CatalogueCursor:
    """Every watched org's mark, as the JSON a Dagster sensor cursor holds."""

    orgs: dict[int, OrgMark] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                str(org_id): {
                    "modified": mark.modified.isoformat() if mark.modified else None,
                    "ids": sorted(mark.ids),
                }
                for org_id, mark in sorted(self.orgs.items())
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> CatalogueCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            {
                int(org_id): OrgMark(
                    datetime.fromisoformat(mark["modified"]) if mark.get("modified") else None,
                    frozenset(int(i) for i in mark.get("ids", [])),
                )
                for org_id, mark in data.items()
            }
        )

    def with_mark(self, org_id: int, mark: OrgMark) -> CatalogueCursor:
        return CatalogueCursor({**self.orgs, org_id: mark})


@dataclass(frozen=True)
class OrgScan:
    """One look at an org's catalogue: the promotions never seen before and the new mark."""

    org_id: int
    new: list[CataloguePromotion]
    mark: OrgMark
    pages: int
    first_look: bool


def _modified(promotion: CataloguePromotion) -> datetime | None:
    return promotion.last_modified_on or promotion.metadata.created_on


def _times(items: Sequence[CataloguePromotion]) -> list[datetime]:
    """The page's modification times, in page order (promotions without one left out)."""
    return [t for t in map(_modified, items) if t is not None]


def _descending(times: Sequence[datetime]) -> bool:
    return all(a >= b for a, b in pairwise(times))


def _is_new(promotion: CataloguePromotion, mark: OrgMark) -> bool:
    """Created after the mark (or at it, unseen): not a change to a known promotion."""
    pid = promotion.promotion_id
    created = promotion.metadata.created_on or _modified(promotion)
    if pid is None or created is None:
        return False
    return not mark.has_seen(pid, created)


def _pages(client: CapillaryClient, org_id: int) -> Iterator[list[CataloguePromotion]]:
    return client.promotion_catalogue_pages(org_id, page_size=CATALOGUE_PAGE_SIZE)


def scan_org(client: CapillaryClient, org_id: int, mark: OrgMark | None) -> OrgScan:
    """Read `org_id`'s catalogue down to `mark`; None (first look) only records the state.

    The first look requests nothing: promotions that existed before the sensor was turned
    on are the daily sync's to bring in, not a flood of one run each.
    """
    pages = 0
    if mark is None:
        seen: list[CataloguePromotion] = []
        for items in _pages(client, org_id):
            pages += 1
            seen.extend(items)
            if _descending(_times(items)):
                break  # the first page holds the newest
        return OrgScan(org_id, [], OrgMark(None).advanced(seen), pages, first_look=True)

    fresh: list[CataloguePromotion] = []
    for items in _pages(client, org_id):
        pages += 1
        for promotion in items:
            when, pid = _modified(promotion), promotion.promotion_id
            if when is not None and pid is not None and not mark.has_seen(pid, when):
                fresh.append(promotion)
        times = _times(items)
        if times and _descending(times) and mark.modified is not None and times[-1] < mark.modified:
            break
    new = [p for p in fresh if _is_new(p, mark)]
    new.sort(key=lambda p: p.promotion_id or 0)
    return OrgScan(org_id, new, mark.advanced(fresh), pages, first_look=False)
