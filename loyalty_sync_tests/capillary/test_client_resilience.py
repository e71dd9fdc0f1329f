"""Retries against injected faults: 429 with Retry-After, 5xx, hangs, truncated bodies."""

from __future__ import annotations

import socket
import time

import pytest

from capillary_simulator import DEMO_USERNAME, RunningSimulator
from capillary_simulator.data import SimulatorDataset
from loyalty_sync.capillary.client import CapillaryClient, ClientSettings
from loyalty_sync.capillary.errors import RetriesExhausted, TransientError, Unreachable
from loyalty_sync.capillary.ratelimit import MemoryRateLimiter
from loyalty_sync.sync.reasons import plain_reason
from loyalty_sync_tests.capillary.conftest import (
    BASIC,
    CLIENT_TEST_CONFIG,
    HOME_ORG,
    ClientFactory,
)
from loyalty_sync_tests.factories import serve_simulator


def _customer_ids(data: SimulatorDataset, count: int) -> list[int]:
    return [c.customer_id for c in list(data.customers(HOME_ORG))[:count]]


def test_server_errors_are_retried_until_answered(
    make_client: ClientFactory, api_sim: RunningSimulator, api_data: SimulatorDataset
) -> None:
    api_sim.set_faults(error_rate=0.3)
    client = make_client(max_attempts=8)
    ids = _customer_ids(api_data, 30)
    answers = [client.loyalty_details(HOME_ORG, i) for i in ids]
    assert [a.customer_id for a in answers] == ids
    statuses = api_sim.counters()["responses_by_status"]
    assert {"500", "502", "503"} <= set(statuses)
    injected = sum(statuses[s] for s in ("500", "502", "503"))
    stats = client.stats.snapshot()
    assert stats["retries"] == injected and stats["requests"] == 30 + injected


def test_retries_are_bounded(make_client: ClientFactory, api_sim: RunningSimulator) -> None:
    api_sim.set_faults(error_rate=1.0)
    client = make_client(max_attempts=3)
    with pytest.raises(RetriesExhausted) as caught:
        client.programs(HOME_ORG)
    error = caught.value
    assert error.attempts == 3 and isinstance(error.last_error, TransientError)
    assert error.http_status in (500, 502, 503)
    assert api_sim.counters()["total_requests"] == 3


def test_hung_requests_time_out_and_are_retried(
    make_client: ClientFactory, api_sim: RunningSimulator, api_data: SimulatorDataset
) -> None:
    api_sim.set_faults(hang_rate=0.3, hang_seconds=20)
    client = make_client(timeout_seconds=0.5, max_attempts=8)
    ids = _customer_ids(api_data, 12)
    started = time.monotonic()
    answers = [client.loyalty_details(HOME_ORG, i) for i in ids]
    elapsed = time.monotonic() - started
    assert [a.customer_id for a in answers] == ids
    hangs = api_sim.counters()["faults"]["hang"]
    assert hangs >= 1
    assert client.stats.snapshot()["errors_by_code"]["timeout"] == hangs
    assert elapsed < hangs * 0.5 + 5  # each hang cost one timeout, never the full hang


def test_truncated_bodies_are_retried(
    make_client: ClientFactory, api_sim: RunningSimulator, api_data: SimulatorDataset
) -> None:
    api_sim.set_faults(malformed_rate=0.3)
    client = make_client(max_attempts=8)
    heavy = api_data.heavy_customers(HOME_ORG)[0]
    result = client.promotion_data(HOME_ORG, "id", heavy.customer_id, page_size=10)
    assert len(result.promotions) == 120
    malformed = api_sim.counters()["faults"]["malformed"]
    assert malformed >= 1
    assert client.stats.snapshot()["errors_by_code"]["malformed"] == malformed


@pytest.mark.slow  # waits out a rate limit by design
def test_429_waits_for_retry_after_then_succeeds(
    make_client: ClientFactory, api_sim: RunningSimulator, api_data: SimulatorDataset
) -> None:
    """The server allows 20 a minute; a client that does not know it gets one 429 and
    honours its Retry-After (the rest of the minute) instead of hammering."""
    api_sim.set_faults(rate_limit_per_minute=20)
    client = make_client(limit_per_minute=60_000)
    ids = _customer_ids(api_data, 22)
    started = time.monotonic()
    answers = [client.loyalty_details(HOME_ORG, i) for i in ids]
    elapsed = time.monotonic() - started
    assert [a.customer_id for a in answers] == ids
    counters = api_sim.counters()
    assert counters["rate_limited"] == 1
    assert counters["credentials"][DEMO_USERNAME]["max_accepted_in_60s"] == 20
    stats = client.stats.snapshot()
    assert stats["throttled_429"] == 1 and stats["retries"] == 1
    assert 55 <= elapsed < 75


def _refused_port() -> int:
    """A port on this host that nothing listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "base_url", [None, "http://capillary.invalid"], ids=["refused", "unknown-host"]
)
def test_no_connection_before_any_answer_is_a_wrong_address(base_url: str | None) -> None:
    url = base_url or f"http://127.0.0.1:{_refused_port()}"
    client = CapillaryClient(
        ClientSettings(base_url=url, own_org_id=HOME_ORG), BASIC, MemoryRateLimiter(60_000)
    )
    with client, pytest.raises(Unreachable, match="no connection") as caught:
        client.programs(HOME_ORG)
    assert not isinstance(caught.value, TransientError)
    stats = client.stats.snapshot()
    assert (stats["requests"], stats["retries"]) == (1, 0)
    assert "cannot reach Capillary" in (plain_reason(caught.value) or "")


def test_once_capillary_answered_a_refused_connection_is_an_outage_retried() -> None:
    sim = serve_simulator(CLIENT_TEST_CONFIG)
    client = CapillaryClient(
        ClientSettings(
            base_url=sim.base_url,
            own_org_id=HOME_ORG,
            max_attempts=3,
            backoff_initial_seconds=0.01,
            backoff_max_seconds=0.05,
        ),
        BASIC,
        MemoryRateLimiter(60_000),
    )
    with client:
        assert client.programs(HOME_ORG).programs
        sim.stop()
        with pytest.raises(RetriesExhausted) as caught:
            client.programs(HOME_ORG)
    assert caught.value.attempts == 3
    assert "connection failed" in caught.value.last_error.message
