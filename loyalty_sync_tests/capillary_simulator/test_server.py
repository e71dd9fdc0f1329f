"""Running simulators: same bytes from the same seed, admin changes, process life cycle,
the shared demo simulator, and start time at 100,000 customers per org."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from capillary_simulator import (
    RunningSimulator,
    SimulatorConfig,
    ensure_shared_simulator,
    stop_shared_simulator,
)
from capillary_simulator.server import read_shared_state
from loyalty_sync_tests.capillary_simulator.conftest import HOME_ORG, TEST_CONFIG
from loyalty_sync_tests.factories import preset, serve_simulator

SMALL = preset("serving_small")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of this process is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def _sample_bytes(sim: RunningSimulator) -> list[bytes]:
    dataset = sim.dataset
    customer = dataset.customer_by_index(HOME_ORG, 5)
    promotion = dataset.held_promotions(HOME_ORG, customer.customer_id)[0]
    by_mobile = {
        "source": "INSTORE",
        "identifierName": "mobile",
        "identifierValue": customer.mobile,
    }
    pair = {"programId": promotion.program_id, "promotionId": promotion.promotion_id}
    calls = [
        ("/v2/customers/lookup/customerDetails", by_mobile | {"embed": "mlp"}),
        (f"/v2/customers/{customer.customer_id}/loyaltyDetails", {}),
        ("/v2.1/customers/lookup/promotionData", by_mobile | {"limit": 100}),
        ("/v2/customers/lookup/customerPromotionDetails/actionSummary", by_mobile | pair),
        (f"/v3/customers/{customer.customer_id}/customerPromotionDetails/actionSummary", pair),
        ("/v2/organization/programs", {}),
        ("/v3/promotions", {"size": 100, "sortBy": "lastModifiedOn"}),
        ("/_admin/roster.csv", {}),
    ]
    with httpx.Client(base_url=sim.base_url, headers=sim.auth_headers) as client:
        return [client.get(path, params=params).content for path, params in calls]


def test_same_config_serves_the_same_bytes(sim: RunningSimulator) -> None:
    with serve_simulator(TEST_CONFIG) as twin:
        assert _sample_bytes(sim) == _sample_bytes(twin)
    with serve_simulator(TEST_CONFIG.replace(seed=99)) as other:
        assert _sample_bytes(sim) != _sample_bytes(other)


def test_admin_config_and_roster(sim: RunningSimulator) -> None:
    config = sim.admin_config()
    assert SimulatorConfig.from_dict(config["config"]) == TEST_CONFIG
    assert [o["orgId"] for o in config["orgs"]] == sim.dataset.org_ids
    assert config["orgs"][0]["home"] is True
    assert sim.roster_csv() == sim.dataset.roster_csv()


def test_added_promotion_shows_everywhere() -> None:
    with serve_simulator(SMALL) as sim:
        client = httpx.Client(base_url=sim.base_url, headers=sim.auth_headers)
        program_id = sim.dataset.programs(HOME_ORG)[0].program_id
        added = sim.add_promotion(HOME_ORG, program_id, name="Flash Sale", holders_share=0.5)
        promotion_id = added["promotionId"]
        assert added["status"] == "ACTIVE" and added["sampleHolderIds"]

        newest = client.get("/v3/promotions", params={"sortBy": "lastModifiedOn"}).json()
        assert newest["data"][0]["metadata"]["promotionId"] == promotion_id
        assert newest["data"][0]["name"] == "Flash Sale"

        holder = added["sampleHolderIds"][0]
        held = client.get(
            "/v2.1/customers/lookup/promotionData",
            params={
                "source": "INSTORE",
                "identifierName": "id",
                "identifierValue": holder,
                "limit": 100,
            },
        ).json()
        assert promotion_id in [p["promotionId"] for p in held["promotions"]]

        summary = client.get(
            f"/v3/customers/{holder}/customerPromotionDetails/actionSummary",
            params={"programId": program_id, "promotionId": promotion_id},
        )
        assert summary.status_code == 200
        assert (summary.json().get("data") or summary.json())["promotionId"] == promotion_id

        with pytest.raises(ValueError, match="no program"):
            sim.add_promotion(HOME_ORG, 1)
        client.close()


def test_added_program_is_listed_and_takes_promotions() -> None:
    with serve_simulator(SMALL, in_thread=True) as sim:
        before = [p.program_id for p in sim.dataset.programs(HOME_ORG)]
        added = sim.add_program(HOME_ORG, name="Weekend Club")
        program_id = added["programId"]
        assert program_id not in before and added["programName"] == "Weekend Club"
        with httpx.Client(base_url=sim.base_url, headers=sim.auth_headers) as client:
            listed = client.get("/v2/organization/programs").json()["data"]
            assert [p["programId"] for p in listed] == [*before, program_id]
            promotion = sim.add_promotion(HOME_ORG, program_id, name="Weekend Bonus")
            catalogue = client.get("/v3/promotions", params={"sortBy": "lastModifiedOn"}).json()
        newest = catalogue["data"][0]
        assert newest["metadata"]["promotionId"] == promotion["promotionId"]
        assert newest["programId"] == program_id
        # A new program starts empty: only the added promotion is in it.
        assert [p.promotion_id for p in sim.dataset.promotions(HOME_ORG, program_id)] == [
            promotion["promotionId"]
        ]
        assert sim.dataset.promotion(promotion["promotionId"]) is not None
        with pytest.raises(ValueError, match="unknown org"):
            sim.add_program(1)


def test_tier_change_is_served_from_then_on() -> None:
    with serve_simulator(SMALL, in_thread=True) as sim:
        customer = sim.dataset.customer_by_index(HOME_ORG, 0)
        program = sim.dataset.programs(HOME_ORG)[0]
        row = sim.set_tier(HOME_ORG, customer.customer_id, program.program_id, program.top_serial)
        assert row["slabSNo"] == program.top_serial and row["nextSlabSerialNumber"] == -1
        with httpx.Client(base_url=sim.base_url, headers=sim.auth_headers) as client:
            details = client.get(
                "/v2/customers/lookup/customerDetails",
                params={
                    "source": "INSTORE",
                    "identifierName": "mobile",
                    "identifierValue": customer.mobile,
                    "embed": "mlp",
                },
            ).json()
        served = next(
            d for d in details["loyaltyProgramDetails"] if d["programId"] == program.program_id
        )
        assert served["currentSlab"] == program.tiers[-1].name
        assert served["currentSlabDescription"] == f"Tier {program.top_serial}"
        row = sim.set_tier(
            HOME_ORG, customer.customer_id, program.program_id, 1, slab_expiry_date="2027-01-31"
        )
        assert row["slabSNo"] == 1 and row["slabExpiryDate"] == "2027-01-31T23:59:59Z"


def test_stop_ends_the_process_and_frees_the_port() -> None:
    sim = serve_simulator(SMALL)
    pid, url = sim.pid, sim.base_url
    assert pid != os.getpid()
    sim.stop()
    assert _wait_gone(pid, 5)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/_admin/health", timeout=1)


def test_stop_in_thread_mode_frees_the_port() -> None:
    sim = serve_simulator(SMALL, in_thread=True)
    url = sim.base_url
    assert httpx.get(url + "/_admin/health").status_code == 200
    sim.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/_admin/health", timeout=1)


def test_child_dies_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from capillary_simulator import SimulatorConfig, start_simulator
        sim = start_simulator(SimulatorConfig(customers_per_org=3))
        print(sim.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert _pid_alive(child_pid)
    parent.kill()
    parent.wait()
    assert _wait_gone(child_pid, 5)


def test_shared_simulator_is_started_once_and_outlives_its_starter(tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from capillary_simulator import ensure_shared_simulator
        print(ensure_shared_simulator(Path({str(home)!r})), flush=True)
        """
    )
    try:
        starter = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
        )
        url = starter.stdout.strip()
        assert ensure_shared_simulator(home) == url  # alive after its starter exited
        state = read_shared_state(home)
        assert state is not None and state["base_url"] == url
        assert httpx.get(url + "/_admin/health").json()["pid"] == state["pid"]
    finally:
        stopped = stop_shared_simulator(home)
    assert stopped
    assert _wait_gone(state["pid"], 5)
    assert not stop_shared_simulator(home)


def test_a_hundred_thousand_customers_per_org_start_fast() -> None:
    started = time.perf_counter()
    with serve_simulator("defaults", customers_per_org=100_000) as sim:
        elapsed = time.perf_counter() - started
        last = sim.dataset.customer_by_index(HOME_ORG + 1, 99_999)
        response = httpx.get(
            sim.base_url + "/v2/customers/lookup/customerDetails",
            params={
                "source": "INSTORE",
                "identifierName": "mobile",
                "identifierValue": last.mobile,
            },
            headers={
                **sim.auth_headers,
                "DATA-SCOPE": "OTHER",
                "DATA-SCOPE-ORG": str(HOME_ORG + 1),
            },
        )
    assert elapsed < 5
    assert response.json()["id"] == last.customer_id
