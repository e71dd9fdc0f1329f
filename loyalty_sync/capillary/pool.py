"""Calls on a bounded thread pool, so throughput is set by the rate limit, not round trips.

A map that is abandoned (the pass stopped, by a signal or an error) marks its calls
stopped: their next attempt or retry pause ends them at once, and nobody waits for them,
so a stop takes seconds, not the minutes a retry budget allows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import TypeVar

from loyalty_sync.capillary.errors import CapillaryError

T = TypeVar("T")
R = TypeVar("R")

# Set when the map a call runs for was abandoned; None outside a map.
_STOPPED: ContextVar[threading.Event | None] = ContextVar("capillary_map_stopped", default=None)


class CallAbandoned(CapillaryError):  # noqa: N818
    """The map this call ran for was abandoned: nobody waits for its answer any more."""


def abandoned() -> bool:
    """Whether the map the current call runs for has been abandoned."""
    stopped = _STOPPED.get()
    return stopped is not None and stopped.is_set()


def pause(seconds: float) -> None:
    """A retry's pause, cut short when the call is abandoned."""
    stopped = _STOPPED.get()
    if stopped is None:
        time.sleep(seconds)
    else:
        stopped.wait(seconds)


def stoppable(fn: Callable[[T], R], stopped: threading.Event) -> Callable[[T], R]:
    def run(item: T) -> R:
        token = _STOPPED.set(stopped)
        try:
            return fn(item)
        finally:
            _STOPPED.reset(token)

    return run


def imap(
    fn: Callable[[T], R],
    items: Iterable[T],
    threads: int,
    *,
    return_exceptions: bool = False,
    prefetch: int = 0,
) -> Iterator[R | Exception]:
    """`fn` over `items` on `threads` threads, results in input order.

    At most twice the pool size plus `prefetch` items are submitted ahead of the
    consumer, so a roster of any length streams in constant memory. A consumer that
    stops to write every N results should pass `prefetch=N`: the pool then keeps taking
    rate-limit slots while it writes, instead of idling once its two-per-thread window
    is done, and a slot missed is time lost for good.
    """
    threads = max(1, threads)
    window = threads * 2 + max(0, prefetch)
    stopped = threading.Event()
    run = stoppable(fn, stopped)
    pending: list[Future[R]] = []
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="capillary")
    done = False
    try:
        for item in items:
            pending.append(pool.submit(run, item))
            if len(pending) >= window:
                yield _result(pending.pop(0), return_exceptions)
        while pending:
            yield _result(pending.pop(0), return_exceptions)
        done = True
    finally:
        if not done:
            stopped.set()
        pool.shutdown(wait=done, cancel_futures=not done)


def _result(future: Future[R], return_exceptions: bool) -> R | Exception:
    if not return_exceptions:
        return future.result()
    try:
        return future.result()
    except Exception as exc:
        return exc
