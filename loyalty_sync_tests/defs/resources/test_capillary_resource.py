"""The resource in Dagster runs: lifecycle, the bundled simulator default, no leaked secrets."""

import hashlib
import logging
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from capillary_simulator import (
    DEMO_OAUTH_KEY,
    DEMO_USERNAME,
    RunningSimulator,
    ensure_shared_simulator,
    stop_shared_simulator,
)
from capillary_simulator.server import running_shared_simulator
from loyalty_sync.capillary.auth import basic_header_value
from loyalty_sync.capillary.config import CapillaryConfigError
from loyalty_sync.capillary.errors import AuthenticationError
from loyalty_sync.defs.resources import (
    CapillaryResource,
    WarehouseResource,
    capillary_resource_from_env,
)
from loyalty_sync.defs.resources.simulator import started_here, stop_simulator_if_unused
from loyalty_sync_tests.capillary.conftest import BASIC, CONNECTED_ORG, HOME_ORG, OAUTH

seen_resources: list[CapillaryResource] = []


@dg.asset
def org_programs(context: dg.AssetExecutionContext, capillary: CapillaryResource) -> int:
    seen_resources.append(capillary)
    client = capillary.get_client()
    count = sum(len(client.programs(org).programs) for org in capillary.org_id_list())
    context.add_output_metadata({**capillary.describe(), **capillary.stats_snapshot()})
    return count


