"""Materialisation metadata built from the warehouse tables and a pass's tally.

Everything an engineer needs about a materialisation is here, not only in logs: row
counts (inserted, updated, unchanged, deleted), API calls and retries, warning codes, a
sample of the rows, and the column schema taken from `warehouse.tables`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import dagster as dg
import sqlalchemy as sa

from loyalty_sync.checks.sync_health import ERROR_AFTER_HOURS, WARN_AFTER_HOURS
from loyalty_sync.defs.resources.io_manager import WAREHOUSE_IO_MANAGER
from loyalty_sync.sync.ledger import PassOutcome, as_metadata_counts
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.text import one_line
from loyalty_sync.warehouse import tables

SAMPLE_ROWS = 5
_SKIP_IN_SAMPLE = {"raw", "synced_at", "run_id", "extended_fields", "promotion_metadata"}


def column_schema(table: sa.Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=str(column.type).lower(),
                description=column.comment,
                constraints=dg.TableColumnConstraints(nullable=bool(column.nullable), unique=False),
            )
            for column in table.columns
        ]
    )


# What the UI shows as each synced asset's freshness: its latest materialisation, of any
# partition, against the daily schedule. `api_events/partitions_fresh` (from sync_runs)
# stays the judge of each partition; this is the glance at the asset list.
SYNC_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=ERROR_AFTER_HOURS), warn_window=timedelta(hours=WARN_AFTER_HOURS)
)


def table_spec_metadata(table: sa.Table) -> dict[str, Any]:
    """Definition metadata of an asset stored as a warehouse table: schema and name."""
    return {
        "dagster/column_schema": column_schema(table),
        "dagster/table_name": f"{tables.SCHEMA}.{table.name}",
    }


def asset_spec(table: sa.Table, description: str, **kwargs: Any) -> dg.AssetSpec:
    """An AssetSpec for a synced table: group, kinds, owner, column schema, freshness, and
    the I/O manager downstream assets load it through, in one place."""
    from loyalty_sync.defs.partitions import org_program_partitions

    return dg.AssetSpec(
        table.name,
        description=description,
        group_name="capillary",
        kinds={"postgres", "python"},
        owners=["team:data-engineering"],
        partitions_def=org_program_partitions,
        metadata=table_spec_metadata(table),
        freshness_policy=SYNC_FRESHNESS,
        **kwargs,
    ).with_io_manager_key(WAREHOUSE_IO_MANAGER)


def markdown_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    limit: int | None = None,
    total: int | None = None,
    empty: str = "_none_",
) -> str:
    """The first `limit` of `rows` as a markdown table, `empty` when there are none.

    Every cell is `markdown_text`: None blank, anything else inert text on one line. When
    fewer rows are shown than there are (`total`, default all of `rows`), a line says so.
    """
    if not rows:
        return empty
    shown = rows if limit is None else rows[:limit]
    lines = ["| " + " | ".join(markdown_text(name) for name in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(markdown_text(value) for value in row) + " |" for row in shown]
    total = len(rows) if total is None else total
    if total > len(shown):
        lines.append(f"\n_{len(shown)} of {total} shown_")
    return "\n".join(lines)


# ASCII punctuation, which CommonMark lets a backslash make literal; all but `-`, which
# starts markup (a list, a rule) only at a line's start, so partition keys and dates
# (`51135-2568`, `2026-06-12`) stay as they read.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-,./:-@\[-`{-~])")


def markdown_text(value: Any) -> str:
    """`value` (a promotion name, an API message) as markdown that renders as its text.

    The UI renders metadata markdown: a name from Capillary could otherwise end a table
    cell (`|`), start a heading or a list, or carry raw HTML (`<img onerror=...>`), a link
    (`[x](javascript:...)`), an autolink or code. On one line (`text.one_line`) and with
    its punctuation backslash-escaped, it is plain text in any position (a table cell, a
    line of its own); letters, digits and spaces are left as they are.
    """
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", one_line(value))
    return "\\" + text if text.startswith("-") else text


def sample(engine: sa.Engine, table: sa.Table, scope: RunScope) -> str:
    """A few rows of `table` inside the run's partitions, as markdown."""
    query = sa.select(table).where(scope.partitions.where(table))
    key = list(table.primary_key.columns)
    with engine.connect() as conn:
        rows = list(conn.execute(query.order_by(*key).limit(SAMPLE_ROWS)))
    if not rows:
        return "_no rows_"
    columns = [c for c in rows[0]._fields if c not in _SKIP_IN_SAMPLE]
    return markdown_table(columns, [[_cut(row._mapping[c]) for c in columns] for row in rows])


def _cut(value: Any) -> str | None:
    """A sample cell's first 40 characters: the table is a glance, not the data."""
    return None if value is None else str(value)[:40]


def table_metadata(
    engine: sa.Engine, table: sa.Table, scope: RunScope, outcome: PassOutcome
) -> dict[str, Any]:
    """What the run did to `table`, over all its partitions (`run_` keys say so).

    Each partition's materialisation shows these next to its own counts (see
    `partition_results.py`): a family merges all of a run's partitions at once, so rows
    inserted, updated and deleted are known per run.
    """
    metadata: dict[str, Any] = {
        **_row_counts(engine, table, scope, outcome),
        "run_api_calls": outcome.calls,
        "run_api_retries": outcome.retries,
        "run_api_429s": outcome.api.get("throttled_429", 0),
        # OAuth token requests of the run's client so far; not API calls.
        "run_api_token_requests": outcome.api.get("token_requests", 0),
        "api_latency_ms": outcome.api.get("latency_ms", {}),
        "run_warnings_by_code": as_metadata_counts(outcome.codes),
        "partitions": ", ".join(scope.partition_keys),
        "sample": dg.MetadataValue.md(sample(engine, table, scope)),
    }
    if outcome.skipped:
        metadata["calls_skipped"] = as_metadata_counts(outcome.skipped)
    metadata.update(_signal_figures(outcome))
    if outcome.held_back:
        metadata["deletes_held_back"] = dg.MetadataValue.json(outcome.held_back)
    if outcome.quarantined:
        metadata["run_items_quarantined"] = outcome.quarantined
    if outcome.api.get("retries_by_cause"):
        metadata["api_retries_by_cause"] = outcome.api["retries_by_cause"]
    return metadata


def _row_counts(
    engine: sa.Engine, table: sa.Table, scope: RunScope, outcome: PassOutcome
) -> dict[str, int]:
    """The run's rows of `table`: in its partitions now, and what the merges did."""
    merge = outcome.merges.get(table.name)
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(table)
        total = int(conn.scalar(query.where(scope.partitions.where(table))) or 0)
    return {
        "run_rows_total": total,
        "run_rows_in_batch": merge.staged if merge else 0,
        "run_rows_inserted": merge.inserted if merge else 0,
        "run_rows_updated": merge.updated if merge else 0,
        "run_rows_unchanged": merge.unchanged if merge else 0,
        "run_rows_deleted": merge.deleted if merge else 0,
    }


def _signal_figures(outcome: PassOutcome) -> dict[str, Any]:
    """What the change signals did: calls against a full sync's, items by reason."""
    signals = outcome.signals
    if not signals.items:
        return {}
    return {
        "run_api_calls_full_sync_estimate": signals.full_calls,
        "run_items": signals.items,
        "run_items_fetched_by_reason": as_metadata_counts(signals.fetched),
        "run_items_skipped_by_reason": as_metadata_counts(signals.skipped_by_reason),
        "run_drift_sampled": signals.sampled,
        "run_drift_sampled_changed": signals.sampled_changed,
    }
