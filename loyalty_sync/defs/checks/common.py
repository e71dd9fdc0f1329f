"""What every check shares: which partitions it judges, its op tags, its tables."""

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from loyalty_sync.checks.findings import Offender, format_value
from loyalty_sync.defs.jobs import PRIORITY_TAG
from loyalty_sync.defs.metadata import markdown_table
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS, org_program_partitions
from loyalty_sync.warehouse.scope import INVALID_KEY_HINT, PartitionScope, split_partition_keys

# Op tags of the checks that gate nothing: a lower priority than the passes' default 0, so
# a run executes them once no API pass is ready (see the package docstring).
AFTER_THE_PASSES = {PRIORITY_TAG: "-1"}
# Checks judge each partition on its own and record a result per partition. Dagster 1.13
# marks partitioned check specs as a preview; the warning says nothing a user can act on.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")
PARTITIONED = org_program_partitions
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
    valid, invalid = split_partition_keys(keys)
    for key in invalid:
        context.log.warning(
            f"skipped partition {key!r}: not ORG-PROGRAM; " + INVALID_KEY_HINT.format(key=key)
        )
    return PartitionScope.from_keys(valid)


def per_partition(
    context: dg.AssetCheckExecutionContext,
    judge: Callable[[PartitionScope], Iterable[dg.AssetCheckResult]],
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """One evaluation per partition of the run, then the check's (empty) outputs.

    A run over a range of partitions is one step, and an `AssetCheckResult` records one
    result for the whole step, so the UI would show the run's verdict on every partition.
    An `AssetCheckEvaluation` names its partition: yielded per partition (each judged on
    its own rows by `judge`, which returns one result per check of the op), each
    partition's row in the check's Partitions view shows that partition's own result.
    """
    op = context.op_execution_context
    assets_def = op.assets_def
    for pair in judged_scope(context, judged_keys(context)):
        scope = PartitionScope.of([pair])
        key = scope.keys[0]
        for result in judge(scope):
            check_key = dg.AssetCheckKey(
                dg.AssetKey.from_coercible(result.asset_key or _only(assets_def).asset_key),
                result.check_name or _only(assets_def).name,
            )
            spec = assets_def.get_spec_for_check_key(check_key)
            yield dg.AssetCheckEvaluation(
                asset_key=check_key.asset_key,
                check_name=check_key.name,
                passed=result.passed,
                metadata={"partition": key, **result.metadata},
                severity=result.severity,
                description=f"{key}: {result.description}",
                blocking=spec.blocking,
                partition=key,
                target_materialization_data=_judged_materialization(
                    context.instance, check_key.asset_key, key
                ),
            )
    for check_key in sorted(assets_def.check_keys, key=str):
        yield dg.Output(None, output_name=assets_def.get_output_name_for_asset_check_key(check_key))


def _judged_materialization(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str
) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The partition's latest materialisation, which the evaluation judged.

    The UI counts a partition's check result as current (passed or failed, not missing)
    only when it points at the partition's latest materialisation.
    """
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    latest = records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=latest.storage_id, run_id=latest.run_id, timestamp=latest.timestamp
    )


def _only(assets_def: dg.AssetsDefinition) -> dg.AssetCheckKey:
    (check_key,) = assets_def.check_keys
    return check_key


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
