"""Fixtures for the client tests: a real simulator over HTTP and clients pointed at it.

Fault-changing tests share one simulator; `api_sim` puts its network settings and
counters back after every test, so each test starts from a clean, fault-free server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from capillary_simulator import (
    DEMO_OAUTH_KEY,
    DEMO_OAUTH_SECRET,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    RunningSimulator,
)
from capillary_simulator.data import SimulatorDataset
from loyalty_sync.capillary.auth import Credentials
from loyalty_sync.capillary.client import CapillaryClient, ClientSettings
from loyalty_sync.capillary.ratelimit import MemoryRateLimiter
from loyalty_sync_tests.factories import preset, serve_simulator

# Home org with programs of 60 promotions each; one customer in ten holds every promotion
# of the org, which takes several promotionData pages.
CLIENT_TEST_CONFIG = preset("paging")
HOME_ORG = 51135
CONNECTED_ORG = 51136
CLEAN_FAULTS: dict[str, Any] = {
    "latency_ms": 0.0,
    "jitter_ms": 0.0,
    "error_rate": 0.0,
    "hang_rate": 0.0,
    "malformed_rate": 0.0,
    "rate_limit_per_minute": None,
    "token_ttl_seconds": 3600,
}

BASIC = Credentials(DEMO_USERNAME, DEMO_PASSWORD)
OAUTH = Credentials(oauth_key=DEMO_OAUTH_KEY, oauth_secret=DEMO_OAUTH_SECRET)

ClientFactory = Callable[..., CapillaryClient]


@pytest.fixture(scope="session")
def api_sim_server() -> Iterator[RunningSimulator]:
    with serve_simulator(CLIENT_TEST_CONFIG) as running:
        yield running


@pytest.fixture
def api_sim(api_sim_server: RunningSimulator) -> Iterator[RunningSimulator]:
    api_sim_server.set_faults(**CLEAN_FAULTS)
    api_sim_server.reset_counters(limiter=True)
    yield api_sim_server
    api_sim_server.set_faults(**CLEAN_FAULTS)


@pytest.fixture(scope="session")
def api_data() -> SimulatorDataset:
    return SimulatorDataset(CLIENT_TEST_CONFIG)


@pytest.fixture
def make_client(api_sim: RunningSimulator) -> Iterator[ClientFactory]:
    """Clients on the test simulator with fast backoff and a per-client memory limiter."""
    made: list[CapillaryClient] = []

    def factory(
        credentials: Credentials = BASIC,
        *,
        limit_per_minute: int = 60_000,
        **settings: Any,
    ) -> CapillaryClient:
        options: dict[str, Any] = {
            "base_url": api_sim.base_url,
            "own_org_id": HOME_ORG,
            "backoff_initial_seconds": 0.01,
            "backoff_max_seconds": 0.2,
            **settings,
        }
        client = CapillaryClient(
            ClientSettings(**options), credentials, MemoryRateLimiter(limit_per_minute)
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
