"""Retry pauses off the pool's threads: an item waiting to retry holds up no other item.

The clock is the test's: a pause is over when the test moves the clock, so nothing here
depends on how fast the machine is, and a retry that slept on its thread would hang.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from loyalty_sync.capillary.errors import RetriesExhausted, TransientError
from loyalty_sync.capillary.requeue import call_history, completed
from loyalty_sync.capillary.retrying import with_retries
from loyalty_sync.capillary.settings import ClientSettings
from loyalty_sync.capillary.stats import ClientStats

# Pauses of ten minutes: slept on a thread, they would outlast the test run.
SLOW = ClientSettings(
    base_url="http://capillary.test", backoff_initial_seconds=600, backoff_max_seconds=600
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fetcher(
    failures: dict[int, int], settings: ClientSettings, stats: ClientStats, asked: list[int]
) -> Callable[[int], str]:
    """A call per item that fails `failures[item]` times (503) before it answers."""

    def fetch(item: int) -> str:
        def attempt() -> str:
            asked.append(item)
            if failures.get(item, 0) > 0:
                failures[item] -= 1
                raise TransientError(None, "503 Service Unavailable", "customer_lookup", 503)
            return f"answer {item}"

        return with_retries(attempt, settings, stats, "customer_lookup", call_history(item))

    return fetch


def test_an_item_waiting_to_retry_frees_its_thread_for_the_others() -> None:
    clock, stats, asked = Clock(), ClientStats(), []
    fetch = _fetcher({0: 1}, SLOW, stats, asked)
    answered: list[tuple[int, object]] = []
    for item, answer in completed(fetch, range(6), 1, clock=clock):
        answered.append((item, answer))
        if len(answered) == 5:
            clock.now += 3600  # the pause is over only now
    # One thread, and the other five answered while item 0 waited for its retry.
    assert [item for item, _ in answered] == [1, 2, 3, 4, 5, 0]
    assert answered[-1] == (0, "answer 0")
    assert asked == [0, 1, 2, 3, 4, 5, 0]
    assert stats.snapshot()["retries"] == 1


def test_a_call_keeps_its_attempts_and_budget_across_its_items_runs() -> None:
    ticks = itertools.count(step=3600.0)  # every look at the clock ends any pause
    settings = SLOW.model_copy(update={"max_attempts": 3})
    stats, asked = ClientStats(), []
    fetch = _fetcher({7: 99}, settings, stats, asked)
    [(item, answer)] = list(completed(fetch, [7], 4, clock=lambda: next(ticks)))
    assert item == 7 and isinstance(answer, RetriesExhausted)
    assert answer.attempts == 3 and asked == [7, 7, 7]
    assert stats.snapshot()["retries"] == 2


def test_outside_the_requeue_pool_a_retry_pauses_where_it_is() -> None:
    fast = ClientSettings(base_url="http://capillary.test", backoff_initial_seconds=0.01)
    stats, asked = ClientStats(), []
    fetch = _fetcher({3: 2}, fast, stats, asked)
    assert fetch(3) == "answer 3" and asked == [3, 3, 3]


def test_a_requeued_calls_pause_grows_only_while_the_api_itself_keeps_failing() -> None:
    from tenacity import RetryCallState, Retrying

    from loyalty_sync.capillary.requeue import CallHistory
    from loyalty_sync.capillary.retrying import _Backoff

    state = RetryCallState(Retrying(), None, (), {})
    state.set_exception((TransientError, TransientError(None, "503"), None))
    earlier = CallHistory(attempts=5)
    answered_meanwhile = _Backoff(1.0, 600.0, earlier, failing_in_a_row=lambda: 1)
    failing_for_all = _Backoff(1.0, 600.0, earlier, failing_in_a_row=lambda: 50)
    assert answered_meanwhile(state) <= 2.0  # the first pause again: 1 s plus jitter
    assert failing_for_all(state) >= 32.0  # the sixth attempt's pause: 2 ** 5 s


def test_with_only_retries_waiting_the_scheduler_sleeps_until_the_first_is_due() -> None:
    import time

    from loyalty_sync.capillary.requeue import RetryLater

    looks = itertools.count()

    def clock() -> float:
        next(looks)
        return time.monotonic()

    tried: set[int] = set()

    def fetch(item: int) -> int:
        if item not in tried:
            tried.add(item)
            raise RetryLater(0.5)
        return item

    assert sorted(answer for _, answer in completed(fetch, range(2), 2, clock=clock)) == [0, 1]
    # Half a second of nothing to run: a few looks a poll, not a core spinning on the clock.
    assert next(looks) < 100
