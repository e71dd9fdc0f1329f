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

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import sqlalchemy as sa

from loyalty_sync.capillary.client import CapillaryClient
from loyalty_sync.defs.jobs import API_POOL
from loyalty_sync.defs.metadata import (
    SYNC_FRESHNESS,
    asset_spec,
    markdown_table,
    table_metadata,
    table_spec_metadata,
)
from loyalty_sync.defs.partitions import org_program_partitions
from loyalty_sync.defs.resources import WAREHOUSE_IO_MANAGER, CapillaryResource, WarehouseResource
from loyalty_sync.sync import passes
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.sync.tally import (
    PassOutcome,
    as_metadata_counts,
    finish_runs,
    record_pass,
    start_runs,
)
from loyalty_sync.warehouse import tables

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


def _run_scope(context: dg.AssetExecutionContext) -> RunScope:
    return RunScope.from_partition_keys(context.run.run_id, context.partition_keys)


def _run_pass(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    capillary: CapillaryResource,
    body: Callable[[sa.Engine, CapillaryClient, RunScope], PassOutcome],
    family: list[sa.Table],
) -> Iterator[dg.MaterializeResult]:
    """Run one pass, keep sync_runs current, and report each table of the family."""
    engine = warehouse.get_engine()
    scope = _run_scope(context)
    start_runs(engine, scope)
    try:
        outcome = body(engine, capillary.get_client(), scope)
    except Exception as exc:
        finish_runs(engine, scope, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    record_pass(engine, scope, outcome)
    endpoint = capillary.describe()
    for table in family:
        yield dg.MaterializeResult(
            asset_key=table.name,
            metadata={**table_metadata(engine, table, scope, outcome), **endpoint},
        )


@dg.multi_asset(
    name="customers_pass",
    specs=[
        asset_spec(
            tables.customers,
            "Customer profiles, one customerDetails lookup (embed=mlp) per roster entry.",
            deps=[customer_roster],
        ),
        asset_spec(
            tables.loyalty_program_details,
            "Points and tier per program, from the same lookup (loyaltyDetails for `id` rows).",
            deps=[customer_roster],
        ),
        asset_spec(
            tables.tier_history,
            "A row each time a customer's tier differs from the previous sync's.",
            deps=[customer_roster],
        ),
    ],
    partitions_def=org_program_partitions,
    backfill_policy=_POLICY,
    pool=API_POOL,
)
def customers_pass(
    context: dg.AssetExecutionContext, capillary: CapillaryResource, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    yield from _run_pass(
        context,
        warehouse,
        capillary,
        passes.sync_customers,
        [tables.customers, tables.loyalty_program_details, tables.tier_history],
    )


@dg.multi_asset(
    name="promotions_pass",
    specs=[
        asset_spec(
            tables.promotions,
            "Promotions held by roster customers (promotionData) and listed in /v3/promotions.",
            deps=["customers"],
        ),
        asset_spec(
            tables.customer_promotions,
            "Each customer's usage of and restrictions in each promotion they hold.",
            deps=["customers"],
        ),
    ],
    partitions_def=org_program_partitions,
    backfill_policy=_POLICY,
    pool=API_POOL,
)
def promotions_pass(
    context: dg.AssetExecutionContext, capillary: CapillaryResource, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    yield from _run_pass(
        context,
        warehouse,
        capillary,
        passes.sync_promotions,
        [tables.promotions, tables.customer_promotions],
    )


BENEFIT_TABLES = [
    tables.benefit_summaries,
    tables.benefit_points,
    tables.benefit_alternate_currencies,
    tables.benefit_incentives,
]


@dg.multi_asset(
    name="benefits_pass",
    specs=[
        asset_spec(
            tables.benefit_summaries,
            "One actionSummary per enrolled customer and promotion; 8116 = no benefits earned.",
            deps=["customer_promotions", "loyalty_program_details"],
        ),
        asset_spec(
            tables.benefit_points,
            "Points issued per category.",
            deps=["customer_promotions", "loyalty_program_details"],
        ),
        asset_spec(
            tables.benefit_alternate_currencies,
            "Alternate currencies issued.",
            deps=["customer_promotions", "loyalty_program_details"],
        ),
        asset_spec(
            tables.benefit_incentives,
            "Rewards, coupons, badges, enrolments, opt-ins and tier upgrades issued.",
            deps=["customer_promotions", "loyalty_program_details"],
        ),
    ],
    partitions_def=org_program_partitions,
    backfill_policy=_POLICY,
    pool=API_POOL,
)
def benefits_pass(
    context: dg.AssetExecutionContext, capillary: CapillaryResource, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    api_version = capillary.benefits_api

    def body(engine: sa.Engine, client: CapillaryClient, scope: RunScope) -> PassOutcome:
        return passes.sync_benefits(engine, client, scope, api_version)

    yield from _run_pass(context, warehouse, capillary, body, BENEFIT_TABLES)


@dg.asset(
    name="api_events",
    description=(
        "Every warning and error code the API answered in this sync, with its context. "
        "Materialising it closes the partitions' sync_runs rows as successful."
    ),
    group_name="capillary",
    kinds={"postgres"},
    owners=["team:data-engineering"],
    partitions_def=org_program_partitions,
    backfill_policy=_POLICY,
    deps=["tier_history", "promotions", *[t.name for t in BENEFIT_TABLES]],
    metadata=table_spec_metadata(tables.api_events),
    io_manager_key=WAREHOUSE_IO_MANAGER,
    freshness_policy=SYNC_FRESHNESS,
)
def api_events(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    engine = warehouse.get_engine()
    scope = _run_scope(context)
    t = tables.api_events
    with engine.connect() as conn:
        by_code = dict(
            conn.execute(
                sa.select(t.c.code, sa.func.count())
                .where(t.c.run_id == scope.run_id)
                .group_by(t.c.code)
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
            .where(t.c.run_id == scope.run_id)
            .order_by(t.c.id)
            .limit(10)
        ).all()
    finish_runs(engine, scope, "success")
    sample = markdown_table(
        ["endpoint", "code", "message", "org", "program", "customer", "promotion"],
        sample_rows,
        empty="_no events_",
    )
    metadata: dict[str, Any] = {
        "events_this_run": sum(by_code.values()),
        "events_by_code": as_metadata_counts({k: v for k, v in by_code.items() if k is not None}),
        "sample": dg.MetadataValue.md(sample),
        "partitions": ", ".join(scope.partition_keys),
    }
    return dg.MaterializeResult(metadata=metadata)


capillary_assets: list[Any] = [
    customer_roster,
    customers_pass,
    promotions_pass,
    benefits_pass,
    api_events,
]
