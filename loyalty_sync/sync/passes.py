"""The three API passes of a sync: fetch, map, write, a chunk at a time (see `chunks.py`).

Call economy is designed in here:
- customers: one customerDetails lookup (embed=mlp) per roster entry serves every program
  of the org, so a run over several programs of an org looks each customer up once;
- promotions: one promotionData walk (pages of 100) per customer serves every program;
- benefits: actionSummary only for pairs the API can answer: the customer is enrolled in
  the program (`loyaltyId` not -1) and the promotion did not end before 2025-06-12.

Each pass goes org by org. Mapping is `rows.py`'s; each pass writes its table family
through one scoped merge per table per chunk, and its deletes wait for the end of the
pass (`finish`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from loyalty_sync.capillary.client import CapillaryClient
from loyalty_sync.capillary.errors import NotFound
from loyalty_sync.capillary.models import Customer, LoyaltyDetails
from loyalty_sync.sync import freshness
from loyalty_sync.sync import rows as to_rows
from loyalty_sync.sync.chunks import Chunk, MassNegatives, PassSpec, run_chunks
from loyalty_sync.sync.ledger import (
    Checkpoint,
    EventLog,
    PassOutcome,
    complete_checkpoint,
    generation_pass_done,
    open_checkpoint,
    open_generation,
    served_by,
)
from loyalty_sync.sync.planned import PlannedItems, after, planning, streamed
from loyalty_sync.sync.progress import reporter
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse import statistics, tables
from loyalty_sync.warehouse.scope import PartitionScope, partition_key
from loyalty_sync.warehouse.tier_log import TierHistoryMerge
from loyalty_sync.warehouse.writer import (
    MergeResult,
    StagedMerge,
    doomed,
    replaced,
    scratch,
)

logger = logging.getLogger("loyalty_sync.sync")

# actionSummary reports benefits earned on or after this date only.
BENEFITS_CUTOFF = datetime(2025, 6, 12, tzinfo=UTC)
BENEFIT_TABLES = (
    tables.benefit_summaries,
    tables.benefit_points,
    tables.benefit_alternate_currencies,
    tables.benefit_incentives,
)
PAIR = ("customer_id", "program_id", "promotion_id")
ROSTER_KEY = ("source", "identifier_name", "identifier_value")
PROMOTION_ORDER = ["customer_id"]
BENEFIT_ORDER = ["program_id", "promotion_id", "customer_id"]


@dataclass(frozen=True)
class PassOptions:
    """How passes cut their work and guard their deletes.

    `chunk_size` items commit together; an unfinished pass touched within `resume_within`
    is resumed rather than started over. The drop guard: a completed pass that would
    delete more than `max_drop_share` of a partition's rows of a table (judged when the
    partition holds at least `drop_min_rows`) deletes nothing and reports the numbers,
    unless `accept_drops` says the drop is known to be genuine. `freshness` says what the
    promotions and benefits passes may skip (`freshness.py`).
    """

    chunk_size: int = 250
    resume_within: timedelta = timedelta(hours=12)
    max_drop_share: float = 0.2
    drop_min_rows: int = 10
    accept_drops: bool = False
    freshness: freshness.Freshness = field(default_factory=freshness.Freshness)

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")


def _capillary_now(
    engine: sa.Engine, client: CapillaryClient, scope: RunScope, org_id: int
) -> datetime:
    """Capillary's clock for a plan; an unbelievable `Date` header is reported, once."""
    now = client.clock.now()
    problem = client.clock.take_problem()
    if problem:
        logger.warning(problem)
        with engine.begin() as conn:
            events = EventLog(conn, scope)
            events.add(
                endpoint="date_header", code=None, kind="warning", message=problem, org_id=org_id
            )
            events.flush()
    return now


