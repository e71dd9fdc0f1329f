"""Fixtures: one read-only simulator per session, served from a child process.

Tests that change a simulator (admin calls, faults, rate limits) start their own so the
shared one keeps serving exactly what `SimulatorDataset(TEST_CONFIG)` derives.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from capillary_simulator import RunningSimulator
from capillary_simulator.data import SimulatorDataset
from loyalty_sync_tests.factories import preset, serve_simulator

# Two orgs (programs 2 + 1), 55 promotions per program so the home org has 110 and its
# heavy customers (one in eight) hold more than one promotionData page.
TEST_CONFIG = preset("endpoints")
HOME_ORG = 51135
CONNECTED_ORG = 51136


@pytest.fixture(scope="session")
def sim() -> Iterator[RunningSimulator]:
    with serve_simulator(TEST_CONFIG) as running:
        yield running


@pytest.fixture(scope="session")
def dataset() -> SimulatorDataset:
    return SimulatorDataset(TEST_CONFIG)


@pytest.fixture(scope="session")
def client(sim: RunningSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers=sim.auth_headers, timeout=10) as http:
        yield http


def connected(org_id: int = CONNECTED_ORG) -> dict[str, str]:
    """Headers that scope a call to a connected org."""
    return {"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": str(org_id)}
