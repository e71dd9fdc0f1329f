"""Sensor ticks against a running simulator: new promotions, API errors, new programs."""

import json
from collections.abc import Iterator

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.definitions.sensor_definition import SensorExecutionData

from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.defs.sensors import (
    PROMOTION_ASSET_KEYS,
    new_promotions,
    org_program_discovery,
)
from loyalty_sync.warehouse import tables
from loyalty_sync_tests.defs.automation_env import (
    CONNECTED_ORG,
    HOME_ORG,
    KEYS,
    AutomationEnv,
    automation_env,
)


@pytest.fixture
def env(fresh_database_url: str) -> Iterator[AutomationEnv]:
    with automation_env(fresh_database_url) as running:
        yield running


def _context(env: AutomationEnv, cursor: str | None) -> dg.SensorEvaluationContext:
    return dg.build_sensor_context(instance=env.instance, cursor=cursor, resources=env.resources)


def _tick(
    sensor: dg.SensorDefinition, env: AutomationEnv, cursor: str | None
) -> dg.SensorResult | dg.SkipReason:
    with _context(env, cursor) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult | dg.SkipReason)
    return result


def _evaluate(
    sensor: dg.SensorDefinition, env: AutomationEnv, cursor: str | None
) -> SensorExecutionData:
    """The tick as the daemon sees it: skip message, cursor to store, requests."""
    with _context(env, cursor) as context:
        return sensor.evaluate_tick(context)


def _first_look(env: AutomationEnv) -> str:
    """Every program known to the instance, and the cursor of the sensor's first tick."""
    env.add_partitions(KEYS)
    first = _tick(new_promotions, env, None)
    assert isinstance(first, dg.SensorResult) and not first.run_requests and first.cursor
    return first.cursor


def _added_keys(result: dg.SensorResult | dg.SkipReason) -> list[str]:
    assert isinstance(result, dg.SensorResult)
    return [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]


def test_new_promotion_requests_its_partition_once(env: AutomationEnv) -> None:
    sim = env.sim
    env.add_partitions(KEYS)
    first = _tick(new_promotions, env, None)
    assert isinstance(first, dg.SensorResult) and not first.run_requests
    assert first.skip_reason and "first look" in first.skip_reason.skip_message
    cursor = first.cursor
    assert cursor is not None and set(json.loads(cursor)) == {str(HOME_ORG), str(CONNECTED_ORG)}

    home = sim.add_promotion(HOME_ORG, 2569, name="Spring Double Points")
    connected = sim.add_promotion(CONNECTED_ORG, 2570, name="Partner Week")
    second = _tick(new_promotions, env, cursor)
    assert isinstance(second, dg.SensorResult)
    requested = {(r.partition_key, r.run_key) for r in second.run_requests or []}
    assert requested == {
        ("51135-2569", f"promotion-{HOME_ORG}-{home['promotionId']}"),
        ("51136-2570", f"promotion-{CONNECTED_ORG}-{connected['promotionId']}"),
    }
    for request in second.run_requests or []:
        assert request.asset_selection == PROMOTION_ASSET_KEYS
    assert not second.dynamic_partitions_requests

    # The same tick evaluated again (a daemon restart before the cursor was saved) asks
    # for the same run keys, which Dagster launches once.
    again = _tick(new_promotions, env, cursor)
    assert isinstance(again, dg.SensorResult)
    assert {r.run_key for r in again.run_requests or []} == {r for _, r in requested}

    third = _tick(new_promotions, env, second.cursor)
    assert isinstance(third, dg.SensorResult) and not third.run_requests
    assert third.cursor == second.cursor


def test_api_error_skips_the_tick_and_keeps_the_cursor(env: AutomationEnv) -> None:
    sim = env.sim
    cursor = _first_look(env)
    added = sim.add_promotion(HOME_ORG, 2568)

    sim.set_faults(error_rate=1.0)
    data = _evaluate(new_promotions, env, cursor)
    assert not data.run_requests
    assert data.skip_message and "catalogue unavailable, cursor kept" in data.skip_message
    assert data.cursor == cursor
    assert sim.counters()["responses_by_status"].get("500", 0) > 0

    sim.set_faults(error_rate=0.0)
    recovered = _tick(new_promotions, env, data.cursor)
    assert isinstance(recovered, dg.SensorResult)
    assert [r.run_key for r in recovered.run_requests or []] == [
        f"promotion-{HOME_ORG}-{added['promotionId']}"
    ]


