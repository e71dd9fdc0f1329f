"""The catalogue watermark: new vs changed promotions, ties, page cuts, either sort order."""

from collections.abc import Iterator
from typing import Any, cast

from loyalty_sync.capillary.client import CapillaryClient
from loyalty_sync.capillary.models import CataloguePromotion
from loyalty_sync.defs.sensors.promotion_watch import CatalogueCursor, OrgMark, scan_org

ORG = 51135
T0 = 1_760_000_000_000  # epoch milliseconds


def _promotion(pid: int, modified: int, created: int | None = None) -> dict[str, Any]:
    return {
        "programId": 2568,
        "metadata": {
            "promotionId": pid,
            "createdOn": modified if created is None else created,
            "lastModifiedOn": modified,
        },
    }


class FakeCatalogue:
    """Serves `items` in pages of `size`, newest first unless told otherwise."""

    def __init__(self, items: list[dict[str, Any]], size: int = 2, newest_first: bool = True):
        ordered = sorted(items, key=lambda p: p["metadata"]["lastModifiedOn"])
        self.items = ordered[::-1] if newest_first else ordered
        self.size = size
        self.pages_read = 0

    def promotion_catalogue_pages(
        self, org_id: int, page_size: int = 100
    ) -> Iterator[list[CataloguePromotion]]:
        for start in range(0, len(self.items), self.size):
            self.pages_read += 1
            yield [
                CataloguePromotion.model_validate(p) for p in self.items[start : start + self.size]
            ]


def _scan(catalogue: FakeCatalogue, mark: OrgMark | None) -> Any:
    return scan_org(cast(CapillaryClient, catalogue), ORG, mark)


def test_first_look_records_without_requesting_and_reads_one_page() -> None:
    catalogue = FakeCatalogue([_promotion(i, T0 + i) for i in range(1, 7)])
    scan = _scan(catalogue, None)
    assert scan.first_look and scan.new == [] and catalogue.pages_read == 1
    assert scan.mark.ids == {6}


def test_only_promotions_created_since_the_mark_are_new() -> None:
    before = [_promotion(i, T0 + i) for i in range(1, 7)]
    mark = _scan(FakeCatalogue(before), None).mark
    # 7 and 8 are new; 2 was changed after the mark but existed before it.
    after = [p for p in before if p["metadata"]["promotionId"] != 2]
    after += [_promotion(7, T0 + 7), _promotion(8, T0 + 8), _promotion(2, T0 + 9, T0 + 2)]
    catalogue = FakeCatalogue(after)
    scan = _scan(catalogue, mark)
    assert [p.promotion_id for p in scan.new] == [7, 8]
    assert scan.mark.ids == {2}  # the newest instant seen, even for a changed promotion
    assert catalogue.pages_read == 3  # pages 2/8, 7/6, then 5/4 is older than the mark
    assert _scan(FakeCatalogue(after), scan.mark).new == []


def test_ties_at_the_mark_across_a_page_boundary() -> None:
    items = [_promotion(1, T0), _promotion(2, T0 + 5), _promotion(3, T0 + 5)]
    first = _scan(FakeCatalogue(items, size=1), OrgMark(None))  # after an empty catalogue
    assert sorted(p.promotion_id for p in first.new) == [1, 2, 3]
    # A fourth promotion lands on the same millisecond as the newest ones.
    items.append(_promotion(4, T0 + 5))
    second = _scan(FakeCatalogue(items, size=1), first.mark)
    assert [p.promotion_id for p in second.new] == [4]
    assert second.mark.ids == {2, 3, 4}


def test_ascending_catalogue_is_read_whole_not_missed() -> None:
    items = [_promotion(i, T0 + i) for i in range(1, 5)]
    mark = _scan(FakeCatalogue(items, newest_first=False), None).mark
    assert mark.ids == {4}  # the first look read every page to find the newest
    items.append(_promotion(5, T0 + 5))
    scan = _scan(FakeCatalogue(items, newest_first=False), mark)
    assert [p.promotion_id for p in scan.new] == [5]


def test_cursor_round_trips_through_json() -> None:
    mark = _scan(FakeCatalogue([_promotion(1, T0), _promotion(2, T0)]), None).mark
    cursor = CatalogueCursor({ORG: mark, 51136: OrgMark(None)})
    assert CatalogueCursor.from_json(cursor.to_json()) == cursor
    assert CatalogueCursor.from_json(None) == CatalogueCursor()
