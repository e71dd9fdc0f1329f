"""What a pass does with answers that are not plain answers: the rules, in one place.

Why set items aside: one customer whose calls keep failing must not undo the other
999,999. An item whose call exhausted its retries is set aside and tried once more when
the rest of the pass is done (the API has likely recovered by then). Still failing, it
stays in the checkpoint; the pass fails naming it, its previous rows stay, and the next
run takes it first. Answers that asking again cannot change (not found, bad request) are
recorded and skipped. Anything else (credentials, configuration) fails the pass at once;
the chunks already committed stay.

Why quarantine: an answer that cannot be parsed, validated or stored (`UnusableAnswer`, or
a row the database refuses) is one hostile record, not an outage. Only when more than
`MAX_QUARANTINED_SHARE` of the items a pass fetched are quarantined (a change at
Capillary, not a record) does the pass fail, in one line naming the share and the first
few items.

Why negatives wait: "not found" or "no benefits" for an item that has stored rows
contradicts them, and the same answer for most of a pass is what a broken API looks like
(a partition emptied in one exit-0 sync). Such answers wait for the end of the pass,
which applies them only when they are few (`MassNegatives`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic

from loyalty_sync.capillary.errors import (
    BadRequest,
    NotFound,
    RetriesExhausted,
    TransientError,
    UnusableAnswer,
)
from loyalty_sync.sync.passes.spec import PassSpec, T

# How many items the end-of-pass error names.
NAMED_FAILURES = 5
# A pass fails when more than this share of the items it fetched were quarantined, and
# at least QUARANTINE_FLOOR of them: fewer is hostile records, not a changed API.
MAX_QUARANTINED_SHARE = 0.2
QUARANTINE_FLOOR = 3
# Negative answers contradicting stored rows are suspect when more than this share of a
# pass's answers, and at least NEGATIVE_FLOOR of them: a partition of 5 rows all "not
# found" is suspect, one customer of 3 deleted is not.
MAX_NEGATIVE_SHARE = 0.2
NEGATIVE_FLOOR = 3


class Disposition(StrEnum):
    """What a pass does with an item whose call raised: the one skip-or-retry-later rule."""

    SKIP = "skip"  # recorded in api_events; asking again cannot change the answer
    QUARANTINE = "quarantine"  # recorded; rows kept; fetched again by the next sync
    LATER = "later"  # set aside, tried again at the end of the pass and by the next run
    FAIL = "fail"  # the pass fails now


def disposition(error: BaseException) -> Disposition:
    if isinstance(error, UnusableAnswer):
        return Disposition.QUARANTINE
    if isinstance(error, NotFound | BadRequest):
        return Disposition.SKIP
    if isinstance(error, RetriesExhausted | TransientError):
        return Disposition.LATER
    return Disposition.FAIL


class ItemsFailedError(RuntimeError):
    """Some items of a pass failed even after being set aside and tried again."""


class TooManyQuarantinedError(ItemsFailedError):
    """So many answers of a pass were unusable that the API itself must have changed."""


@dataclass
class MassNegatives(Generic[T]):
    """Negative answers that contradict stored rows, held until the pass can judge them."""

    answered: int = 0
    waiting: list[tuple[T, Any]] = field(default_factory=list)

    @property
    def suspect(self) -> bool:
        n = len(self.waiting)
        return n >= NEGATIVE_FLOOR and n > MAX_NEGATIVE_SHARE * self.answered

    def describe(self, spec: PassSpec[T]) -> str:
        n = len(self.waiting)
        named = ", ".join(spec.label(item) for item, _ in self.waiting[:3])
        return (
            f"{n} of {self.answered} answers ({n / max(self.answered, 1):.0%}, more than "
            f"{MAX_NEGATIVE_SHARE:.0%}) said 'not found' or 'no benefits' for items with "
            f"stored rows (first: {named})"
        )


@dataclass
class Quarantine(Generic[T]):
    """The items of one pass run whose answers could not be used, with why."""

    fetched: int = 0
    items: list[tuple[T, str]] = field(default_factory=list)

    def check(self, spec: PassSpec[T], org_id: int) -> None:
        """Fail the pass when the share says the API changed, not a record."""
        n = len(self.items)
        if n < QUARANTINE_FLOOR or n <= MAX_QUARANTINED_SHARE * self.fetched:
            return
        named = "; ".join(f"{spec.label(i)}: {why}" for i, why in self.items[:3])
        raise TooManyQuarantinedError(
            f"{spec.name} pass of org {org_id}: {n} of {self.fetched} answers "
            f"({n / max(self.fetched, 1):.0%}, more than {MAX_QUARANTINED_SHARE:.0%}) could "
            f"not be used, so the API itself may have changed ({named}); their stored rows "
            "are kept"
        )


def still_failing(spec: PassSpec[T], org_id: int, items: list[T]) -> ItemsFailedError:
    """The error a pass ends with when set-aside items failed their second try too."""
    named = ", ".join(str(spec.key_of(i)) for i in items[:NAMED_FAILURES])
    more = f" and {len(items) - NAMED_FAILURES} more" if len(items) > NAMED_FAILURES else ""
    return ItemsFailedError(
        f"{spec.name} pass of org {org_id}: {len(items)} item(s) still failing after "
        f"a second try ({named}{more}); their previous rows are kept and the next run "
        "takes them first"
    )
