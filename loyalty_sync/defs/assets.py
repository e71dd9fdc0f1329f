"""The asset graph: three API passes, each one `multi_asset`, partitioned by org/program.

    customer_roster -> customers, loyalty_program_details, tier_history   (customerDetails)
                    -> promotions, customer_promotions                     (promotionData)
                    -> benefit_summaries, _points, _alternate_currencies, _incentives
                    -> api_events                                          (closes the sync)

Assets from one API pass are one multi_asset: one call feeds several tables, and the
tables of a family commit together. `BackfillPolicy.single_run()` makes a backfill over
many partitions one run, and the passes group a run's partitions by org so each customer
is fetched once whatever the number of programs.
"""

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from loyalty_sync.defs import partition_results
from loyalty_sync.defs.dead_runs import close_ended_runs
from loyalty_sync.defs.failures import failure, reported_plainly
from loyalty_sync.defs.jobs import API_POOL, FULL_TAG
from loyalty_sync.defs.metadata import (
    SYNC_FRESHNESS,
    asset_spec,
    markdown_table,
    table_metadata,
    table_spec_metadata,
)
from loyalty_sync.defs.partitions import org_program_partitions
from loyalty_sync.defs.resources import WAREHOUSE_IO_MANAGER, CapillaryResource, WarehouseResource
from loyalty_sync.settings import (
    DRIFT_SAMPLE_ENV,
    MAX_AGE_ENV,
    chunk_size_from_env,
    drift_sample_from_env,
    event_retention_days_from_env,
    max_age_days_from_env,
)
from loyalty_sync.sync import passes
from loyalty_sync.sync.change_signals import SignalPolicy
from loyalty_sync.sync.ledger import (
    PassOutcome,
    as_metadata_counts,
    fail_runs,
    open_runs,
    record_pass,
)
from loyalty_sync.sync.passes import OrgPass, PassOptions
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse import locks, retention, tables
from loyalty_sync.warehouse.scope import INVALID_KEY_HINT, split_partition_keys
from loyalty_sync.warehouse.source import verify_source

customer_roster = dg.AssetSpec(
    "customer_roster",
    description=(
        "Customer identifiers to sync, loaded with `loyalty-sync roster import FILE.csv`. "
        "Capillary has no 'list all customers' endpoint, so every sync starts here."
    ),
    group_name="capillary",
    kinds={"postgres", "csv"},
    owners=["team:data-engineering"],
    metadata=table_spec_metadata(tables.customer_roster),
).with_io_manager_key(WAREHOUSE_IO_MANAGER)

_POLICY = dg.BackfillPolicy.single_run()


def family_note(members: list[sa.Table]) -> str:
    """The sentence every asset of a pass carries: its tables materialise together.

    Selecting one of them alone in the UI fails with DagsterInvalidSubsetError: the pass
    is one op (a multi_asset that cannot be subset), since one API call feeds all of them.
    """
    names = ", ".join(t.name for t in members)
    return (
        f" One API pass writes {names}: they materialise together, so select them all "
        "(selecting one alone is refused)."
    )


# What each table's asset says of it (the family note is added), and each pass's inputs.
DESCRIPTIONS = {
    "customers": "Customer profiles, one customerDetails lookup (embed=mlp) per roster entry.",
    "loyalty_program_details": "Points and tier per program, from the same lookup "
    "(loyaltyDetails for `id` rows).",
    "tier_history": "A row each time a customer's tier differs from the previous sync's.",
    "promotions": "Promotions held by roster customers (promotionData) and listed in "
    "/v3/promotions.",
    "customer_promotions": "Each customer's usage of and restrictions in each promotion they hold.",
    "benefit_summaries": "One actionSummary per enrolled customer and promotion; 8116 = no "
    "benefits earned.",
    "benefit_points": "Points issued per category.",
    "benefit_alternate_currencies": "Alternate currencies issued.",
    "benefit_incentives": "Rewards, coupons, badges, enrolments, opt-ins and tier upgrades issued.",
}
DEPS: dict[str, list[Any]] = {
    "customers": [customer_roster],
    "promotions": ["customers"],
    "benefits": ["customer_promotions", "loyalty_program_details"],
}


