"""The three API passes of a sync, each writing one table family in one transaction per org.

Call economy is designed in here:
- customers: one customerDetails lookup (embed=mlp) per roster entry serves every program
  of the org, so a run over several programs of an org looks each customer up once;
- promotions: one promotionData walk (pages of 100) per customer serves every program;
- benefits: actionSummary only for pairs the API can answer: the customer is enrolled in
  the program (`loyaltyId` not -1) and the promotion did not end before 2025-06-12.
An answer that cannot change (8015 customer not found, a bad request) is recorded once in
api_events and skipped; anything else (retries exhausted, auth) fails the pass, and its
transaction rolls back so the last good rows stay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice, tee
from typing import Any, TypeVar

import sqlalchemy as sa

from loyalty_sync.capillary.client import CapillaryClient
from loyalty_sync.capillary.errors import BadRequest, NotFound
from loyalty_sync.capillary.models import Customer, LoyaltyDetails
from loyalty_sync.sync import rows as to_rows
from loyalty_sync.sync.progress import reporter
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.sync.tally import EventLog, PassOutcome
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope, partition_key
from loyalty_sync.warehouse.tier_log import TierHistoryMerge
from loyalty_sync.warehouse.writer import StagedMerge

# actionSummary reports benefits earned on or after this date only.
BENEFITS_CUTOFF = datetime(2025, 6, 12, tzinfo=UTC)
CHUNK = 500

T = TypeVar("T")


def _chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _answered(
    client: CapillaryClient, fetch: Callable[[T], Any], items: Iterable[T]
) -> Iterator[tuple[T, Any]]:
    """(item, answer or its exception) in input order, with a chunk of calls queued ahead.

    The pool keeps calling while the pass maps and writes the previous chunk.
    """
    listed, to_fetch = tee(items)
    answers = client.imap(fetch, to_fetch, return_exceptions=True, prefetch=CHUNK)
    return zip(listed, answers, strict=True)


def _skippable(error: BaseException) -> bool:
    """Answers about one record that asking again cannot change; the pass goes on."""
    return isinstance(error, NotFound | BadRequest)


def _api_delta(client: CapillaryClient, before: dict[str, Any]) -> tuple[int, int]:
    after = client.stats.snapshot()
    return after["calls"] - before["calls"], after["retries"] - before["retries"]


def _run_pass(
    client: CapillaryClient,
    scope: RunScope,
    per_org: Callable[[int, PartitionScope, PassOutcome], None],
) -> PassOutcome:
    outcome = PassOutcome()
    before = client.stats.snapshot()
    reporter().count_calls_with(lambda: client.stats.total_calls)
    for org_id in scope.partitions.orgs:
        per_org(org_id, scope.partitions.for_org(org_id), outcome)
    outcome.calls, outcome.retries = _api_delta(client, before)
    outcome.api = client.stats.snapshot()
    return outcome


# --- customers + loyalty_program_details + tier_history ----------------------------------


def _roster(org_id: int) -> sa.Select[Any]:
    t = tables.customer_roster
    return (
        sa.select(t.c.source, t.c.identifier_name, t.c.identifier_value, t.c.account_id)
        .where(t.c.org_id == org_id)
        .order_by(t.c.source, t.c.identifier_name, t.c.identifier_value)
    )


def _count(engine: sa.Engine, query: sa.Select[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)


def _streamed(reader: sa.Connection, query: sa.Select[Any]) -> Iterator[sa.Row[Any]]:
    """Rows of `query` from a server-side cursor: a roster of any size in constant memory."""
    yield from reader.execution_options(stream_results=True, yield_per=2000).execute(query)


def _current_tiers(
    engine: sa.Engine, partitions: PartitionScope
) -> dict[tuple[int, int], tuple[Any, ...]]:
    t = tables.loyalty_program_details
    with engine.connect() as conn:
        return {
            (row.program_id, row.customer_id): (
                row.slab_sno,
                row.current_slab,
                row.slab_expiry_date,
            )
            for row in conn.execute(
                sa.select(
                    t.c.program_id,
                    t.c.customer_id,
                    t.c.slab_sno,
                    t.c.current_slab,
                    t.c.slab_expiry_date,
                ).where(partitions.where(t))
            )
        }


def sync_customers(engine: sa.Engine, client: CapillaryClient, scope: RunScope) -> PassOutcome:
    """customerDetails (embed=mlp) per roster entry -> customers, program details, tiers."""
    progress = reporter()

    def per_org(org_id: int, partitions: PartitionScope, outcome: PassOutcome) -> None:
        previous = _current_tiers(engine, partitions)
        progress.start(f"customers {org_id}", _count(engine, _roster(org_id)))

        def fetch(entry: sa.Row[Any]) -> Customer | LoyaltyDetails:
            if entry.identifier_name == "id":
                return client.loyalty_details(org_id, int(entry.identifier_value))
            return client.lookup_customer(
                org_id,
                entry.identifier_name,
                entry.identifier_value,
                source=entry.source,
                account_id=entry.account_id,
            )

        with engine.connect() as reader, engine.begin() as conn:
            customers = StagedMerge(conn, tables.customers, run_id=scope.run_id)
            details = StagedMerge(
                conn,
                tables.loyalty_program_details,
                run_id=scope.run_id,
                scope=partitions,
            )
            history = TierHistoryMerge(conn, run_id=scope.run_id)
            roster_ids = StagedMerge(
                conn,
                tables.customer_roster,
                run_id=scope.run_id,
                columns=["customer_id", "lookup_status"],
            )
            events = EventLog(conn, scope)
            seen: set[int] = set()
            answers = _answered(client, fetch, _streamed(reader, _roster(org_id)))
            for chunk in _chunks(answers):
                batch: dict[str, list[dict[str, Any]]] = {
                    "customers": [],
                    "details": [],
                    "history": [],
                    "roster": [],
                }
                for entry, answer in chunk:
                    key = {
                        "org_id": org_id,
                        "source": entry.source,
                        "identifier_name": entry.identifier_name,
                        "identifier_value": entry.identifier_value,
                    }
                    if isinstance(answer, Exception):
                        if not _skippable(answer):
                            raise answer
                        events.add_error(answer, org_id=org_id)  # type: ignore[arg-type]
                        status = "not_found" if isinstance(answer, NotFound) else "rejected"
                        batch["roster"].append(
                            {**key, "customer_id": None, "lookup_status": status}
                        )
                        continue
                    if isinstance(answer, Customer):
                        customer_id = answer.customer_id
                        program_details = answer.loyalty_program_details
                        customer_row = to_rows.customer_row(org_id, answer)
                    else:
                        customer_id = int(entry.identifier_value)
                        program_details = answer.programs
                        customer_row = to_rows.customer_row_from_id(org_id, customer_id)
                    for warning in answer.warnings:
                        events.add(
                            endpoint="customer_lookup",
                            code=warning.code,
                            kind="warning",
                            message=warning.message,
                            org_id=org_id,
                            customer_id=customer_id,
                        )
                    batch["roster"].append(
                        {**key, "customer_id": customer_id, "lookup_status": "found"}
                    )
                    if customer_id in seen:  # two roster identifiers of one customer
                        continue
                    seen.add(customer_id)
                    batch["customers"].append(customer_row)
                    for item in program_details:
                        if (org_id, item.program_id) not in partitions:
                            continue
                        row = to_rows.program_detail_row(org_id, customer_id, item)
                        batch["details"].append(row)
                        outcome.rows_by_partition[
                            ("loyalty_program_details", partition_key(org_id, item.program_id))
                        ] += 1
                        tier = (row["slab_sno"], row["current_slab"], row["slab_expiry_date"])
                        before = previous.get((item.program_id, customer_id))
                        if before is None or before[0] != tier[0]:
                            batch["history"].append(
                                {
                                    "org_id": org_id,
                                    "program_id": item.program_id,
                                    "customer_id": customer_id,
                                    "valid_from": scope.started_at,
                                    "slab_sno": tier[0],
                                    "current_slab": tier[1],
                                    "slab_expiry_date": tier[2],
                                    "previous_slab_sno": before[0] if before else None,
                                    "previous_slab": before[1] if before else None,
                                    "previous_slab_expiry_date": before[2] if before else None,
                                }
                            )
                customers.add(batch["customers"])
                details.add(batch["details"])
                history.add(batch["history"])
                roster_ids.add(batch["roster"])
                progress.advance(f"customers {org_id}", len(chunk))
            for staged in (customers, details, history, roster_ids):
                outcome.add_merge(staged.finish())
            outcome.add_events(events)
            for key in partitions.keys:
                outcome.rows_by_partition[("customers", key)] += len(seen)

    return _run_pass(client, scope, per_org)


# --- promotions + customer_promotions ----------------------------------------------------


def _found_customers(engine: sa.Engine, org_id: int) -> list[int]:
    t = tables.customer_roster
    with engine.connect() as conn:
        return list(
            conn.scalars(
                sa.select(t.c.customer_id)
                .where(t.c.org_id == org_id, t.c.customer_id.is_not(None))
                .distinct()
                .order_by(t.c.customer_id)
            )
        )


def sync_promotions(engine: sa.Engine, client: CapillaryClient, scope: RunScope) -> PassOutcome:
    """promotionData (every page) per customer, plus the org's catalogue -> promotions."""
    progress = reporter()

    def per_org(org_id: int, partitions: PartitionScope, outcome: PassOutcome) -> None:
        customer_ids = _found_customers(engine, org_id)
        catalogue = {
            p.promotion_id: p
            for p in client.promotion_catalogue(org_id).promotions
            if p.promotion_id is not None
        }
        progress.start(f"promotions {org_id}", len(customer_ids))
        promotions: dict[tuple[int, int], dict[str, Any]] = {}

        def fetch(customer_id: int) -> Any:
            return client.promotion_data(org_id, "id", customer_id)

        with engine.begin() as conn:
            held = StagedMerge(
                conn,
                tables.customer_promotions,
                run_id=scope.run_id,
                scope=partitions,
            )
            events = EventLog(conn, scope)
            for chunk in _chunks(_answered(client, fetch, customer_ids)):
                batch: list[dict[str, Any]] = []
                for customer_id, answer in chunk:
                    if isinstance(answer, Exception):
                        if not _skippable(answer):
                            raise answer
                        events.add_error(answer, org_id=org_id, customer_id=customer_id)  # type: ignore[arg-type]
                        continue
                    for promotion in answer.promotions:
                        if (org_id, promotion.program_id) not in partitions:
                            continue
                        if promotion.org_id is not None and promotion.org_id != org_id:
                            continue
                        ident = (promotion.program_id, promotion.promotion_id)
                        if ident not in promotions:
                            promotions[ident] = to_rows.promotion_row(
                                org_id, promotion, catalogue.get(promotion.promotion_id)
                            )
                        batch.append(to_rows.customer_promotion_row(org_id, customer_id, promotion))
                        outcome.rows_by_partition[
                            ("customer_promotions", partition_key(org_id, promotion.program_id))
                        ] += 1
                held.add(batch)
                progress.advance(f"promotions {org_id}", len(chunk))
            for promotion_id, listed in catalogue.items():
                if (org_id, listed.program_id) in partitions and (
                    listed.program_id,
                    promotion_id,
                ) not in promotions:
                    promotions[(listed.program_id, promotion_id)] = to_rows.catalogue_promotion_row(
                        org_id, listed
                    )
            for program_id, _ in promotions:
                outcome.rows_by_partition[("promotions", partition_key(org_id, program_id))] += 1
            catalogue_table = StagedMerge(
                conn,
                tables.promotions,
                run_id=scope.run_id,
                scope=partitions,
            )
            catalogue_table.add(promotions.values())
            outcome.add_merge(catalogue_table.finish())
            outcome.add_merge(held.finish())
            outcome.add_events(events)

    return _run_pass(client, scope, per_org)


