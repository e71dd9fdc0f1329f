"""Asset checks in real syncs: the simulator over HTTP, a real PostgreSQL, a Dagster instance.

Every sync goes through `run_sync` (the `capillary_sync` job in process, as the CLI runs
it) or the CLI itself; check results are read back from the Dagster instance the sync
wrote to, which is what the UI shows. The simulator's reference date is today, so its
dates (tier expiries, promotion windows) sit where the checks expect them whenever the
tests run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from dagster._core.events import DagsterEventType

from capillary_simulator.server import RunningSimulator
from loyalty_sync.cli import main
from loyalty_sync.cli.sync_results import SyncSummary
from loyalty_sync.defs.checks import DRIFT_CHECKED, DROP_CHECKED, TIER_CHECKS, partitions_fresh
from loyalty_sync.defs.checks.config import PartitionsFreshConfig
from loyalty_sync.defs.resources import WarehouseResource
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import partition_key
from loyalty_sync_tests.factories import preset, serve_simulator
from loyalty_sync_tests.synced_warehouse import Warehouse, new_warehouse

# Two orgs, three programs; every customer of an org is in the roster.
PLANTED = preset("planted")
CLEAN = PLANTED.replace(anomalies=False, misconfigured_promotion=False)

# The simulator's anomaly kinds and the check that must name them.
CHECK_OF_KIND = {
    "negative_balance": "negative_balances",
    "available_points_mismatch": "available_points_sum",
    "next_slab_mismatch": "next_slab_serial",
    "points_not_enrolled": "points_while_not_enrolled",
    "slab_expired_kept": "tier_kept_past_expiry",
    "lifetime_below_loyalty": "lifetime_below_current",
}
ALL_CHECKS = {
    ("benefit_summaries", "no_benefits_share"),
    ("api_events", "partitions_fresh"),
    *(("loyalty_program_details", name) for name in TIER_CHECKS),
    *((table, "row_count_drop") for table in DROP_CHECKED),
    *((table, "change_signal_drift") for table in DRIFT_CHECKED),
}
Site = tuple[int, int, int]  # (org, program, customer)


@dataclass
class Verdict:
    """One check's evaluations in a run: one per partition (None: the check is not
    partitioned), seen together."""

    by_partition: dict[str | None, Any]

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.by_partition.values())

    @property
    def failed_keys(self) -> list[str | None]:
        return sorted(k for k, e in self.by_partition.items() if not e.passed)  # type: ignore[type-var]

    @property
    def severity(self) -> dg.AssetCheckSeverity:
        failing = [e for e in self.by_partition.values() if not e.passed]
        return (failing or list(self.by_partition.values()))[0].severity

    @property
    def blocking(self) -> bool:
        return all(e.blocking for e in self.by_partition.values())

    @property
    def description(self) -> str:
        return "; ".join(e.description or "" for e in self.by_partition.values())

    def values(self, name: str) -> list[Any]:
        return [e.metadata[name].value for e in self.by_partition.values()]

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata of the one evaluation of an unpartitioned check."""
        (only,) = self.by_partition.values()
        return only.metadata


def _evaluations(synced: Warehouse, run_id: str) -> dict[tuple[str, str], Verdict]:
    """The check evaluations the instance stored for one run, by (asset, check)."""
    with synced.instance() as instance:
        records = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    verdicts: dict[tuple[str, str], Verdict] = {}
    for e in (r.dagster_event.asset_check_evaluation_data for r in records):
        key = (e.asset_key.to_user_string(), e.check_name)
        verdicts.setdefault(key, Verdict({})).by_partition[e.partition] = e
    return verdicts


def _partition_keys(synced: Warehouse) -> list[str]:
    """Every partition of the simulator, in its order."""
    dataset = synced.sim.dataset
    return [
        partition_key(org, p.program_id) for org in dataset.org_ids for p in dataset.programs(org)
    ]


@pytest.fixture(scope="module")
def admin_url(server_admin_url: str, template_url: str) -> str:
    """The server's admin URL, once the migrated template exists to clone databases from."""
    return server_admin_url


def _start(sim: RunningSimulator, admin_url: str, home: Path) -> Warehouse:
    return new_warehouse(admin_url, home, sim, COLUMNS="200")


def _sites(verdict: Verdict) -> set[Site]:
    return {
        (o["org"], o["program"], o["customer"])
        for offenders in verdict.values("offenders")
        for o in offenders
    }


def _only_run(summary: SyncSummary) -> str:
    assert len(summary.runs) == 1, summary.runs
    return summary.runs[0].run_id


@pytest.fixture(scope="module")
def clean_sim() -> Iterator[RunningSimulator]:
    with serve_simulator(CLEAN) as sim:
        yield sim


