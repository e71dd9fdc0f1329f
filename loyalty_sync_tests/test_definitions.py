"""The code location as Dagster loads it: it validates, and nothing falls out unnoticed.

The snapshot below is the list a refactor must keep. Adding an asset, check, sensor or
schedule means adding it here too, on purpose.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from capillary_simulator import stop_shared_simulator
from loyalty_sync.definitions import build_defs
from loyalty_sync_tests.installed import run_script

NO_CALLS_HOST = {
    "CAPILLARY_BASE_URL": "http://127.0.0.1:9",
    "CAPILLARY_ORG_IDS": "1",
    "CAPILLARY_USERNAME": "till",
    "CAPILLARY_PASSWORD": "never-used",
}
ROOT = Path(__file__).resolve().parents[1]

ASSETS = [
    "api_events",
    "benefit_alternate_currencies",
    "benefit_incentives",
    "benefit_points",
    "benefit_summaries",
    "customer_promotions",
    "customer_roster",
    "customers",
    "loyalty_program_details",
    "promotion_performance",
    "promotions",
    "tier_history",
]
CHECKS = [
    "api_events:partitions_fresh",
    "benefit_summaries:change_signal_drift",
    "benefit_summaries:no_benefits_share",
    "benefit_summaries:row_count_drop",
    "customer_promotions:change_signal_drift",
    "customer_promotions:row_count_drop",
    "customers:row_count_drop",
    "loyalty_program_details:available_points_sum",
    "loyalty_program_details:downgrade_before_expiry",
    "loyalty_program_details:lifetime_below_current",
    "loyalty_program_details:negative_balances",
    "loyalty_program_details:next_slab_serial",
    "loyalty_program_details:points_while_not_enrolled",
    "loyalty_program_details:row_count_drop",
    "loyalty_program_details:tier_kept_past_expiry",
    "promotions:row_count_drop",
]
SENSORS = ["close_dead_syncs", "new_promotions", "org_program_discovery"]
SCHEDULES = ["daily_capillary_sync"]
JOBS = ["capillary_sync"]


def test_definitions_hold_every_asset_check_sensor_and_schedule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A host of its own, so building the definitions starts no simulator; nothing calls it.
    for name, value in NO_CALLS_HOST.items():
        monkeypatch.setenv(name, value)
    defs = build_defs()
    graph = defs.resolve_asset_graph()
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == ASSETS
    checks = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys)
    assert checks == CHECKS
    assert sorted(s.name for s in defs.sensors or []) == SENSORS
    assert sorted(s.name for s in defs.schedules or []) == SCHEDULES
    assert sorted(j.name for j in defs.jobs or []) == JOBS
    assert set(defs.resources or {}) >= {"capillary", "warehouse", "warehouse_io_manager"}


def test_operating_guide_check_table_names_every_check() -> None:
    guide = (ROOT / "docs" / "operating.md").read_text()
    section = guide.split("\n## Asset checks", 1)[1].split("\n## ", 1)[0]
    named = {name for name in (c.split(":")[1] for c in CHECKS) if f"`{name}`" in section}
    assert named == {c.split(":")[1] for c in CHECKS}


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    """`dagster definitions validate` on the repo's workspace, as a deployment would run it."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CAPILLARY_", "DAGSTER_"))},
        "LOYALTY_SYNC_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    (tmp_path / "dagster").mkdir()
    result = run_script(
        "dagster", "definitions", "validate", "-w", "workspace.yaml", cwd=ROOT, env=env
    )
    # With no host set, building the definitions chose (and started) the bundled simulator.
    started = stop_shared_simulator(tmp_path / "home")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr
    assert started