class PassConfig(dg.Config):
    """How a pass cuts its work; the defaults suit a roster of any size."""

    chunk_size: int | None = Field(
        default=None,
        description="Items (customers, or customer/promotion pairs) per committed chunk; "
        "unset: LOYALTY_SYNC_CHUNK_SIZE, else 250. A kill costs at most one chunk of calls.",
    )
    resume_within_hours: float = Field(
        default=12.0,
        description="An unfinished pass touched within this many hours is resumed from its "
        "checkpoint; an older one starts over.",
    )

    max_drop_share: float = Field(
        default=0.2,
        description="The drop guard: a pass that would delete more than this share of a "
        "partition's rows of a table deletes nothing and reports it.",
    )
    accept_drops: bool = Field(
        default=False,
        description="Apply deletes the drop guard would hold back: for a drop known to be "
        "genuine (a roster cut on purpose, promotions withdrawn).",
    )

    full: bool = Field(
        default=False,
        description="Ignore change signals and fetch every customer and pair (the run tag "
        f"{FULL_TAG}=true does the same). Daily syncs fetch only what may have changed.",
    )
    max_age_days: int | None = Field(
        default=None,
        description="Fetch every item at least this often, whatever the signals say, spread "
        f"evenly over the days; unset: {MAX_AGE_ENV}, else 7.",
    )
    drift_sample: float | None = Field(
        default=None,
        description="Share of skipped items fetched anyway and compared, to measure what the "
        f"signals miss; unset: {DRIFT_SAMPLE_ENV}, else 0.01.",
    )

    def options(self, context: dg.AssetExecutionContext | None = None) -> PassOptions:
        tagged = context is not None and context.run.tags.get(FULL_TAG, "").lower() == "true"
        return PassOptions(
            chunk_size=self.chunk_size or chunk_size_from_env(),
            resume_within=timedelta(hours=self.resume_within_hours),
            max_drop_share=self.max_drop_share,
            accept_drops=self.accept_drops,
            policy=SignalPolicy(
                full=self.full or tagged,
                max_age_days=self.max_age_days or max_age_days_from_env(),
                sample_share=(
                    drift_sample_from_env() if self.drift_sample is None else self.drift_sample
                ),
            ),
        )


# Each pass's multi_asset name -> its name in the run record (sync_runs, checkpoints).
PASS_NAMES = {f"{p.name}_pass": p.name for p in passes.PASSES}


def _run_scope(context: dg.AssetExecutionContext) -> RunScope:
    """The run's org/program partitions; a key that names none is skipped, or fails the run.

    Anyone can add a partition key in the UI's launch dialog. A range that takes in such a
    key syncs the others; a run of nothing but such keys fails at once, in one line.
    """
    valid, invalid = split_partition_keys(context.partition_keys)
    for key in invalid:
        context.log.warning(f"skipped partition {key!r}: {INVALID_KEY_HINT.format(key=key)}")
    if not valid:
        keys = ", ".join(repr(k) for k in invalid)
        raise failure(
            f"partition {keys} names no org/program (ORG-PROGRAM, e.g. 51135-2568): "
            + INVALID_KEY_HINT.format(key=invalid[0]),
            "PartitionKeyError",
        )
    return RunScope.from_partition_keys(
        context.run.run_id, valid, _expected_passes(context), _started_at(context)
    )


def _started_at(context: dg.AssetExecutionContext) -> datetime | None:
    """When the run started (before any wait for its partitions), by Dagster's clock."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    if record is None or record.start_time is None:
        return None
    return datetime.fromtimestamp(record.start_time, UTC)


def _expected_passes(context: dg.AssetExecutionContext) -> list[str]:
    """The passes this run makes: its selection's, less the steps it does not execute.

    A retry from failure (run monitoring failing a dead worker, then a run retry) keeps
    the whole selection but executes only the steps that had not succeeded; expecting
    the others would leave its `sync_runs` rows `running` for ever.
    """
    selection = context.run.asset_selection
    steps = context.run.step_keys_to_execute
    return [
        name
        for op_name, name in PASS_NAMES.items()
        if (not selection or selection & _PASS_KEYS[op_name])
        and (steps is None or op_name in steps)
    ]


def _run_pass(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    capillary: CapillaryResource,
    pass_type: type[OrgPass],
    options: PassOptions,
) -> Iterator[dg.MaterializeResult]:
    """Run one pass, keep the run record current, and report each table of the family."""
    scope = _run_scope(context)
    engine, outcome = _synced(context, warehouse, capillary, pass_type, options, scope)
    _log_guards(context, pass_type.name, outcome)
    yield from _materialised(context, engine, capillary, pass_type, scope, outcome)


def _synced(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    capillary: CapillaryResource,
    pass_type: type[OrgPass],
    options: PassOptions,
    scope: RunScope,
) -> tuple[sa.Engine, PassOutcome]:
    """The pass itself, with its partitions held and its `sync_runs` rows kept current.

    Every API pass of every run, whoever launched it, comes through here: this is where a
    sync from a source other than the warehouse's is refused, before any call.
    """
    with reported_plainly():
        engine = warehouse.get_engine()
        verify_source(engine, capillary.source(), embedded=warehouse.url() is None)
        # One sync of a partition at a time (a CLI run already holds its partitions: no-op).
        with locks.hold(
            engine, scope.partition_keys, holder=f"run {scope.run_id}", say=context.log.warning
        ):
            for line in close_ended_runs(context.instance, engine):
                context.log.info(line)
            open_runs(engine, scope, scope.passes)
            try:
                outcome = pass_type.sync(engine, capillary.get_client(), scope, options)
            except Exception as exc:
                fail_runs(engine, scope, f"{type(exc).__name__}: {exc}")
                raise
            record_pass(engine, scope, pass_type.name, outcome, [t.name for t in pass_type.tables])
    return engine, outcome


def _log_guards(context: dg.AssetExecutionContext, name: str, outcome: PassOutcome) -> None:
    if outcome.resumed:
        context.log.info(f"{name} pass resumed from its checkpoint: {'; '.join(outcome.resumed)}")
    if outcome.held_back:
        context.log.warning(
            f"{name} pass: a guard held back every delete and overwrite "
            f"({'; '.join(outcome.held_back)}); the rows stay. Sync with accept_drops if "
            "this is genuine."
        )


def _materialised(
    context: dg.AssetExecutionContext,
    engine: sa.Engine,
    capillary: CapillaryResource,
    pass_type: type[OrgPass],
    scope: RunScope,
    outcome: PassOutcome,
) -> Iterator[dg.MaterializeResult]:
    """Each table's materialisation: each partition's own figures first, then the run's."""
    endpoint = capillary.describe()
    for table in pass_type.tables:
        run_wide = {
            **table_metadata(engine, table, scope, outcome),
            **endpoint,
            "pass": pass_type.name,
        }
        own = partition_results.by_partition(engine, table, scope, outcome)
        partition_results.record(
            context, table.name, {key: {**mine, **run_wide, **mine} for key, mine in own.items()}
        )
        yield dg.MaterializeResult(asset_key=table.name)