# --- planted anomalies ---------------------------------------------------------------------


@dataclass
class PlantedRuns:
    synced: Warehouse
    first: str
    second: str
    downgraded: set[Site]
    lawful_moves: set[Site]


@pytest.fixture(scope="module")
def planted(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlantedRuns]:
    """Sync, move some tiers in the simulator, sync again."""
    with serve_simulator(PLANTED) as sim:
        synced = _start(sim, admin_url, tmp_path_factory.mktemp("planted"))
        first = synced.sync()
        assert first.success, first.runs
        dataset = sim.dataset
        planted_sites = {s for sites in dataset.planted_anomalies().values() for s in sites}
        downgraded: set[Site] = set()
        lawful: set[Site] = set()
        for org in dataset.org_ids:
            movable = [
                (c, m)
                for c in dataset.customers(org)
                for m in c.memberships
                if m.loyalty_id != -1
                and m.slab_serial >= 2
                and (org, m.program_id, c.customer_id) not in planted_sites
            ]
            customer, membership = movable[0]
            sim.set_tier(org, customer.customer_id, membership.program_id, 1)
            downgraded.add((org, membership.program_id, customer.customer_id))
            # An upgrade is no anomaly...
            customer, membership = movable[1]
            top = dataset.program(membership.program_id).top_serial  # type: ignore[union-attr]
            if membership.slab_serial < top:
                sim.set_tier(org, customer.customer_id, membership.program_id, top)
                lawful.add((org, membership.program_id, customer.customer_id))
        # ...nor a downgrade after the tier expired.
        org, program, customer_id = dataset.planted_anomalies()["slab_expired_kept"][0]
        sim.set_tier(org, customer_id, program, 1)
        lawful.add((org, program, customer_id))
        second = synced.sync()
        assert second.success, second.runs
        yield PlantedRuns(synced, _only_run(first), _only_run(second), downgraded, lawful)
        synced.close()


@pytest.mark.parametrize("kind", sorted(CHECK_OF_KIND))
def test_tier_check_names_exactly_the_planted_customers(planted: PlantedRuns, kind: str) -> None:
    check = CHECK_OF_KIND[kind]
    evaluation = _evaluations(planted.synced, planted.first)[("loyalty_program_details", check)]
    expected = set(planted.synced.sim.dataset.planted_anomalies()[kind])
    assert expected
    assert not evaluation.passed
    assert evaluation.severity == TIER_CHECKS[check][0]
    assert _sites(evaluation) == expected
    # Each partition's result names that partition's offenders only.
    assert set(evaluation.by_partition) == set(_partition_keys(planted.synced))
    for key, one in evaluation.by_partition.items():
        own = {s for s in expected if partition_key(s[0], s[1]) == key}
        assert one.passed == (not own)
        assert one.metadata["offending_rows"].value == len(own)
        assert one.metadata["partition"].value == key and one.partition == key
        assert one.description.startswith(f"{key}: ")
    assert sum(evaluation.values("offending_rows")) == len(expected)
    assert sum(evaluation.values("rows_judged")) > len(expected)
    assert all(0 <= share < 1 for share in evaluation.values("share"))
    sample = "".join(evaluation.values("sample"))
    assert "| customer | program | promotion | values |" in sample
    assert all(str(customer) in sample for _, _, customer in expected)


def test_downgrade_before_expiry_names_exactly_the_downgraded(planted: PlantedRuns) -> None:
    before = _evaluations(planted.synced, planted.first)
    assert before[("loyalty_program_details", "downgrade_before_expiry")].passed
    evaluation = _evaluations(planted.synced, planted.second)[
        ("loyalty_program_details", "downgrade_before_expiry")
    ]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert _sites(evaluation) == planted.downgraded
    assert not _sites(evaluation) & planted.lawful_moves
    with planted.synced.engine.connect() as conn:
        moves = conn.execute(
            sa.select(tables.tier_history).where(tables.tier_history.c.run_id == planted.second)
        ).all()
    assert {(m.org_id, m.program_id, m.customer_id) for m in moves} == (
        planted.downgraded | planted.lawful_moves
    )