def test_resource_runs_in_dagster_and_closes_its_client(
    api_sim: RunningSimulator, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAPILLARY_USERNAME", DEMO_USERNAME)
    monkeypatch.setenv("CAPILLARY_PASSWORD", BASIC.password or "")
    resource = CapillaryResource(
        base_url=api_sim.base_url,
        org_ids=f"{HOME_ORG},{CONNECTED_ORG}",
        username=dg.EnvVar("CAPILLARY_USERNAME"),
        password=dg.EnvVar("CAPILLARY_PASSWORD"),
        warehouse=WarehouseResource(database_url=database_url),
    )
    seen_resources.clear()
    result = dg.materialize([org_programs], resources={"capillary": resource})
    assert result.success
    assert result.output_for_node("org_programs") == 3
    [materialization] = result.asset_materializations_for_node("org_programs")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["capillary_simulator"] is False
    assert metadata["capillary_auth"] == "basic"
    assert metadata["calls_by_endpoint"] == {"programs": 2}
    # Dagster handed the asset a configured copy; its client was closed after the step.
    [used] = seen_resources
    assert used._client is None
    headers = api_sim.counters()["credentials"]
    assert headers[DEMO_USERNAME]["requests"] == 2


@pytest.fixture
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home of our own, so stopping its shared simulator disturbs no other test."""
    home = tmp_path / "home"
    monkeypatch.setenv("LOYALTY_SYNC_HOME", str(home))
    yield home
    stop_shared_simulator(home)


def test_unset_base_url_means_the_bundled_simulator(
    private_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loyalty_sync")
    resource = capillary_resource_from_env(WarehouseResource(), rate_limit_backend="memory")
    description = resource.describe()
    assert description["capillary_simulator"] is True
    assert description["capillary_endpoint"].startswith("bundled simulator at http://127.0.0.1:")
    assert description["capillary_auth"] == "oauth"  # demo credentials of both kinds
    assert resource.org_id_list() == [HOME_ORG, CONNECTED_ORG]
    try:
        programs = resource.get_client().programs(HOME_ORG)
    finally:
        resource.close()
    assert programs.programs
    assert "bundled Capillary simulator" in caplog.text


def test_ui_shows_secret_names_not_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPILLARY_BASE_URL", "https://eu.api.capillarytech.com")
    monkeypatch.setenv("CAPILLARY_ORG_IDS", "51135")
    monkeypatch.setenv("CAPILLARY_USERNAME", "till.user")
    monkeypatch.setenv("CAPILLARY_PASSWORD", "pw-for-the-ui-test")
    resource = capillary_resource_from_env(WarehouseResource())
    shown = resource.get_resource_definition().config_schema.default_value_as_json_str
    assert "pw-for-the-ui-test" not in shown
    assert '"env": "CAPILLARY_PASSWORD"' in shown


BAD_PASSWORD = "wrong-password-A1b2C3"
BAD_SECRET = "wrong-oauth-secret-Z9y8"


def _forbidden() -> list[str]:
    digest = hashlib.md5(BAD_PASSWORD.encode()).hexdigest()
    header = basic_header_value(DEMO_USERNAME, BAD_PASSWORD)
    return [BAD_PASSWORD, digest, header.removeprefix("Basic "), BAD_SECRET]


def _event_text(result: dg.ExecuteInProcessResult) -> str:
    parts: list[str] = []
    for event in result.all_events:
        parts.append(repr(event))
        if event.is_step_failure:
            failure = event.step_failure_data
            parts.append(failure.error.to_string() if failure.error else "")
    records = result.dagster_run and result.get_step_failure_events()
    parts.extend(repr(r) for r in records or [])
    return "\n".join(parts)


@pytest.mark.parametrize("kind", ["basic", "oauth"])
def test_bad_credentials_leave_no_secret_in_logs_or_errors(
    api_sim: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    fields: dict[str, Any] = {"base_url": api_sim.base_url, "org_ids": str(HOME_ORG)}
    if kind == "basic":
        monkeypatch.setenv("CAPILLARY_USERNAME", DEMO_USERNAME)
        monkeypatch.setenv("CAPILLARY_PASSWORD", BAD_PASSWORD)
        fields |= {
            "username": dg.EnvVar("CAPILLARY_USERNAME"),
            "password": dg.EnvVar("CAPILLARY_PASSWORD"),
        }
    else:
        monkeypatch.setenv("CAPILLARY_OAUTH_KEY", DEMO_OAUTH_KEY)
        monkeypatch.setenv("CAPILLARY_OAUTH_SECRET", BAD_SECRET)
        fields |= {
            "oauth_key": dg.EnvVar("CAPILLARY_OAUTH_KEY"),
            "oauth_secret": dg.EnvVar("CAPILLARY_OAUTH_SECRET"),
        }
    resource = CapillaryResource(
        warehouse=WarehouseResource(), rate_limit_backend="memory", **fields
    )
    result = dg.materialize([org_programs], resources={"capillary": resource}, raise_on_error=False)
    assert not result.success
    texts = [caplog.text, _event_text(result), repr(resource), str(resource)]

    # The same failure outside Dagster: the exception's text, repr and traceback.
    direct = CapillaryResource(
        warehouse=WarehouseResource(),
        rate_limit_backend="memory",
        **{k: (v.get_value() if isinstance(v, dg.EnvVar) else v) for k, v in fields.items()},
    )
    with pytest.raises(AuthenticationError) as caught:
        direct.get_client().programs(HOME_ORG)
    direct.close()
    error = caught.value
    texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    texts += [repr(direct), str(direct), str(direct.describe()), str(direct.stats_snapshot())]
    assert error.code == (401 if kind == "basic" else 320001)
    joined = "\n".join(texts)
    assert "Unauthorized" in joined or "Invalid" in joined  # the failure itself is reported
    assert "HTTP Request:" in caplog.text  # httpx's own log lines were captured too
    for secret in _forbidden():
        assert secret not in joined


def test_oauth_resource_runs(api_sim: RunningSimulator) -> None:
    resource = CapillaryResource(
        warehouse=WarehouseResource(),
        base_url=api_sim.base_url,
        org_ids=str(HOME_ORG),
        oauth_key=OAUTH.oauth_key,
        oauth_secret=OAUTH.oauth_secret,
        rate_limit_backend="memory",
    )
    try:
        assert resource.get_client().programs(HOME_ORG).programs
        stats = resource.stats_snapshot()
        assert stats["calls_by_endpoint"] == {"programs": 1} and stats["token_requests"] == 1
    finally:
        resource.close()


def test_the_simulator_is_announced_at_info_for_sensor_ticks(private_home: Path) -> None:
    """Sensors set the resource up at every tick: a WARNING about the simulator each time
    (every few minutes, on purpose) would be noise."""
    context = dg.build_init_resource_context()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    context.log.addHandler(handler)  # type: ignore[union-attr]
    resource = capillary_resource_from_env(WarehouseResource(), rate_limit_backend="memory")
    resource.setup_for_execution(context)
    announced = [r for r in records if "CAPILLARY_BASE_URL unset" in r.getMessage()]
    assert announced and all(r.levelno == logging.INFO for r in announced)


def test_describing_a_resource_starts_nothing(private_home: Path) -> None:
    """The simulator is chosen (and started) when the resource is built from the
    environment; a resource described, set up or copied later calls no host."""
    resource = capillary_resource_from_env(WarehouseResource(), rate_limit_backend="memory")
    assert resource.simulator and running_shared_simulator(private_home) is not None
    assert stop_shared_simulator(private_home)
    copy = resource.model_copy()
    assert copy.describe()["capillary_simulator"] is True
    assert copy.source().simulator and copy.org_id_list() == [HOME_ORG, CONNECTED_ORG]
    assert running_shared_simulator(private_home) is None


def test_a_resource_without_a_host_says_how_to_get_one() -> None:
    resource = CapillaryResource(warehouse=WarehouseResource(), rate_limit_backend="memory")
    with pytest.raises(CapillaryConfigError, match="CAPILLARY_BASE_URL"):
        resource.describe()


# Another process finds (or starts) the home's shared simulator, says so, and keeps using it.
USER = (
    "import sys, time, pathlib, capillary_simulator as s; "
    "s.ensure_shared_simulator(pathlib.Path(sys.argv[1])); print('ready', flush=True); "
    "time.sleep(float(sys.argv[2]))"
)


def _other_user(home: Path, seconds: float) -> subprocess.Popen[str]:
    user = subprocess.Popen(
        [sys.executable, "-c", USER, str(home), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert user.stdout is not None and user.stdout.readline().strip() == "ready"
    return user


def test_a_refusal_stops_only_a_simulator_it_started_and_nobody_else_holds(
    private_home: Path,
) -> None:
    # Started by another process that has since ended (a sync before this one): kept.
    _other_user(private_home, 0).wait(timeout=30)
    theirs = running_shared_simulator(private_home)
    assert theirs is not None and not started_here(theirs)
    stop_simulator_if_unused()
    assert running_shared_simulator(private_home) == theirs
    stop_shared_simulator(private_home)
    # Started here, and another process took it meanwhile (two syncs at once): kept.
    ensure_shared_simulator(private_home)
    ours = running_shared_simulator(private_home)
    assert ours is not None and started_here(ours)
    user = _other_user(private_home, 600)
    stop_simulator_if_unused()
    assert running_shared_simulator(private_home) == ours
    # That process killed outright: the kernel drops its hold, and the unused one stops.
    user.kill()
    user.wait(timeout=30)
    stop_simulator_if_unused()
    assert running_shared_simulator(private_home) is None
