"""The circuit breaker and the limiter's pace: pause everyone on an outage, slow on 429s."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from loyalty_sync.capillary import ratelimit
from loyalty_sync.capillary.breaker import Attempt, CircuitBreaker
from loyalty_sync.capillary.ratelimit import MemoryRateLimiter, slot_interval


def test_breaker_opens_after_failures_in_a_row_and_lets_one_probe_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    breaker = CircuitBreaker(threshold=3, probe_initial_seconds=0.2, probe_max_seconds=0.4)
    with caplog.at_level(logging.WARNING, logger="loyalty_sync.capillary"):
        for _ in range(2):
            breaker.failed(breaker.before_attempt(), "503")
        breaker.succeeded(breaker.before_attempt())  # a success between: not "in a row"
        for _ in range(2):
            breaker.failed(breaker.before_attempt(), "503")
        assert not breaker.is_open
        breaker.failed(breaker.before_attempt(), "503")
        assert breaker.is_open
        released: list[float] = []
        attempts: list[Attempt] = []

        def caller() -> None:
            attempts.append(breaker.before_attempt())
            released.append(time.monotonic())

        started = time.monotonic()
        threads = [threading.Thread(target=caller) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        # One probe went through after the probe interval; the others still wait.
        assert len(released) == 1 and released[0] - started >= 0.15
        assert attempts[0].probe
        breaker.succeeded(attempts[0])
        for thread in threads:
            thread.join(timeout=2)
        assert len(released) == 4
    text = caplog.text
    assert text.count("Capillary unavailable") == 1
    assert text.count("answering again") == 1


def test_a_failed_probe_backs_off_and_honours_retry_after() -> None:
    now = [100.0]
    breaker = CircuitBreaker(threshold=1, probe_initial_seconds=1.0, clock=lambda: now[0])
    breaker.failed(breaker.before_attempt(), "429", retry_after=5.0)
    now[0] += 1.0
    done = threading.Event()
    thread = threading.Thread(target=lambda: (breaker.before_attempt(), done.set()))
    thread.start()
    assert not done.wait(0.3), "a probe before Retry-After has passed"
    now[0] += 4.5
    assert done.wait(2.0)
    thread.join()


def test_answers_to_requests_sent_before_the_outage_neither_close_nor_reopen_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Under load, answers to requests already in flight arrive after the breaker opened:
    they say nothing about Capillary now, so one outage is announced once."""
    now = [100.0]
    breaker = CircuitBreaker(threshold=2, probe_initial_seconds=1.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="loyalty_sync.capillary"):
        in_flight = [breaker.before_attempt() for _ in range(4)]
        breaker.failed(in_flight[0], "503")
        breaker.failed(in_flight[1], "503")
        assert breaker.is_open
        breaker.succeeded(in_flight[2])  # sent before it opened: stays open
        assert breaker.is_open
        now[0] += 1.0
        probe = breaker.before_attempt()
        assert probe.probe
        breaker.failed(in_flight[3], "timeout")  # not the probe's answer: no back-off
        breaker.failed(probe, "503")  # the probe's: the next one waits twice as long
        assert breaker._next_probe == pytest.approx(103.0)
        now[0] += 2.0
        second = breaker.before_attempt()
        breaker.succeeded(second)
        assert not breaker.is_open
        # A late answer from before the outage, after it closed: nothing happens.
        breaker.failed(in_flight[2], "503")
        assert not breaker.is_open
    assert caplog.text.count("Capillary unavailable") == 1
    assert caplog.text.count("answering again") == 1


def test_429s_slow_the_limiter_and_clean_answers_bring_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: clock[0])
    limiter = MemoryRateLimiter(600, clock=lambda: clock[0], sleep=lambda s: None)
    base = slot_interval(600)
    limiter.throttled()
    assert limiter.pace == pytest.approx(0.8)
    limiter.throttled()  # within SLOW_DOWN_SECONDS: one burst slows once
    assert limiter.pace == pytest.approx(0.8)
    for _ in range(20):
        clock[0] += ratelimit.SLOW_DOWN_SECONDS
        limiter.throttled()
    assert limiter.pace == pytest.approx(ratelimit.MIN_PACE)
    assert limiter._interval == pytest.approx(base / ratelimit.MIN_PACE)
    limiter.answered()  # too soon after the last slow-down
    assert limiter.pace == pytest.approx(ratelimit.MIN_PACE)
    clock[0] += ratelimit.RECOVER_SECONDS
    limiter.answered()
    assert limiter.pace == pytest.approx(ratelimit.MIN_PACE + ratelimit.RECOVER_STEP)
    for _ in range(40):
        clock[0] += ratelimit.RECOVER_SECONDS
        limiter.answered()
    assert limiter.pace == 1.0 and limiter._interval == pytest.approx(base)
