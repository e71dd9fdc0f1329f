"""Auth, OAuth tokens, the rate limiter, injected faults and the counters, over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from capillary_simulator import (
    DEMO_OAUTH_KEY,
    DEMO_OAUTH_SECRET,
    RunningSimulator,
    basic_authorization,
)
from capillary_simulator.traffic import RateLimiter, SlidingWindow
from loyalty_sync_tests.capillary_simulator import reference_examples as examples
from loyalty_sync_tests.factories import preset, serve_simulator

SMALL = preset("serving")
PROGRAMS = "/v2/organization/programs"
TOKEN = "/v3/oauth/token/generate"


@pytest.fixture
def own_sim() -> Iterator[RunningSimulator]:
    """A simulator of this test's own, in a thread (cheap to start, changed freely)."""
    with serve_simulator(SMALL.replace(token_ttl_seconds=1), in_thread=True) as running:
        yield running


def _programs(sim: RunningSimulator, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(sim.base_url + PROGRAMS, headers=headers, timeout=10)


# ----------------------------------------------------------------------- auth
def test_basic_auth_accepts_md5_of_the_password_only(own_sim: RunningSimulator) -> None:
    assert _programs(own_sim, own_sim.auth_headers).status_code == 200
    unauthorized = {"errors": [{"status": False, "code": 401, "message": "Unauthorized"}]}
    for headers in (
        {},
        {"Authorization": basic_authorization(SMALL.username, "wrong")},
        {"Authorization": "Basic " + "bm90LWJhc2U2NA"},
        {"Authorization": "Bearer abc"},
    ):
        response = _programs(own_sim, headers)
        assert response.status_code == 401
        assert response.json() == unauthorized
    plain = httpx.BasicAuth(SMALL.username, SMALL.password)  # password not hashed
    assert httpx.get(own_sim.base_url + PROGRAMS, auth=plain).status_code == 401


def test_oauth_token_works_until_it_expires(own_sim: RunningSimulator) -> None:
    response = httpx.post(
        own_sim.base_url + TOKEN, json={"key": DEMO_OAUTH_KEY, "secret": DEMO_OAUTH_SECRET}
    )
    assert response.status_code == 200
    body = response.json()
    assert examples.shape_differences(examples.TOKEN, body) == []
    assert body["data"]["ttlSeconds"] == 1
    token = {"X-CAP-API-OAUTH-TOKEN": body["data"]["accessToken"]}
    assert _programs(own_sim, token).status_code == 200
    time.sleep(1.1)
    expired = _programs(own_sim, token)
    assert expired.status_code == 401
    assert expired.json()["errors"][0]["code"] == 498
    unknown = _programs(own_sim, {"X-CAP-API-OAUTH-TOKEN": "nope"})
    assert unknown.status_code == 401 and unknown.json()["errors"][0]["code"] == 498


def test_oauth_bad_secret_is_320001(own_sim: RunningSimulator) -> None:
    response = httpx.post(own_sim.base_url + TOKEN, json={"key": DEMO_OAUTH_KEY, "secret": "x"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == 320001
    assert response.json()["data"] is None


# ----------------------------------------------------------------------- rate limit
def test_rate_limiter_window_and_retry_after_are_exact() -> None:
    limiter = RateLimiter()
    admitted = [limiter.admit("k", t, 3) for t in (0.0, 10.0, 20.0)]
    assert admitted == [None, None, None]
    assert limiter.admit("k", 30.0, 3) == 30  # the request at 0 s leaves the window at 60 s
    assert limiter.admit("k", 59.5, 3) == 1
    assert limiter.admit("k", 60.0, 3) is None
    assert limiter.admit("other", 60.0, 3) is None  # per credential
    assert limiter.admit("k", 61.0, 0) is None  # 0: unlimited
    window = SlidingWindow()
    for t in (0.0, 1.0, 2.0, 61.5, 62.0):
        window.add(t)
    assert window.peak == 3 and window.count(62.0) == 2


def test_burst_over_the_limit_gets_429_with_retry_after() -> None:
    config = SMALL.replace(rate_limit_per_minute=5)
    with serve_simulator(config) as sim:
        with httpx.Client(base_url=sim.base_url, headers=sim.auth_headers) as client:
            responses = [client.get(PROGRAMS) for _ in range(8)]
        statuses = [r.status_code for r in responses]
        assert statuses == [200] * 5 + [429] * 3
        for refused in responses[5:]:
            assert refused.json() == {
                "errors": [{"status": False, "code": 429, "message": "Too many requests"}]
            }
            assert 55 <= int(refused.headers["Retry-After"]) <= 60
        # Another credential has its own window.
        token = httpx.post(
            sim.base_url + TOKEN, json={"key": DEMO_OAUTH_KEY, "secret": DEMO_OAUTH_SECRET}
        ).json()["data"]["accessToken"]
        assert _programs(sim, {"X-CAP-API-OAUTH-TOKEN": token}).status_code == 200

        counters = sim.counters()
        user = counters["credentials"][config.username]
        assert counters["rate_limited"] == 3
        assert counters["responses_by_status"]["429"] == 3
        assert user["max_requests_in_60s"] == 8
        assert user["max_accepted_in_60s"] == 5 <= config.rate_limit_per_minute
        assert counters["requests_by_endpoint"][PROGRAMS] == 9

        sim.set_faults(rate_limit_per_minute=0)
        assert _programs(sim, sim.auth_headers).status_code == 200
        sim.reset_counters()
        assert sim.counters()["total_requests"] == 0


# ----------------------------------------------------------------------- faults
def test_server_errors_cycle_through_500_502_503() -> None:
    with serve_simulator(SMALL.replace(error_rate=1.0), in_thread=True) as sim:
        with httpx.Client(base_url=sim.base_url, headers=sim.auth_headers) as client:
            statuses = [client.get(PROGRAMS).status_code for _ in range(3)]
            v3 = client.get(
                "/v3/customers/387000000/customerPromotionDetails/actionSummary",
                params={"programId": 2568, "promotionId": 1100000000},
            )
        assert statuses == [500, 502, 503]
        assert v3.status_code == 500
        assert v3.json() == {
            "data": None,
            "errors": [{"status": False, "code": 500, "message": "Internal server error"}],
            "warnings": None,
        }
        assert sim.counters()["faults"]["server_error"] == 4


def test_error_share_is_seeded_and_changeable_at_run_time() -> None:
    def statuses(sim: RunningSimulator) -> list[int]:
        with httpx.Client(base_url=sim.base_url, headers=sim.auth_headers) as client:
            return [client.get(PROGRAMS).status_code for _ in range(200)]

    config = SMALL.replace(error_rate=0.25)
    with (
        serve_simulator(config, in_thread=True) as one,
        serve_simulator(config, in_thread=True) as two,
    ):
        first = statuses(one)
        assert first == statuses(two)
        assert 30 <= sum(s >= 500 for s in first) <= 70
        one.set_faults(error_rate=0.0)
        assert set(statuses(one)) == {200}


def test_hang_then_answer_normally(own_sim: RunningSimulator) -> None:
    own_sim.set_faults(hang_rate=1.0, hang_seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(own_sim.base_url + PROGRAMS, headers=own_sim.auth_headers, timeout=0.3)
    started = time.perf_counter()
    response = httpx.get(own_sim.base_url + PROGRAMS, headers=own_sim.auth_headers, timeout=5)
    assert response.status_code == 200 and time.perf_counter() - started >= 0.9
    own_sim.set_faults(hang_rate=0.0, latency_ms=150)
    started = time.perf_counter()
    assert _programs(own_sim, own_sim.auth_headers).status_code == 200
    assert 0.15 <= time.perf_counter() - started < 0.9
    assert own_sim.counters()["faults"]["hang"] == 2


def test_malformed_bodies_are_truncated_json(own_sim: RunningSimulator) -> None:
    own_sim.set_faults(malformed_rate=1.0)
    response = _programs(own_sim, own_sim.auth_headers)
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.content.startswith(b'{"data":')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_bad_fault_settings_are_refused(own_sim: RunningSimulator) -> None:
    with pytest.raises(ValueError, match="error_rate"):
        own_sim.set_faults(error_rate=2)
    with pytest.raises(ValueError, match="unknown"):
        own_sim.set_faults(explode=True)