def test_no_benefits_share_names_the_misconfigured_promotions(planted: PlantedRuns) -> None:
    evaluation = _evaluations(planted.synced, planted.first)[
        ("benefit_summaries", "no_benefits_share")
    ]
    expected = {
        (p.org_id, p.program_id, p.promotion_id)
        for p in planted.synced.sim.dataset.misconfigured_promotions()
    }
    assert len(expected) == len(planted.synced.sim.dataset.org_ids)
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    named = [p for ids in evaluation.values("misconfigured_promotion_ids") for p in ids]
    assert {(p["org"], p["program"], p["promotion"]) for p in named} == expected
    assert all(p["share"] == 1.0 and p["summaries"] >= 3 for p in named)
    assert evaluation.failed_keys == sorted(partition_key(o, p) for o, p, _ in expected)
    assert 0 < sum(evaluation.values("no_benefits_8116")) < sum(evaluation.values("summaries"))
    assert all(share < 0.5 for share in evaluation.values("share"))  # not the share alone
    sample = "".join(evaluation.values("sample"))
    assert all(str(promotion) in sample for _, _, promotion in expected)
    assert all(str(promotion) in evaluation.description for _, _, promotion in expected)


def test_planted_data_blocks_nothing(planted: PlantedRuns) -> None:
    """Failed tier and 8116 checks report; the run still completes every asset."""
    with planted.synced.engine.connect() as conn:
        statuses = set(
            conn.scalars(
                sa.select(tables.sync_runs.c.status).where(
                    tables.sync_runs.c.run_id == planted.second
                )
            )
        )
    assert statuses == {"success"}
    evaluations = _evaluations(planted.synced, planted.second)
    assert set(evaluations) == ALL_CHECKS
    for table in DROP_CHECKED:
        assert evaluations[(table, "row_count_drop")].passed
    assert evaluations[("api_events", "partitions_fresh")].passed


# --- clean data, through the CLI -----------------------------------------------------------


@dataclass
class CleanRuns:
    synced: Warehouse
    first: str
    cli_output: str
    cli_exit_code: int


@pytest.fixture(scope="module")
def clean(
    clean_sim: RunningSimulator, admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CleanRuns]:
    """A sync, then `loyalty-sync sync` again on unchanged data."""
    synced = _start(clean_sim, admin_url, tmp_path_factory.mktemp("clean"))
    first = synced.sync()
    assert first.success, first.runs
    with synced.environment():
        result = CliRunner().invoke(main, ["sync", "--no-progress"], catch_exceptions=False)
    yield CleanRuns(synced, _only_run(first), result.output, result.exit_code)
    synced.close()


def test_every_check_passes_on_clean_data(clean: CleanRuns) -> None:
    for run_id in (clean.first, _latest_run_id(clean.synced)):
        evaluations = _evaluations(clean.synced, run_id)
        assert set(evaluations) == ALL_CHECKS
        failed = {key: e.description for key, e in evaluations.items() if not e.passed}
        assert not failed


def _latest_run_id(synced: Warehouse) -> str:
    with synced.instance() as instance:
        return instance.get_runs(limit=1)[0].run_id


def test_cli_summary_lists_the_check_results(clean: CleanRuns) -> None:
    assert clean.cli_exit_code == 0, clean.cli_output
    assert "checks: 0 failed" in clean.cli_output
    # Passed checks are named with their assets: "passed: row_count_drop (customers, ...); ..."
    text = " ".join(clean.cli_output.split())
    passed = text[text.index("passed: ") + len("passed: ") : text.index("rows this sync")]
    named = {name: assets.split(", ") for name, assets in re.findall(r"(\w+) \(([^)]*)\)", passed)}
    for asset, check in ALL_CHECKS:
        assert asset in named.get(check, []), (asset, check, passed)


def test_check_results_are_in_the_instance_after_the_cli_sync(clean: CleanRuns) -> None:
    """What the UI shows: the latest evaluation of each check, from the CLI's run."""
    run_id = _latest_run_id(clean.synced)
    with clean.synced.instance() as instance:
        for asset, check in ALL_CHECKS:
            key = dg.AssetCheckKey(dg.AssetKey(asset), check)
            record = instance.get_latest_asset_check_evaluation_record(key)
            assert record is not None, key
            assert record.run_id == run_id
            evaluation = record.event.dagster_event.asset_check_evaluation_data  # type: ignore[union-attr]
            assert evaluation.passed
            assert evaluation.metadata


def test_only_blocking_checks_run_between_the_passes(clean: CleanRuns) -> None:
    """The API passes follow each other; checks that gate nothing wait until they are done."""
    run_id = _latest_run_id(clean.synced)
    with clean.synced.instance() as instance:
        started = [
            record.event_log_entry.step_key
            for record in instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.STEP_START
            ).records
        ]
    last_pass = started.index("benefits_pass")
    between = set(started[: last_pass + 1]) - {"customers_pass", "promotions_pass", "benefits_pass"}
    blocking = {f"{table}_row_count_drop" for table, blocks in DROP_CHECKED.items() if blocks}
    assert between == blocking
    assert {"tier_anomalies", "benefit_summaries_no_benefits_share"} <= set(started[last_pass:])