# --- benefit summaries -------------------------------------------------------------------


def benefit_pairs_query(partitions: PartitionScope) -> sa.Select[Any]:
    """(customer, program, promotion) pairs actionSummary can answer, in a stable order."""
    cp = tables.customer_promotions
    lpd = tables.loyalty_program_details
    p = tables.promotions
    return (
        sa.select(cp.c.customer_id, cp.c.program_id, cp.c.promotion_id)
        .join(
            lpd,
            sa.and_(
                lpd.c.org_id == cp.c.org_id,
                lpd.c.program_id == cp.c.program_id,
                lpd.c.customer_id == cp.c.customer_id,
            ),
        )
        .join(
            p,
            sa.and_(
                p.c.org_id == cp.c.org_id,
                p.c.program_id == cp.c.program_id,
                p.c.promotion_id == cp.c.promotion_id,
            ),
        )
        .where(
            partitions.where(cp),
            lpd.c.loyalty_id.is_not(None),
            lpd.c.loyalty_id != -1,
            sa.or_(p.c.end_date.is_(None), p.c.end_date >= BENEFITS_CUTOFF),
        )
        .order_by(cp.c.program_id, cp.c.promotion_id, cp.c.customer_id)
    )


def _held_pairs(partitions: PartitionScope) -> sa.Select[Any]:
    cp = tables.customer_promotions
    return sa.select(cp.c.customer_id).where(partitions.where(cp))


