"""`promotion_performance`: what ops opens to see which promotions give nothing.

Its figures are aggregated in Postgres, and only for the promotions of the run's
partitions whose inputs changed since it last ran (`reports/performance_refresh.py`), so
a sync's report costs what the sync changed, not what the warehouse holds. The new
figures are merged into `capillary.promotion_performance` through the same bulk writer as
the passes, in the transaction that computed them; the metadata is then read back from
that table, one row per promotion whatever the number of members. It shows the table as
markdown, and the numbers ops would follow over time as numeric metadata, which the UI
plots across materialisations.

It is in a group of its own, not `capillary`: it calls no API and takes no slot of the
API pool. The `capillary_sync` job selects it by name (`defs/jobs.py`) so every sync,
from the CLI, the schedule or a backfill, refreshes it after the passes.
"""

from typing import Any

import dagster as dg
import pandas as pd

from loyalty_sync.defs.jobs import FULL_TAG, REPORTING_GROUP
from loyalty_sync.defs.metadata import SYNC_FRESHNESS, markdown_table, table_spec_metadata
from loyalty_sync.defs.partitions import org_program_partitions
from loyalty_sync.defs.resources import WAREHOUSE_IO_MANAGER, WarehouseResource
from loyalty_sync.reports.performance_refresh import refresh, stored
from loyalty_sync.reports.promotion_performance import INPUT_COLUMNS
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope, parse_partition_key

SHOWN_ROWS = 50
_HEADER = [
    "promotion",
    "name",
    "status",
    "holders",
    "enrolled",
    "summaries",
    "8116 share",
    "benefited",
    "points",
    "currencies",
    "incentives",
    "last benefit",
]


def _gave_nothing(frame: pd.DataFrame) -> pd.Series:
    """Asked about (actionSummary answered for its holders) and nothing issued to anyone.

    A promotion with no summaries is not counted: it ended before the API's benefit window
    or nobody enrolled holds it, so nothing is known either way.
    """
    return (frame["summaries_fetched"] > 0) & (frame["customers_benefited"] == 0)


def _markdown(frame: pd.DataFrame) -> str:
    """Promotions that gave nothing first, then by 8116 share: what ops reads top-down."""
    ordered = frame.assign(
        _nothing=_gave_nothing(frame),
        _share=frame["no_benefits_share"].fillna(-1.0),
    ).sort_values(["_nothing", "_share", "promotion_id"], ascending=[False, False, True])
    rows = [
        [
            r.promotion_id,
            r.promotion_name,
            r.status,
            r.holders,
            r.enrolled_holders,
            r.summaries_fetched,
            "" if pd.isna(r.no_benefits_share) else f"{r.no_benefits_share:.0%}",
            r.customers_benefited,
            r.points_issued,
            ", ".join(f"{k} {v}" for k, v in r.currencies_issued.items()),
            ", ".join(f"{k} {v}" for k, v in r.incentives_by_action.items()),
            "" if pd.isna(r.last_benefit_at) else f"{r.last_benefit_at:%Y-%m-%d}",
        ]
        for r in ordered.itertuples()
    ]
    return markdown_table(_HEADER, rows, limit=SHOWN_ROWS, empty="_no promotions_")


def _plotted(frame: pd.DataFrame) -> dict[str, Any]:
    """Totals over the run's partitions, as numbers the UI plots over time."""
    fetched = int(frame["summaries_fetched"].sum())
    nothing = frame[_gave_nothing(frame)]
    return {
        "promotions": dg.MetadataValue.int(len(frame)),
        "promotions_giving_nothing": dg.MetadataValue.int(len(nothing)),
        "holders": dg.MetadataValue.int(int(frame["holders"].sum())),
        "enrolled_holders": dg.MetadataValue.int(int(frame["enrolled_holders"].sum())),
        "summaries_fetched": dg.MetadataValue.int(fetched),
        "no_benefits_share": dg.MetadataValue.float(
            round(int(frame["no_benefits_summaries"].sum()) / fetched, 4) if fetched else 0.0
        ),
        "customers_benefited": dg.MetadataValue.int(int(frame["customers_benefited"].sum())),
        "points_issued": dg.MetadataValue.float(float(sum(frame["points_issued"], 0))),
        "incentives_issued": dg.MetadataValue.int(int(frame["incentives_issued"].sum())),
    }


@dg.asset(
    name="promotion_performance",
    description=(
        "Per promotion: holders, enrolled holders, actionSummary answers and their 8116 "
        "share, points by category, alternate currencies and incentives issued, first and "
        "last benefit. Aggregated in Postgres from the synced tables."
    ),
    group_name=REPORTING_GROUP,
    kinds={"postgres", "pandas"},
    owners=["team:data-engineering"],
    partitions_def=org_program_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key=WAREHOUSE_IO_MANAGER,
    freshness_policy=SYNC_FRESHNESS,
    metadata=table_spec_metadata(tables.promotion_performance),
    deps=[dg.AssetKey(name) for name in INPUT_COLUMNS],
)
def promotion_performance(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    scope = PartitionScope.from_keys(context.partition_keys)
    full = context.run.tags.get(FULL_TAG, "").lower() == "true"
    with warehouse.get_engine().begin() as conn:
        merged = refresh(conn, scope, run_id=context.run.run_id, full=full)
        frame = stored(conn, scope)
    for key in scope.keys:
        # Each partition's materialisation counts its own promotions, not the run's.
        org_id, program_id = parse_partition_key(key)
        own = (frame["org_id"] == org_id) & (frame["program_id"] == program_id)
        context.add_asset_metadata(
            {"dagster/row_count": int(own.sum()), "partition": key}, partition_key=key
        )
    return dg.MaterializeResult(
        metadata={
            "run_row_count": len(frame),
            "rows_inserted": merged.inserted,
            "rows_updated": merged.updated,
            "rows_deleted": merged.deleted,
            "partitions": ", ".join(scope.keys),
            **_plotted(frame),
            "promotions_table": dg.MetadataValue.md(_markdown(frame)),
        }
    )