# --- row-count drops and partitions_fresh --------------------------------------------------


@pytest.mark.slow  # three syncs of its own
def test_row_count_drop_blocks_downstream_until_rerun(
    clean_sim: RunningSimulator, admin_url: str, tmp_path: Path
) -> None:
    synced = _start(clean_sim, admin_url, tmp_path)
    home_org = clean_sim.dataset.org_ids[0]
    assert synced.sync().success
    with synced.engine.connect() as conn:
        benefits_before = conn.execute(sa.select(tables.benefit_summaries)).all()
    roster = tables.customer_roster
    with synced.engine.begin() as conn:
        kept = conn.scalars(
            sa.select(roster.c.identifier_value)
            .where(roster.c.org_id == home_org)
            .order_by(roster.c.identifier_value)
            .limit(10)
        ).all()
        conn.execute(
            sa.delete(roster).where(
                roster.c.org_id == home_org, roster.c.identifier_value.not_in(kept)
            )
        )

    blocked = synced.sync()
    assert not blocked.success
    assert "row_count_drop" in (blocked.runs[0].error or "")
    run_id = _only_run(blocked)
    evaluations = _evaluations(synced, run_id)
    home_keys = [k for k in _partition_keys(synced) if k.startswith(f"{home_org}-")]
    for table in ("customers", "loyalty_program_details"):
        evaluation = evaluations[(table, "row_count_drop")]
        assert not evaluation.passed
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert evaluation.blocking
        assert evaluation.failed_keys == home_keys
    assert ("benefit_summaries", "no_benefits_share") not in evaluations  # never ran
    with synced.engine.connect() as conn:
        assert conn.execute(sa.select(tables.benefit_summaries)).all() == benefits_before
        runs = conn.execute(
            sa.select(tables.sync_runs).where(tables.sync_runs.c.run_id == run_id)
        ).all()
    assert {r.status for r in runs} == {"failed"}
    assert all("row_count_drop" in (r.error or "") for r in runs)

    # Re-running accepts the drop: it is now the baseline. The promotions it cascades into
    # warn without blocking. The passes' own drop guard still keeps the rows and says so
    # (held back: the command's exit code 1) until the drop is accepted there too.
    accepted = synced.sync()
    assert all(run.success for run in accepted.runs)
    assert accepted.held_back and not accepted.success
    evaluations = _evaluations(synced, _only_run(accepted))
    for table in ("customers", "loyalty_program_details"):
        assert evaluations[(table, "row_count_drop")].passed
    cascade = evaluations[("customer_promotions", "row_count_drop")]
    assert not cascade.passed
    assert cascade.severity == dg.AssetCheckSeverity.WARN
    assert cascade.failed_keys == home_keys
    synced.close()


@pytest.mark.slow  # syncs of its own, partition by partition
def test_freshness_names_stale_partitions(
    clean_sim: RunningSimulator, admin_url: str, tmp_path: Path
) -> None:
    synced = _start(clean_sim, admin_url, tmp_path)
    assert synced.sync().success
    first, *_, last = _partition_keys(synced)
    runs = tables.sync_runs

    def age(key: str, hours: int) -> None:
        with synced.engine.begin() as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.partition_key == key)
                .values(
                    started_at=sa.func.now() - sa.text(f"interval '{hours + 1} hours'"),
                    finished_at=sa.func.now() - sa.text(f"interval '{hours} hours'"),
                )
            )

    def freshness() -> Any:
        summary = synced.sync([first])
        assert summary.success
        return _evaluations(synced, _only_run(summary))[("api_events", "partitions_fresh")]

    age(last, 30)
    evaluation = freshness()
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["stale_keys"].value == [last]
    assert last in evaluation.metadata["stale"].value

    # The thresholds are the check's config; run on its own, it judges every partition.
    age(last, 100)
    warehouse = WarehouseResource(database_url=synced.env["LOYALTY_SYNC_DATABASE_URL"])
    with synced.instance() as instance:

        def judge(**config: float) -> dg.AssetCheckResult:
            context = dg.build_asset_check_context(instance=instance)
            return partitions_fresh(context, PartitionsFreshConfig(**config), warehouse)  # type: ignore[arg-type]

        overdue = judge()
        assert overdue.severity == dg.AssetCheckSeverity.ERROR
        assert overdue.metadata["stale_keys"].value == [last]  # type: ignore[union-attr]
        assert overdue.metadata["overdue_partitions"].value == 1  # type: ignore[union-attr]
        assert judge(error_after_hours=200).severity == dg.AssetCheckSeverity.WARN
        assert judge(warn_after_hours=150).passed
    synced.close()