def sync_benefits(
    engine: sa.Engine, client: CapillaryClient, scope: RunScope, api_version: str = "v3"
) -> PassOutcome:
    """actionSummary per eligible pair -> summaries, points, currencies, incentives."""
    progress = reporter()
    table_of = {
        "benefit_summaries": tables.benefit_summaries,
        "benefit_points": tables.benefit_points,
        "benefit_alternate_currencies": tables.benefit_alternate_currencies,
        "benefit_incentives": tables.benefit_incentives,
    }

    def per_org(org_id: int, partitions: PartitionScope, outcome: PassOutcome) -> None:
        query = benefit_pairs_query(partitions)
        eligible = _count(engine, query)
        outcome.skipped["not_enrolled_or_ended_before_cutoff"] += (
            _count(engine, _held_pairs(partitions)) - eligible
        )
        progress.start(f"benefits {org_id}", eligible)

        def fetch(pair: tuple[int, int, int]) -> Any:
            customer_id, program_id, promotion_id = pair
            if api_version == "v3":
                return client.action_summary_v3(org_id, customer_id, program_id, promotion_id)
            return client.action_summary_v2(
                org_id, "id", customer_id, program_id, promotion_id=promotion_id
            )

        with engine.connect() as reader, engine.begin() as conn:
            pairs = (tuple(row) for row in _streamed(reader, query))
            staged = {
                name: StagedMerge(
                    conn,
                    table,
                    run_id=scope.run_id,
                    scope=partitions,
                )
                for name, table in table_of.items()
            }
            events = EventLog(conn, scope)
            for chunk in _chunks(_answered(client, fetch, pairs)):
                batch: dict[str, list[dict[str, Any]]] = {name: [] for name in table_of}
                for (customer_id, program_id, promotion_id), answer in chunk:
                    context = {
                        "program_id": program_id,
                        "customer_id": customer_id,
                        "promotion_id": promotion_id,
                    }
                    if isinstance(answer, Exception):
                        if not _skippable(answer):
                            raise answer
                        events.add_error(answer, org_id=org_id, **context)  # type: ignore[arg-type]
                        continue
                    for warning in answer.warnings:
                        events.add(
                            endpoint=f"action_summary_{api_version}",
                            code=warning.code,
                            kind="warning",
                            message=warning.message,
                            org_id=org_id,
                            **context,
                        )
                    summary = to_rows.summary_rows(
                        org_id, program_id, customer_id, promotion_id, answer, api_version
                    )
                    key = partition_key(org_id, program_id)
                    for name, produced in summary.tables():
                        batch[name].extend(produced)
                        outcome.rows_by_partition[(name, key)] += len(produced)
                for name, produced in batch.items():
                    staged[name].add(produced)
                progress.advance(f"benefits {org_id}", len(chunk))
            for merge in staged.values():
                outcome.add_merge(merge.finish())
            outcome.add_events(events)

    return _run_pass(client, scope, per_org)
