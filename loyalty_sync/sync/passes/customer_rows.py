"""A chunk of customerDetails answers mapped to rows: customers, program details, roster.

A lookup answers for every program of the org at once (embed=mlp); only the programs of
the run's partitions are kept. An answer that lacks its program details, or a detail
that lacks a required field, keeps the stored rows (`refused`) and says so in api_events:
it is not "no programs".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from loyalty_sync.capillary.errors import NotFound
from loyalty_sync.capillary.models import Customer, LoyaltyDetails, LoyaltyProgramDetails
from loyalty_sync.sync import rows as to_rows
from loyalty_sync.sync.ledger import EventLog
from loyalty_sync.warehouse.scope import PartitionScope

Row = dict[str, Any]


class RosterEntry(NamedTuple):
    """One roster row to look up, in the pass's order; `key` is its roster key."""

    source: str
    identifier_name: str
    identifier_value: str
    account_id: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.identifier_name, self.identifier_value)

    @property
    def by_id(self) -> bool:
        """An `id` entry names the customer: loyaltyDetails answers it, not a lookup."""
        return self.identifier_name == "id"

    def roster_row(self, org_id: int, customer_id: int | None, status: str) -> Row:
        return {
            "source": self.source,
            "identifier_name": self.identifier_name,
            "identifier_value": self.identifier_value,
            "org_id": org_id,
            "customer_id": customer_id,
            "lookup_status": status,
        }


@dataclass
class CustomerBatch:
    """The rows of one chunk's answers, table by table."""

    org_id: int
    partitions: PartitionScope
    events: EventLog
    seen: set[int]  # customers already mapped by this pass (two identifiers, one customer)
    customers: list[Row] = field(default_factory=list)
    details: list[Row] = field(default_factory=list)
    roster: list[Row] = field(default_factory=list)
    refused: set[int] = field(default_factory=set)  # whose program details are held back

    def add(self, entry: RosterEntry, answer: Customer | LoyaltyDetails | Exception) -> None:
        if isinstance(answer, Exception):
            status = "not_found" if isinstance(answer, NotFound) else "rejected"
            self.roster.append(entry.roster_row(self.org_id, None, status))
            return
        customer_id, customer, details = self._parts(entry, answer)
        for warning in answer.warnings:
            self._event(warning.message, customer_id, code=warning.code, kind="warning")
        self.roster.append(entry.roster_row(self.org_id, customer_id, "found"))
        if customer_id in self.seen:
            return
        self.seen.add(customer_id)
        self.customers.append(customer)
        if isinstance(answer, Customer) and "loyaltyProgramDetails" not in answer.raw:
            # embed=mlp was asked for: an answer without the section is not "no
            # programs", it is an answer to hold back.
            self.refused.add(customer_id)
            self._event(
                "the answer lacks loyaltyProgramDetails; the stored program details are kept",
                customer_id,
            )
            return
        for item in details:
            if (self.org_id, item.program_id) in self.partitions:
                self._detail(customer_id, item)

    def _parts(
        self, entry: RosterEntry, answer: Customer | LoyaltyDetails
    ) -> tuple[int, Row, list[LoyaltyProgramDetails]]:
        if isinstance(answer, Customer):
            row = to_rows.customer_row(self.org_id, answer)
            return answer.customer_id, row, answer.loyalty_program_details
        customer_id = int(entry.identifier_value)
        return customer_id, to_rows.customer_row_from_id(self.org_id, customer_id), answer.programs

    def _detail(self, customer_id: int, item: LoyaltyProgramDetails) -> None:
        row = to_rows.program_detail_row(self.org_id, customer_id, item)
        missing = to_rows.missing_fields(row, to_rows.REQUIRED_DETAIL_FIELDS)
        if not missing:
            self.details.append(row)
            return
        self.refused.add(customer_id)
        self._event(
            f"loyaltyProgramDetails lacks {', '.join(missing)}; the stored row is kept",
            customer_id,
            program_id=item.program_id,
        )

    def _event(
        self,
        message: str,
        customer_id: int,
        *,
        code: int | None = None,
        kind: str = "error",
        program_id: int | None = None,
    ) -> None:
        self.events.add(
            endpoint="customer_lookup",
            code=code,
            kind=kind,
            message=message,
            org_id=self.org_id,
            program_id=program_id,
            customer_id=customer_id,
        )

    @property
    def answered(self) -> list[int]:
        """Customers whose program details this chunk replaces (deletes held for the end)."""
        looked_up = {row["customer_id"] for row in self.customers}
        return sorted(looked_up - self.refused)