def _count(engine: sa.Engine, query: sa.Select[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)


def _run(
    engine: sa.Engine,
    client: CapillaryClient,
    scope: RunScope,
    name: str,
    options: PassOptions,
    org_pass: Callable[[int, PartitionScope, Checkpoint, PassOutcome], None],
) -> PassOutcome:
    """Run `org_pass` for each org of the scope, each from its own checkpoint.

    Each org's pass is one progress task, started before its first call (the catalogue
    read) and finished after its last with the calls recorded for the org, so the bar,
    the metadata and `sync_runs` count the same calls.
    """
    outcome = PassOutcome()
    progress = reporter()
    progress.count_calls_with(client.stats.counts)
    before = client.stats.snapshot()
    for org_id in scope.partitions.orgs:
        partitions = scope.partitions.for_org(org_id)
        generation = open_generation(
            engine,
            partitions,
            scope.run_id,
            scope.passes,
            options.resume_within,
            None if options.freshness.full else scope.requested_at,
        )
        if name in generation.done:
            # Another run of these partitions finished this pass: one that died or is
            # still running (within the resume window), or one this run waited behind.
            when = generation.done_by(datetime.now(UTC))
            outcome.resumed.append(f"org {org_id}: {name} pass {when}, skipped")
            outcome.rows_by_partition.update(served_by(engine, name, partitions))
            continue
        checkpoint = open_checkpoint(engine, name, partitions, scope.run_id, options.resume_within)
        if checkpoint.resumed:
            outcome.resumed.append(f"org {org_id} after {checkpoint.items_done} item(s)")
        counts_before = client.stats.counts()
        written_before = _written(outcome)
        progress.start(f"{name} {org_id}")
        org_pass(org_id, partitions, checkpoint, outcome)
        statistics.refresh(engine, _written(outcome) - written_before)
        spent = client.stats.counts().since(counts_before)
        progress.finish(f"{name} {org_id}", spent)
        outcome.spent_by_org[org_id] = spent
        # A full sync's calls: these, plus each skipped item at what a fetched one cost.
        signals = outcome.org_signals(org_id)
        fetched = sum(signals.fetched.values())
        per_item = spent.calls / fetched if fetched else 1.0
        signals.full_calls = spent.calls + round(signals.skipped * per_item)
        outcome.rows_by_partition.update(checkpoint.served)
        generation_pass_done(engine, generation, name)
    after = client.stats.snapshot()
    outcome.calls = after["calls"] - before["calls"]
    outcome.retries = after["retries"] - before["retries"]
    outcome.api = after
    return outcome


def _written(outcome: PassOutcome) -> Counter[str]:
    """Rows a pass wrote so far, per table; the item states its fetches recorded among them."""
    written = Counter({name: merge.written for name, merge in outcome.merges.items()})
    written[tables.sync_item_state.name] = outcome.signals.fetched.total()
    return written


def _finish(
    engine: sa.Engine,
    scope: RunScope,
    options: PassOptions,
    checkpoint: Checkpoint,
    outcome: PassOutcome,
    family: list[tuple[sa.Table, tuple[str, ...], sa.Select[Any]]],
    also: Callable[[sa.Connection, bool], None] | None = None,
    negatives: tuple[PassSpec[Any], MassNegatives[Any]] | None = None,
) -> None:
    """The whole pass is done: judge, then apply, its deletes, in one transaction.

    `family` names each table with deletes, its item columns and the items that still
    exist. First the negative answers that waited (`negatives`): many of them hold back
    every delete and overwrite of the pass; a few are written now, like any answer. Then
    the drop guard judges the deletes before any is made: one table of one partition
    losing too much holds back every delete of the pass. Either guard records api_events
    with the numbers, and the rows stay as they were.
    """
    partitions = checkpoint.partitions
    with engine.begin() as conn:
        if negatives is not None and _negatives_held(
            conn, scope, options, checkpoint, outcome, *negatives
        ):
            if also is not None:
                also(conn, True)
            complete_checkpoint(conn, checkpoint)
            return
        plans = []
        too_many: list[tuple[str, int, int, int, int]] = []
        alive: dict[int, sa.TableClause] = {}
        for table, columns, universe in family:
            if id(universe) not in alive:  # the items that still exist, computed once
                planning(conn)  # whole partitions: hash joins, whatever the statistics
                items = [table.c[c] for c in columns]
                alive[id(universe)] = scratch(conn, f"alive_{len(alive)}", universe, items)
            keys = doomed(table, partitions, columns, alive[id(universe)], checkpoint.id)
            doomed_keys = scratch(
                conn, f"doomed_{table.name}", keys, list(table.primary_key.columns)
            )
            plans.append((table, doomed_keys))
            held = dict(_per_partition(conn, doomed_keys, sa.true()))
            # Rows replaced by a new shape (other settings) are not lost: not judged.
            mine = sa.and_(partitions.where(table), replaced(table, checkpoint.id))
            new_shape = dict(_per_partition(conn, table, mine))
            for pair in partitions.pairs:  # what each partition is served, deletes or not
                checkpoint.served[(table.name, partition_key(*pair))] = 0
            for pair, total in _per_partition(conn, table, partitions.where(table)):
                gone = held.get(pair, 0)
                # Rows served: fetched this time or kept as fresh, less what is gone.
                checkpoint.served[(table.name, partition_key(*pair))] = total - gone
                lost = gone - new_shape.get(pair, 0)
                if total >= options.drop_min_rows and lost > options.max_drop_share * total:
                    too_many.append((table.name, *pair, lost, total))
        if too_many and not options.accept_drops:
            events = EventLog(conn, scope)
            for name, org_id, program_id, lost, total in too_many:
                events.add(
                    endpoint=f"{checkpoint.pass_name}_pass",
                    code=None,
                    kind="warning",
                    message=(
                        f"drop guard: {lost} of {total} rows of {name} in partition "
                        f"{partition_key(org_id, program_id)} are no longer served (more than "
                        f"{options.max_drop_share:.0%}); no row of the pass was deleted. If the "
                        "drop is genuine, sync again with accept_drops"
                    ),
                    org_id=org_id,
                    program_id=program_id,
                )
            outcome.add_events(events)
            outcome.held_back.extend(
                f"{n} {partition_key(o, p)}: {lost} of {total}" for n, o, p, lost, total in too_many
            )
        else:
            planning(conn, nested_loops=True)  # a few doomed keys: index lookups
            for table, gone in plans:
                key = list(table.primary_key.columns)
                condition = sa.tuple_(*key).in_(sa.select(*(gone.c[c.name] for c in key)))
                deleted = int(conn.execute(sa.delete(table).where(condition)).rowcount or 0)
                outcome.add_merge(MergeResult(table.name, 0, 0, 0, deleted))
        if also is not None:
            also(conn, bool(too_many and not options.accept_drops))
        complete_checkpoint(conn, checkpoint)


def _negatives_held(
    conn: sa.Connection,
    scope: RunScope,
    options: PassOptions,
    checkpoint: Checkpoint,
    outcome: PassOutcome,
    spec: PassSpec[Any],
    negatives: MassNegatives[Any],
) -> bool:
    """Write the waiting negative answers, or (too many of them) hold the pass back."""
    if not negatives.waiting:
        return False
    events = EventLog(conn, scope)
    if negatives.suspect and not options.accept_drops:
        what = negatives.describe(spec)
        for org_id in checkpoint.partitions.orgs:
            events.add(
                endpoint=f"{checkpoint.pass_name}_pass",
                code=None,
                kind="warning",
                message=f"negative guard: {what}; no row of the pass was deleted or "
                "overwritten with them. If this is genuine, sync again with accept_drops",
                org_id=org_id,
            )
        outcome.add_events(events)
        outcome.held_back.append(f"{checkpoint.pass_name}: {what}")
        return True
    work = Chunk(conn, negatives.waiting, events, checkpoint)
    spec.write(work)
    for merge in work.merges:
        outcome.add_merge(merge)
    outcome.add_events(events)
    checkpoint.served.update(work.served)
    return False


def _per_partition(
    conn: sa.Connection, table: sa.FromClause, condition: sa.ColumnElement[bool]
) -> list[tuple[tuple[int, int], int]]:
    rows = conn.execute(
        sa.select(table.c.org_id, table.c.program_id, sa.func.count())
        .where(condition)
        .group_by(table.c.org_id, table.c.program_id)
    )
    return [((int(o), int(p)), int(n)) for o, p, n in rows]


def _found_customers(org_id: int) -> sa.Select[Any]:
    t = tables.customer_roster
    return (
        sa.select(t.c.customer_id)
        .where(t.c.org_id == org_id, t.c.customer_id.is_not(None))
        .distinct()
    )


# --- customers + loyalty_program_details + tier_history ----------------------------------


def _stored_tiers(
    conn: sa.Connection, partitions: PartitionScope, customers: list[int]
) -> dict[tuple[int, int], to_rows.Tier]:
    t = tables.loyalty_program_details
    return {
        (row.program_id, row.customer_id): (row.slab_sno, row.current_slab, row.slab_expiry_date)
        for row in conn.execute(
            sa.select(
                t.c.program_id,
                t.c.customer_id,
                t.c.slab_sno,
                t.c.current_slab,
                t.c.slab_expiry_date,
            ).where(partitions.where(t), t.c.customer_id.in_(customers))
        )
    }


def sync_customers(
    engine: sa.Engine, client: CapillaryClient, scope: RunScope, options: PassOptions
) -> PassOutcome:
    """customerDetails (embed=mlp) per roster entry -> customers, program details, tiers."""
    roster = tables.customer_roster

    def org_pass(
        org_id: int, partitions: PartitionScope, checkpoint: Checkpoint, outcome: PassOutcome
    ) -> None:
        order = [roster.c.source, roster.c.identifier_name, roster.c.identifier_value]
        base = sa.select(*order, roster.c.account_id).where(roster.c.org_id == org_id)
        seen: set[int] = set()

        def fetch(entry: Any) -> Customer | LoyaltyDetails:
            if entry[1] == "id":
                return client.loyalty_details(org_id, int(entry[2]))
            return client.lookup_customer(
                org_id, entry[1], entry[2], source=entry[0], account_id=entry[3]
            )

        def write(chunk: Chunk[Any]) -> None:
            batch: dict[str, list[dict[str, Any]]] = {k: [] for k in ("c", "d", "r")}
            refused: set[int] = set()  # answers whose program details are held back
            for entry, answer in chunk.answered:
                key = dict(zip(ROSTER_KEY, entry[:3], strict=True))
                if isinstance(answer, Exception):
                    status = "not_found" if isinstance(answer, NotFound) else "rejected"
                    batch["r"].append(
                        {**key, "org_id": org_id, "customer_id": None, "lookup_status": status}
                    )
                    continue
                if isinstance(answer, Customer):
                    customer_id = answer.customer_id
                    details, customer = (
                        answer.loyalty_program_details,
                        to_rows.customer_row(org_id, answer),
                    )
                else:
                    customer_id = int(entry[2])
                    details = answer.programs
                    customer = to_rows.customer_row_from_id(org_id, customer_id)
                for warning in answer.warnings:
                    chunk.events.add(
                        endpoint="customer_lookup",
                        code=warning.code,
                        kind="warning",
                        message=warning.message,
                        org_id=org_id,
                        customer_id=customer_id,
                    )
                batch["r"].append(
                    {**key, "org_id": org_id, "customer_id": customer_id, "lookup_status": "found"}
                )
                if customer_id in seen:  # two roster identifiers of one customer
                    continue
                seen.add(customer_id)
                batch["c"].append(customer)
                if isinstance(answer, Customer) and "loyaltyProgramDetails" not in answer.raw:
                    # embed=mlp was asked for: an answer without the section is not "no
                    # programs", it is an answer to hold back.
                    refused.add(customer_id)
                    chunk.events.add(
                        endpoint="customer_lookup",
                        code=None,
                        kind="error",
                        message="the answer lacks loyaltyProgramDetails; the "
                        "stored program details are kept",
                        org_id=org_id,
                        customer_id=customer_id,
                    )
                    continue
                for item in details:
                    if (org_id, item.program_id) not in partitions:
                        continue
                    row = to_rows.program_detail_row(org_id, customer_id, item)
                    missing = to_rows.missing_fields(row, to_rows.REQUIRED_DETAIL_FIELDS)
                    if missing:
                        refused.add(customer_id)
                        chunk.events.add(
                            endpoint="customer_lookup",
                            code=None,
                            kind="error",
                            message=f"loyaltyProgramDetails lacks "
                            f"{', '.join(missing)}; the stored row is kept",
                            org_id=org_id,
                            program_id=item.program_id,
                            customer_id=customer_id,
                        )
                        continue
                    batch["d"].append(row)
            conn, run_id = chunk.conn, scope.run_id
            looked_up = {row["customer_id"] for row in batch["c"]}
            answered = sorted(looked_up - refused)
            stored = _stored_tiers(conn, partitions, sorted(looked_up))
            history = [
                row
                for detail in batch["d"]
                if (
                    row := to_rows.tier_history_row(
                        detail,
                        stored.get((detail["program_id"], detail["customer_id"])),
                        scope.started_at,
                    )
                )
            ]
            for table, rows, merge_scope, held in (
                (tables.customers, batch["c"], None, None),
                (
                    tables.loyalty_program_details,
                    batch["d"],
                    partitions,
                    chunk.held(("customer_id",), [(c,) for c in answered]),
                ),
                (tables.tier_history, history, None, None),
            ):
                # tier_history never repeats a customer's latest stored tier.
                merge = TierHistoryMerge if table is tables.tier_history else StagedMerge
                staged = merge(conn, table, run_id=run_id, scope=merge_scope)
                staged.add(rows)
                chunk.merges.append(staged.finish(held))
            ids = StagedMerge(conn, roster, run_id=run_id, columns=["customer_id", "lookup_status"])
            ids.add(batch["r"])
            chunk.merges.append(ids.finish())
            for detail in batch["d"]:
                part = partition_key(org_id, detail["program_id"])
                chunk.served[("loyalty_program_details", part)] += 1
            for part in partitions.keys:
                chunk.served[("customers", part)] += len(batch["c"])

        spec = PassSpec(
            name="customers",
            items_after=lambda reader, cursor: (
                tuple(row) for row in streamed(reader, after(base, order, cursor))
            ),
            cursor_of=lambda entry: list(entry[:3]),
            key_of=list,
            item_from_key=tuple,
            fetch=fetch,
            write=write,
            context_of=lambda entry: {},
            total=_count(engine, base),
            label_of=lambda entry: f"roster entry {entry[1]} {entry[2]}",
            contradicts=lambda conn, answered: _found_before(conn, org_id, answered),
        )
        waiting = run_chunks(
            engine, client, scope, org_id, checkpoint, spec, outcome, options.chunk_size
        )
        universe = _found_customers(org_id)
        _finish(
            engine,
            scope,
            options,
            checkpoint,
            outcome,
            [(tables.loyalty_program_details, ("customer_id",), universe)],
            negatives=(spec, waiting),
        )

    return _run(engine, client, scope, "customers", options, org_pass)


# --- promotions + customer_promotions ----------------------------------------------------


def _customers_to_fetch(
    org_id: int, partitions: PartitionScope, plan: freshness.Plan
) -> sa.Select[Any]:
    """Found customers of the org, with their promotionData signature and fetch reason."""
    roster, lpd = tables.customer_roster, tables.loyalty_program_details
    state, on = freshness.state_of(org_id, "promotions", roster.c.customer_id)
    reason = freshness.customer_reason(
        plan, org_id, roster.c.customer_id, partitions.where(lpd), state
    )
    return (
        sa.select(roster.c.customer_id, state.c.signature, reason.label("reason"))
        .select_from(roster.outerjoin(state, on))
        .where(roster.c.org_id == org_id, roster.c.customer_id.is_not(None))
        .distinct()
    )


def sync_promotions(
    engine: sa.Engine, client: CapillaryClient, scope: RunScope, options: PassOptions
) -> PassOutcome:
    """promotionData (every page) per customer, plus the org's catalogue -> promotions."""
    held_table = tables.customer_promotions

    def org_pass(
        org_id: int, partitions: PartitionScope, checkpoint: Checkpoint, outcome: PassOutcome
    ) -> None:
        catalogue = {
            p.promotion_id: p
            for p in client.promotion_catalogue(org_id).promotions
            if p.promotion_id is not None and (org_id, p.program_id) in partitions
        }
        written: set[tuple[int, int]] = set()
        now = _capillary_now(engine, client, scope, org_id)
        plan = freshness.plan(options.freshness, now, catalogue.values())
        planned = PlannedItems(
            engine, _customers_to_fetch(org_id, partitions, plan), PROMOTION_ORDER
        )
        outcome.org_signals(org_id).add(planned.signals)

        def write(chunk: Chunk[int]) -> None:
            held: list[dict[str, Any]] = []
            promotions: list[dict[str, Any]] = []
            by_customer: dict[int, list[dict[str, Any]]] = {}
            mine: set[tuple[int, int]] = set()  # joins `written` once the chunk is written
            for customer_id, answer in chunk.answered:
                if isinstance(answer, Exception):
                    continue
                by_customer[customer_id] = []
                for promotion in answer.promotions:
                    if (org_id, promotion.program_id) not in partitions:
                        continue
                    if promotion.org_id is not None and promotion.org_id != org_id:
                        continue
                    ident = (promotion.program_id, promotion.promotion_id)
                    if ident not in written and ident not in mine:
                        mine.add(ident)
                        promotions.append(
                            to_rows.promotion_row(
                                org_id, promotion, catalogue.get(promotion.promotion_id)
                            )
                        )
                    held_row = to_rows.customer_promotion_row(org_id, customer_id, promotion)
                    held.append(held_row)
                    by_customer[customer_id].append(held_row)
                    part = partition_key(org_id, promotion.program_id)
                    chunk.served[("customer_promotions", part)] += 1
            holding = {row["customer_id"] for row in held}
            emptied = (
                set()
                if options.accept_drops
                else _suspiciously_emptied(
                    chunk.conn, partitions, [c for c, _ in chunk.answered if c not in holding]
                )
            )
            for customer_id in emptied:
                chunk.events.add(
                    endpoint="promotion_data",
                    code=None,
                    kind="warning",
                    message="promotionData lists no promotion although the customer held "
                    "some; the stored promotions are kept (accept_drops to apply)",
                    org_id=org_id,
                    customer_id=customer_id,
                )
            answered = [(c,) for c, _ in chunk.answered if c not in emptied]
            merged = StagedMerge(chunk.conn, tables.promotions, run_id=scope.run_id)
            merged.add(promotions)
            chunk.merges.append(merged.finish())
            staged = StagedMerge(chunk.conn, held_table, run_id=scope.run_id, scope=partitions)
            staged.add(held)
            chunk.merges.append(staged.finish(chunk.held(("customer_id",), answered)))
            fetched = {(c, 0, 0): rows for c, rows in by_customer.items() if c not in emptied}
            planned.note(
                chunk.conn, org_id, "promotions", plan, fetched, outcome, key=lambda i: i[:1]
            )
            written.update(mine)

        spec = PassSpec(
            name="promotions",
            items_after=lambda reader, cursor: (
                item[0] for item in planned.items_after(reader, cursor)
            ),
            cursor_of=lambda customer_id: [customer_id],
            key_of=lambda customer_id: [customer_id],
            item_from_key=lambda key: int(key[0]),
            fetch=lambda customer_id: client.promotion_data(org_id, "id", customer_id),
            write=write,
            context_of=lambda customer_id: {"customer_id": customer_id},
            total=planned.total,
            quarantine=lambda conn, customers: freshness.quarantine(
                conn, org_id, "promotions", [(c, 0, 0) for c in customers]
            ),
            contradicts=lambda conn, answered: _holding(conn, partitions, answered),
        )
        waiting = run_chunks(
            engine, client, scope, org_id, checkpoint, spec, outcome, options.chunk_size
        )

        def promotions_table(conn: sa.Connection, deletes_held_back: bool) -> None:
            """Catalogue promotions nobody holds yet, and promotions nothing lists any more."""
            p, cp = tables.promotions, held_table
            held_now = set(
                conn.execute(
                    sa.select(cp.c.program_id, cp.c.promotion_id).where(partitions.where(cp))
                ).tuples()
            )
            listed = [
                to_rows.catalogue_promotion_row(org_id, entry)
                for promotion_id, entry in catalogue.items()
                if (entry.program_id, promotion_id) not in held_now | written
            ]
            merged = StagedMerge(conn, p, run_id=scope.run_id)
            merged.add(listed)
            outcome.add_merge(merged.finish())
            keep = held_now | {(e.program_id, i) for i, e in catalogue.items()}
            gone = 0
            if not deletes_held_back:
                unlisted = sa.tuple_(p.c.program_id, p.c.promotion_id).in_(sorted(keep))
                gone = conn.execute(
                    sa.delete(p).where(
                        partitions.where(p), sa.not_(unlisted) if keep else sa.true()
                    )
                ).rowcount
            outcome.add_merge(MergeResult(p.name, 0, 0, 0, int(gone or 0)))
            for program_id, _ in sorted(keep):
                checkpoint.served[("promotions", partition_key(org_id, program_id))] += 1

        _finish(
            engine,
            scope,
            options,
            checkpoint,
            outcome,
            [(held_table, ("customer_id",), _found_customers(org_id))],
            also=promotions_table,
            negatives=(spec, waiting),
        )

    return _run(engine, client, scope, "promotions", options, org_pass)


def _suspiciously_emptied(
    conn: sa.Connection, partitions: PartitionScope, customers: list[int]
) -> set[int]:
    """Customers among `customers` (whose answer listed no promotion) that hold some.

    Losing every promotion at once is rare for a real customer and exactly what a broken
    answer looks like, so the stored rows are kept and the answer reported; a sync with
    accept_drops applies it when it is known to be genuine. Losing some promotions is
    applied as usual.
    """
    if not customers:
        return set()
    cp = tables.customer_promotions
    query = (
        sa.select(cp.c.customer_id)
        .where(partitions.where(cp), cp.c.customer_id.in_(customers))
        .distinct()
    )
    return set(conn.scalars(query))


# --- benefit summaries -------------------------------------------------------------------


def benefit_pairs_query(partitions: PartitionScope) -> sa.Select[Any]:
    """(customer, program, promotion) pairs actionSummary can answer."""
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
    )


