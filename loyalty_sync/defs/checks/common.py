"""What every check shares: which partitions it judges, its op tags, its tables."""

from collections.abc import Sequence

import dagster as dg

from loyalty_sync.checks.findings import Offender, format_value
from loyalty_sync.defs.jobs import PRIORITY_TAG
from loyalty_sync.defs.metadata import markdown_table
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.warehouse.scope import PartitionKeyError, PartitionScope, parse_partition_key

# Op tags of the checks that gate nothing: a lower priority than the passes' default 0, so
# a run executes them once no API pass is ready (see the package docstring).
AFTER_THE_PASSES = {PRIORITY_TAG: "-1"}
WARN = dg.AssetCheckSeverity.WARN
ERROR = dg.AssetCheckSeverity.ERROR


def judged_keys(context: dg.AssetCheckExecutionContext) -> list[str]:
    """The run's partition keys (one or a range); every known partition without any."""
    op = context.op_execution_context
    if op.has_partition_key or op.has_partition_key_range:
        return list(op.partition_keys)
    return list(context.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))


def judged_scope(context: dg.AssetCheckExecutionContext, keys: Sequence[str]) -> PartitionScope:
    """The partitions of `keys`; a key that names no org/program is skipped with a warning.

    Anyone can add a partition key from the UI's launch dialog, so a check must report a
    key like `nonsense`, not crash on it and fail every later sync.
    """
    valid: list[str] = []
    for key in keys:
        try:
            parse_partition_key(key)
        except PartitionKeyError as exc:
            context.log.warning(f"skipped: {exc}")
        else:
            valid.append(key)
    return PartitionScope.from_keys(valid)


def percent(share: float) -> str:
    return f"{share * 100:.1f} %"


def offenders_table(offenders: Sequence[Offender], limit: int, total: int) -> str:
    """The first `limit` offenders as `customer | program | promotion | values`."""
    return markdown_table(
        ["customer", "program", "promotion", "values"],
        [
            [
                o.customer_id,
                o.program_id,
                o.promotion_id,
                ", ".join(f"{k}={format_value(v)}" for k, v in o.values.items()),
            ]
            for o in offenders
        ],
        limit=limit,
        total=total,
    )
