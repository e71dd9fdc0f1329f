"""Calls on a thread pool whose retry pauses free their thread; answers come as they complete.

Why: a call that must wait before its retry (back-off, `Retry-After`) used to sleep on its
pool thread, and the in-order map waited for it too, so with a third of answers failing
a sync spent most of its time asleep. Here a call that must wait raises `RetryLater`; its
item goes back in a queue with the time it may go again, and the threads take other
items meanwhile. Each call keeps its attempts and its retry budget across its item's
re-runs (`CallHistory`), and every attempt still takes a rate-limit slot and asks the
breaker, so neither the budget, the limit nor an outage's pause changes.

An item whose fetch is several calls (pages) runs again from its first call when a later
one must wait: the calls before it are asked again. The passes' items are one call or a
few, so that costs little, and it keeps a fetch a plain function.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from loyalty_sync.capillary.pool import stoppable

T = TypeVar("T")
R = TypeVar("R")

# Longest the scheduler waits without looking at its queue of items due again.
POLL_SECONDS = 0.1


@dataclass
class CallHistory:
    """One call's attempts so far, over every run of its item."""

    attempts: int = 0
    started: float | None = None  # time.monotonic() of its first attempt


class RetryLater(Exception):  # noqa: N818
    """This call may be tried again in `delay` seconds; its thread goes on with other items."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.2f} s")
        self.delay = delay


# The histories of the calls of the item the current thread runs; None outside `completed`.
_HISTORIES: ContextVar[dict[Hashable, CallHistory] | None] = ContextVar(
    "capillary_call_histories", default=None
)


def call_history(key: Hashable) -> CallHistory | None:
    """The history of call `key` of the current item, or None when its retries must sleep."""
    histories = _HISTORIES.get()
    return None if histories is None else histories.setdefault(key, CallHistory())


@dataclass(order=True)
class _Due(Generic[T]):
    at: float
    order: int
    item: T = field(compare=False)
    histories: dict[Hashable, CallHistory] = field(compare=False)


class _Requeue(Generic[T, R]):
    """The scheduler behind `completed`: items running, items waiting for their retry time."""

    def __init__(
        self, fn: Callable[[T], R], threads: int, window: int, clock: Callable[[], float]
    ) -> None:
        self.stopped = threading.Event()
        self.run = stoppable(fn, self.stopped)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="capillary")
        self.window, self.clock = window, clock
        self.running: dict[Future[R], tuple[T, dict[Hashable, CallHistory]]] = {}
        self.waiting: list[_Due[T]] = []
        self.order = itertools.count()

    def _call(self, item: T, histories: dict[Hashable, CallHistory]) -> R:
        token = _HISTORIES.set(histories)
        try:
            return self.run(item)
        finally:
            _HISTORIES.reset(token)

    def submit(self, item: T, histories: dict[Hashable, CallHistory]) -> None:
        self.running[self.pool.submit(self._call, item, histories)] = (item, histories)

    def resubmit_due(self) -> None:
        """The items whose retry time has come, before any new item."""
        while self.waiting and self.waiting[0].at <= self.clock():
            due = heapq.heappop(self.waiting)
            self.submit(due.item, due.histories)

    def take(self, source: Iterator[T]) -> bool:
        """New items up to the window; False once the source is spent."""
        while len(self.running) + len(self.waiting) < self.window:
            item = next(source, _END)
            if item is _END:
                return False
            self.submit(item, {})  # type: ignore[arg-type]
        return True

    def finished(self) -> Iterator[tuple[T, R | Exception]]:
        """Answers that came in, as (item, answer or its exception); retries go back in."""
        timeout = POLL_SECONDS
        if self.waiting:
            timeout = min(timeout, max(0.0, self.waiting[0].at - self.clock()))
        if not self.running:
            # Only retries waiting for their time: `wait` on no futures returns at once,
            # and the scheduler would spin a core until the first is due.
            self.stopped.wait(timeout)
            return
        done, _ = wait(list(self.running), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in [f for f in self.running if f in done]:  # in the order sent
            item, histories = self.running.pop(future)
            error = future.exception()
            if isinstance(error, RetryLater):
                due = _Due(self.clock() + error.delay, next(self.order), item, histories)
                heapq.heappush(self.waiting, due)
            elif isinstance(error, Exception):
                yield item, error
            elif error is not None:
                raise error
            else:
                yield item, future.result()


_END = object()


def completed(
    fn: Callable[[T], R],
    items: Iterable[T],
    threads: int,
    *,
    prefetch: int = 0,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[tuple[T, R | Exception]]:
    """`fn` over `items` on `threads` threads: (item, answer or its exception) as each ends.

    At most twice the pool size plus `prefetch` items are out at once (running or waiting
    to retry), so a roster of any length streams in constant memory. Abandoned (the
    consumer stops early), its calls end at their next attempt and nobody waits for them.
    """
    threads = max(1, threads)
    requeue: _Requeue[T, R] = _Requeue(fn, threads, threads * 2 + max(0, prefetch), clock)
    source, more, done = iter(items), True, False
    try:
        while True:
            requeue.resubmit_due()
            more = more and requeue.take(source)
            if not (more or requeue.running or requeue.waiting):
                break
            yield from requeue.finished()
        done = True
    finally:
        if not done:
            requeue.stopped.set()
        requeue.pool.shutdown(wait=done, cancel_futures=not done)