def _plan(
    engine: sa.Engine,
    client: CapillaryClient,
    scope: RunScope,
    org_id: int,
    options: freshness.Freshness,
    settings: str,
) -> freshness.Plan:
    """A pass's plan: Capillary's clock now, and the org's catalogue unless all is fetched."""
    partitions = scope.partitions.for_org(org_id)
    if options.full:
        # Nothing is skipped, but when it was fetched is still Capillary's time.
        if not client.clock.observed:
            client.programs(org_id)
        return freshness.plan(
            options, _capillary_now(engine, client, scope, org_id), settings=settings
        )
    entries = client.promotion_catalogue(org_id).promotions
    mine = [e for e in entries if (org_id, e.program_id) in partitions]
    return freshness.plan(options, _capillary_now(engine, client, scope, org_id), mine, settings)


def _pairs_to_fetch(
    org_id: int, partitions: PartitionScope, plan: freshness.Plan
) -> sa.Select[Any]:
    """Pairs actionSummary can answer, with their stored signature and fetch reason."""
    cp = tables.customer_promotions
    state, on = freshness.state_of(
        org_id, "benefits", cp.c.customer_id, cp.c.program_id, cp.c.promotion_id
    )
    reason = freshness.pair_reason(plan, org_id, state)
    return (
        benefit_pairs_query(partitions)
        .outerjoin(state, on)
        .add_columns(state.c.signature, reason.label("reason"))
    )


