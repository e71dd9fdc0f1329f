"""Operating a sync day to day, through `run_sync` and the CLI on a real instance.

A simulator over HTTP, a real PostgreSQL, a Dagster instance on disk: each partition's
own results, a summary of what this sync changed, partition keys that name nothing, and
a warehouse that refuses data from another source.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from capillary_simulator.server import RunningSimulator
from loyalty_sync.cli import main
from loyalty_sync.cli.sync_runner import run_sync
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.source import SourceMismatchError
from loyalty_sync_tests.factories import preset, serve_simulator
from loyalty_sync_tests.synced_warehouse import Warehouse, warehouse

CONFIG = preset("small")
KEYS = ["51135-2568", "51135-2569", "51136-2570"]


def _point_at(sim: RunningSimulator, mp: pytest.MonkeyPatch, home: Path) -> None:
    for name, value in sim.client_environment().items():
        mp.setenv(name, value)
    mp.setenv("CAPILLARY_RATE_LIMIT_PER_MINUTE", "600000")
    mp.setenv("DAGSTER_HOME", str(home))
    mp.setenv("COLUMNS", "200")


@pytest.fixture(scope="module")
def env(
    server_admin_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """Two syncs of three partitions; the tests run in file order, the last one moves the
    warehouse to another source."""
    home = tmp_path_factory.mktemp("operating")
    with (
        serve_simulator(CONFIG) as sim,
        warehouse(server_admin_url, home, sim, COLUMNS="200") as synced,
        synced.environment(),
    ):
        first, second = synced.sync(), synced.sync()
        assert first.success and second.success, [first.runs, second.runs]
        yield synced


def test_each_partition_shows_its_own_results(env: Warehouse) -> None:
    (run,) = env.syncs[0].runs
    assert run.partition_keys == KEYS
    with env.instance() as instance:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("customer_promotions")), limit=100
        ).records
    ours = {r.partition_key: r.asset_materialization for r in records if r.run_id == run.run_id}
    assert sorted(ours) == KEYS
    t = tables.customer_promotions
    with env.engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.select(
                    sa.func.concat(t.c.org_id, "-", t.c.program_id), sa.func.count()
                ).group_by(t.c.org_id, t.c.program_id)
            ).all()
        )
        ledger = {
            row.partition_key: row
            for row in conn.execute(
                sa.select(tables.sync_runs).where(tables.sync_runs.c.run_id == run.run_id)
            )
        }
    assert len(set(counts.values())) > 1  # partitions of different sizes
    for key, materialization in ours.items():
        metadata = materialization.metadata  # type: ignore[union-attr]
        assert metadata["partition"].value == key
        assert list(metadata)[:2] == ["dagster/row_count", "rows_synced"]  # its own first
        assert metadata["run_rows_total"].value == sum(counts.values())
        assert metadata["dagster/row_count"].value == counts[key]
        assert metadata["rows_synced"].value == ledger[key].rows["customer_promotions"]
        assert metadata["run_rows_inserted"].value == sum(counts.values())  # run-wide, named so
    # An org's partitions share its calls: they add up to the org's, and all to the run's.
    by_org: dict[str, list[Any]] = {}
    for key, materialization in ours.items():
        by_org.setdefault(key.split("-")[0], []).append(materialization.metadata)  # type: ignore[union-attr]
    for shown in by_org.values():
        assert sum(m["api_calls"].value for m in shown) == shown[0]["org_api_calls"].value > 0
    run_calls = ours[KEYS[0]].metadata["run_api_calls"].value  # type: ignore[union-attr]
    assert sum(shown[0]["org_api_calls"].value for shown in by_org.values()) == run_calls
    # The closing asset shows each partition's whole sync, from its sync_runs row.
    with env.instance() as instance:
        events = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("api_events")), limit=100
        ).records
    for record in (r for r in events if r.run_id == run.run_id):
        metadata = record.asset_materialization.metadata  # type: ignore[union-attr]
        row = ledger[record.partition_key]  # type: ignore[index]
        assert metadata["api_calls"].value == row.api_calls
        assert metadata["warnings_by_code"].value == row.warnings


def test_the_summary_says_what_this_sync_changed(env: Warehouse) -> None:
    first, second = env.syncs[0].changes, env.syncs[1].changes
    assert first["customers"]["inserted"] == env.syncs[0].rows["customers"] > 0
    for table, counts in second.items():
        assert (counts["inserted"], counts["updated"], counts["deleted"]) == (0, 0, 0), (
            table,
            counts,
        )
        # A change-driven second sync re-reads what a signal names, not every row.
        assert counts["unchanged"] <= env.syncs[1].rows[table] or table == "tier_history"
    assert env.syncs[1].elapsed_seconds > 0
    result = CliRunner().invoke(main, ["sync", "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "inserted" in result.output and "unchanged" in result.output
    # A code the sync met is listed with what it means.
    assert "  8116: " not in result.output or "no benefits earned" in result.output
    assert result.output.count("simulator") <= 1  # the source is a simulator by URL here


def test_an_invalid_partition_is_reported_not_fatal(env: Warehouse) -> None:
    with env.instance() as instance:
        instance.add_dynamic_partitions(ORG_PROGRAM_PARTITIONS, ["nonsense"])
    summary = run_sync(show_progress=False)
    assert summary.success, summary.runs
    assert summary.invalid_partitions == ["nonsense"]
    assert all("nonsense" not in run.partition_keys for run in summary.runs)
    checks = [c for run in summary.runs for c in run.checks]
    assert checks and all(c["partition"] in (*KEYS, None) for c in checks)
    assert {c["partition"] for c in checks if c["partition"]} == set(KEYS)

    listing = CliRunner().invoke(main, ["partitions"], catch_exceptions=False)
    assert listing.exit_code == 0, listing.output
    assert "nonsense" in listing.output and "invalid" in listing.output
    assert all(key in listing.output for key in KEYS) and "known" in listing.output

    # A run of nothing but the invalid key fails at once, in one line.
    from loyalty_sync.definitions import build_defs

    with env.instance() as instance:
        job = build_defs().resolve_job_def("capillary_sync")
        result = job.execute_in_process(
            instance=instance, partition_key="nonsense", raise_on_error=False
        )
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures
    message = failures[0].event_specific_data.error.message  # type: ignore[union-attr]
    assert "names no org/program" in message and "partitions remove nonsense" in message

    removed = CliRunner().invoke(main, ["partitions", "remove", "nonsense"])
    assert removed.exit_code == 0, removed.output
    with env.instance() as instance:
        assert "nonsense" not in instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS)
    again = CliRunner().invoke(main, ["partitions", "remove", "nonsense"])
    assert again.exit_code == 2 and "no partition 'nonsense'" in again.output


def test_a_sync_from_another_source_is_refused_before_any_call(
    env: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_simulator(CONFIG.replace(seed=6)) as other:
        _point_at(other, monkeypatch, env.dagster_home)
        other.reset_counters()
        with pytest.raises(SourceMismatchError, match="loyalty-sync source adopt"):
            run_sync(show_progress=False)
        assert other.counters()["total_requests"] == 0

        # A run launched from Dagster (not the CLI) is refused by the pass itself.
        from loyalty_sync.definitions import build_defs

        with env.instance() as instance:
            job = build_defs().resolve_job_def("capillary_sync")
            result = job.execute_in_process(
                instance=instance, partition_key=KEYS[0], raise_on_error=False
            )
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        message = failure.event_specific_data.error.message  # type: ignore[union-attr]
        assert message.startswith("dagster._core.definitions.events.Failure: this warehouse")
        assert other.counters()["total_requests"] == 0

        cli = CliRunner().invoke(main, ["sync", "--no-progress"])
        assert cli.exit_code == 2
        # What the sync talks to is said first, then the one line to act on.
        errors = [line for line in cli.output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith("error: this warehouse holds data from")
        assert cli.output.splitlines()[-1] == errors[0]
        adopted = CliRunner().invoke(main, ["source", "adopt"], catch_exceptions=False)
        assert adopted.exit_code == 0 and other.base_url in adopted.output
        # Adopted, it syncs; the other tenant's data is another roster's, so the drop
        # guard holds back deleting the first one's rows (and says so: not a success).
        adopted_sync = run_sync(show_progress=False)
        assert all(run.success for run in adopted_sync.runs)
        assert adopted_sync.held_back and not adopted_sync.success


def test_env_prints_the_exports_dagster_commands_need(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    environment["LOYALTY_SYNC_HOME"] = str(tmp_path)
    command = [sys.executable, "-m", "loyalty_sync.cli", "env"]
    result = subprocess.run(
        command, env=environment, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result
    assert result.stdout.splitlines() == [
        f"export LOYALTY_SYNC_HOME={tmp_path}",
        f"export DAGSTER_HOME={tmp_path / 'dagster'}",
    ]
    assert (tmp_path / "dagster" / "dagster.yaml").exists()  # the instance is ready
    # Loading the definitions, as every dagster command does, says nothing of beta or
    # preview parameters.
    shown = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import loyalty_sync.definitions"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert shown.returncode == 0, shown
    assert "BetaWarning" not in shown.stderr and "PreviewWarning" not in shown.stderr