def test_promotion_of_an_unknown_program_adds_its_partition_and_runs_everything(
    env: AutomationEnv,
) -> None:
    sim = env.sim
    cursor = _first_look(env)
    program = sim.add_program(CONNECTED_ORG, name="Fuel Club")
    key = f"{CONNECTED_ORG}-{program['programId']}"
    promotion = sim.add_promotion(CONNECTED_ORG, program["programId"])

    result = _tick(new_promotions, env, cursor)
    assert _added_keys(result) == [key]
    assert isinstance(result, dg.SensorResult)
    [request] = result.run_requests or []
    assert request.partition_key == key
    assert request.run_key == f"promotion-{CONNECTED_ORG}-{promotion['promotionId']}"
    assert request.asset_selection is None  # the whole job: nothing of it is synced yet


def test_discovery_adds_new_programs_and_reports_vanished_ones_once(
    env: AutomationEnv, engine: sa.Engine
) -> None:
    sim = env.sim
    first = _tick(org_program_discovery, env, None)
    assert _added_keys(first) == KEYS
    env.add_partitions(KEYS)  # what the daemon does with the request

    quiet = _tick(org_program_discovery, env, getattr(first, "cursor", None))
    assert isinstance(quiet, dg.SensorResult) and not quiet.dynamic_partitions_requests

    program = sim.add_program(HOME_ORG, name="Kids Club")
    new_key = f"{HOME_ORG}-{program['programId']}"
    added = _tick(org_program_discovery, env, quiet.cursor)
    assert _added_keys(added) == [new_key]
    env.add_partitions([new_key])

    # A partition whose program Capillary no longer lists: reported once, never deleted.
    env.add_partitions([f"{CONNECTED_ORG}-9999"])
    assert isinstance(added, dg.SensorResult)
    gone = _tick(org_program_discovery, env, added.cursor)
    assert isinstance(gone, dg.SensorResult) and not gone.dynamic_partitions_requests
    assert gone.skip_reason and "51136-9999" in gone.skip_reason.skip_message
    later = _tick(org_program_discovery, env, gone.cursor)
    assert isinstance(later, dg.SensorResult) and later.cursor == gone.cursor
    assert f"{CONNECTED_ORG}-9999" in env.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS)

    t = tables.api_events
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.endpoint == "programs")).all()
    [row] = rows
    assert (row.kind, row.code, row.org_id, row.program_id) == (
        "warning",
        None,
        CONNECTED_ORG,
        9999,
    )
    assert row.partition_key == f"{CONNECTED_ORG}-9999"
    assert "no longer listed" in row.message


def test_discovery_skips_on_api_error(env: AutomationEnv) -> None:
    sim = env.sim
    sim.set_faults(error_rate=1.0)
    data = _evaluate(org_program_discovery, env, "{}")
    assert data.skip_message and "partitions unchanged" in data.skip_message
    assert data.cursor == "{}" and not data.dynamic_partitions_requests


def test_sensors_tick_with_an_invalid_partition_present(env: AutomationEnv) -> None:
    """A key added by hand in the UI (`nonsense`) is reported, never fatal."""
    env.add_partitions(["nonsense"])
    discovered = _tick(org_program_discovery, env, None)
    assert isinstance(discovered, dg.SensorResult)
    requests = discovered.dynamic_partitions_requests or []
    assert [sorted(r.partition_keys) for r in requests] == [sorted(KEYS)]  # type: ignore[union-attr]
    env.add_partitions(KEYS)
    assert isinstance(_tick(org_program_discovery, env, discovered.cursor), dg.SensorResult)
    cursor = _tick(new_promotions, env, None).cursor  # type: ignore[union-attr]
    env.sim.add_promotion(HOME_ORG, 2568)
    later = _tick(new_promotions, env, cursor)
    assert isinstance(later, dg.SensorResult)
    assert [r.partition_key for r in later.run_requests or []] == ["51135-2568"]