def sync_benefits(
    engine: sa.Engine,
    client: CapillaryClient,
    scope: RunScope,
    options: PassOptions,
    api_version: str = "v3",
) -> PassOutcome:
    """actionSummary per eligible pair -> summaries, points, currencies, incentives."""
    cp = tables.customer_promotions

    def org_pass(
        org_id: int, partitions: PartitionScope, checkpoint: Checkpoint, outcome: PassOutcome
    ) -> None:
        base = benefit_pairs_query(partitions)
        # The two flavours store different rows (v2's rewards and badges are incentives).
        settings = f"actionSummary {api_version}"
        plan = _plan(engine, client, scope, org_id, options.freshness, settings)
        planned = PlannedItems(engine, _pairs_to_fetch(org_id, partitions, plan), BENEFIT_ORDER)
        eligible = planned.signals.items  # every answerable pair, fetched or skipped
        held = _count(engine, sa.select(cp.c.customer_id).where(partitions.where(cp)))
        outcome.skipped["not_enrolled_or_ended_before_cutoff"] += held - eligible
        outcome.org_signals(org_id).add(planned.signals)

        def fetch(pair: tuple[int, int, int]) -> Any:
            customer_id, program_id, promotion_id = pair
            if api_version == "v3":
                return client.action_summary_v3(org_id, customer_id, program_id, promotion_id)
            return client.action_summary_v2(
                org_id, "id", customer_id, program_id, promotion_id=promotion_id
            )

        def write(chunk: Chunk[tuple[int, int, int]]) -> None:
            batch: dict[str, list[dict[str, Any]]] = {t.name: [] for t in BENEFIT_TABLES}
            fetched: dict[tuple[int, int, int], list[dict[str, Any]]] = {}
            for (customer_id, program_id, promotion_id), answer in chunk.answered:
                if isinstance(answer, Exception):
                    continue
                mine = fetched.setdefault((customer_id, program_id, promotion_id), [])
                for warning in answer.warnings:
                    chunk.events.add(
                        endpoint=f"action_summary_{api_version}",
                        code=warning.code,
                        kind="warning",
                        message=warning.message,
                        org_id=org_id,
                        program_id=program_id,
                        customer_id=customer_id,
                        promotion_id=promotion_id,
                    )
                produced = to_rows.summary_rows(
                    org_id, program_id, customer_id, promotion_id, answer, api_version
                )
                part = partition_key(org_id, program_id)
                for name, rows in produced.tables():
                    batch[name].extend(rows)
                    mine.extend({"table": name, **row} for row in rows)
                    chunk.served[(name, part)] += len(rows)
            answered = [pair for pair, _ in chunk.answered]
            held = chunk.held(PAIR, answered, planned.reshaped(answered))
            for table in BENEFIT_TABLES:
                staged = StagedMerge(chunk.conn, table, run_id=scope.run_id, scope=partitions)
                staged.add(batch[table.name])
                chunk.merges.append(staged.finish(held))
            planned.note(chunk.conn, org_id, "benefits", plan, fetched, outcome)

        spec = PassSpec(
            name="benefits",
            items_after=planned.items_after,
            cursor_of=lambda pair: [pair[1], pair[2], pair[0]],
            key_of=list,
            item_from_key=lambda key: (int(key[0]), int(key[1]), int(key[2])),
            fetch=fetch,
            write=write,
            context_of=lambda pair: dict(zip(PAIR, pair, strict=True)),
            total=planned.total,
            quarantine=lambda conn, pairs: freshness.quarantine(conn, org_id, "benefits", pairs),
            contradicts=lambda conn, answered: _benefits_before(conn, partitions, answered),
        )
        waiting = run_chunks(
            engine, client, scope, org_id, checkpoint, spec, outcome, options.chunk_size
        )
        family = [(t, PAIR, base) for t in BENEFIT_TABLES]
        _finish(engine, scope, options, checkpoint, outcome, family, negatives=(spec, waiting))

    return _run(engine, client, scope, "benefits", options, org_pass)