def pass_assets(pass_type: type[OrgPass]) -> dg.AssetsDefinition:
    """The multi_asset of one pass: a table each, materialised together by one op."""
    family = list(pass_type.tables)
    specs = [
        asset_spec(t, DESCRIPTIONS[t.name] + family_note(family), deps=DEPS[pass_type.name])
        for t in family
    ]

    @dg.multi_asset(
        name=f"{pass_type.name}_pass",
        specs=specs,
        partitions_def=org_program_partitions,
        backfill_policy=_POLICY,
        pool=API_POOL,
    )
    def sync_pass(
        context: dg.AssetExecutionContext,
        config: PassConfig,
        capillary: CapillaryResource,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult]:
        options = replace(config.options(context), benefits_api=capillary.benefits_api)
        yield from _run_pass(context, warehouse, capillary, pass_type, options)

    return sync_pass


customers_pass, promotions_pass, benefits_pass = (pass_assets(p) for p in passes.PASSES)


@dg.asset(
    name="api_events",
    description=(
        "Every warning and error code the API answered in this sync, with its context, "
        "summed by code for the run."
    ),
    group_name="capillary",
    kinds={"postgres"},
    owners=["team:data-engineering"],
    partitions_def=org_program_partitions,
    backfill_policy=_POLICY,
    deps=["tier_history", "promotions", *[t.name for t in passes.BENEFIT_TABLES]],
    metadata=table_spec_metadata(tables.api_events),
    io_manager_key=WAREHOUSE_IO_MANAGER,
    freshness_policy=SYNC_FRESHNESS,
)
def api_events(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    scope = _run_scope(context)
    with reported_plainly():
        engine = warehouse.get_engine()
    by_code, sample_rows = _run_events(engine, scope.run_id)
    for key, metadata in partition_results.sync_run_totals(engine, scope.run_id).items():
        context.add_asset_metadata(metadata, partition_key=key)
    pruned = retention.prune_events(engine, event_retention_days_from_env())
    sample = markdown_table(
        ["endpoint", "code", "message", "org", "program", "customer", "promotion"],
        sample_rows,
        empty="_no events_",
    )
    metadata: dict[str, Any] = {
        "run_events": sum(by_code.values()),
        "run_events_by_code": as_metadata_counts(
            {k: v for k, v in by_code.items() if k is not None}
        ),
        "sample": dg.MetadataValue.md(sample),
        "partitions": ", ".join(scope.partition_keys),
        "events_pruned": pruned,
    }
    return dg.MaterializeResult(metadata=metadata)


def _run_events(engine: sa.Engine, run_id: str) -> tuple[dict[int | None, int], list[Any]]:
    """The run's events counted by code, and its first ten."""
    t = tables.api_events
    with engine.connect() as conn:
        by_code = dict(
            conn.execute(
                sa.select(t.c.code, sa.func.count()).where(t.c.run_id == run_id).group_by(t.c.code)
            ).all()
        )
        sample_rows = conn.execute(
            sa.select(
                t.c.endpoint,
                t.c.code,
                t.c.message,
                t.c.org_id,
                t.c.program_id,
                t.c.customer_id,
                t.c.promotion_id,
            )
            .where(t.c.run_id == run_id)
            .order_by(t.c.id)
            .limit(10)
        ).all()
    return by_code, list(sample_rows)


_PASS_KEYS = {
    pass_def.node_def.name: set(pass_def.keys)
    for pass_def in (customers_pass, promotions_pass, benefits_pass)
}

capillary_assets: list[Any] = [
    customer_roster,
    customers_pass,
    promotions_pass,
    benefits_pass,
    api_events,
]