# --- negative answers that contradict stored rows (see chunks.MassNegatives) -------------


def _found_before(conn: sa.Connection, org_id: int, answered: list[tuple[Any, Any]]) -> set[Any]:
    """Roster entries answered "not found" that were found before."""
    negative = {entry[:3]: entry for entry, answer in answered if isinstance(answer, NotFound)}
    if not negative:
        return set()
    t = tables.customer_roster
    key = sa.tuple_(t.c.source, t.c.identifier_name, t.c.identifier_value)
    found = conn.execute(
        sa.select(t.c.source, t.c.identifier_name, t.c.identifier_value).where(
            t.c.org_id == org_id, t.c.customer_id.is_not(None), key.in_(sorted(negative))
        )
    ).tuples()
    return {negative[tuple(row)] for row in found}


def _holding(
    conn: sa.Connection, partitions: PartitionScope, answered: list[tuple[int, Any]]
) -> set[int]:
    """Customers answered "not found" by promotionData that hold stored promotions."""
    negative = [c for c, answer in answered if isinstance(answer, NotFound)]
    return _suspiciously_emptied(conn, partitions, negative)


def _benefits_before(
    conn: sa.Connection, partitions: PartitionScope, answered: list[tuple[Any, Any]]
) -> set[tuple[int, int, int]]:
    """Pairs answered "not found" or "no benefits" (8116) whose stored rows show benefits."""
    negative = [
        pair
        for pair, answer in answered
        if isinstance(answer, NotFound)
        or (not isinstance(answer, Exception) and answer.no_benefits)
    ]
    if not negative:
        return set()
    found: set[tuple[int, int, int]] = set()
    for table in BENEFIT_TABLES:
        columns = [table.c[c] for c in PAIR]
        query = sa.select(*columns).where(
            partitions.where(table), sa.tuple_(*columns).in_(sorted(negative))
        )
        if table is tables.benefit_summaries:
            query = query.where(table.c.no_benefits.is_(False))
        found.update(tuple(int(v) for v in row) for row in conn.execute(query))
    return found
