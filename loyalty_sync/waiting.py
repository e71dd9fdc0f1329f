"""Waiting that a person can stop: SIGINT or SIGTERM ends a wait at once, with one line.

A sync may wait for another run's partition lock or for a concurrency-pool slot, for as long
as the other run takes. Whoever started it must be able to give up: Python's default SIGTERM
kills the process without a word, and a KeyboardInterrupt prints a traceback. Inside a
Dagster step both signals are already turned into Dagster's own interruption, so the
handler is only installed where nobody else handles SIGTERM.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

POLL_SECONDS = 0.5
REPEAT_SECONDS = 30.0


class WaitInterrupted(KeyboardInterrupt):
    """A signal arrived while waiting; its text is the one line to print."""


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGINT stopped a sync outside a wait; its text is the one line to print."""

    def __init__(self, message: str, signal_name: str = "SIGTERM") -> None:
        super().__init__(message)
        self.signal_name = signal_name


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGTERM stops what runs like SIGINT does, wherever the sync is.

    Python's default SIGTERM kills the process without a word; raising in the main thread
    instead lets committed chunks stay and held locks go, and the command end in one line.
    Inside a Dagster step, Dagster turns both signals into its own interruption.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signo: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signo).name
        raise Stopped(f"stopped by {name}", name)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _sigterm_interrupts(what: str) -> Iterator[None]:
    """While waiting, SIGTERM raises WaitInterrupted (if nobody else handles SIGTERM)."""
    on_main = threading.current_thread() is threading.main_thread()
    if not on_main or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def interrupted(signo: int, _frame: FrameType | None) -> None:
        raise WaitInterrupted(f"stopped by SIGTERM while waiting for {what}")

    signal.signal(signal.SIGTERM, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def wait_until(
    ready: Callable[[], str | None],
    say: Callable[[str], None],
    *,
    poll: float = POLL_SECONDS,
    repeat: float = REPEAT_SECONDS,
) -> None:
    """Call `ready` until it returns None; otherwise it returns what we wait for.

    The reason is said when the wait starts, when it changes, and every `repeat` seconds.
    """
    reason = ready()
    if reason is None:
        return
    said, said_at = reason, time.monotonic()
    # The handler is in place before the wait is announced: whoever reads the line may
    # signal at once.
    with _sigterm_interrupts(reason):
        try:
            say(f"waiting for {reason}")
            while (reason := ready()) is not None:
                if reason != said or time.monotonic() - said_at >= repeat:
                    say(f"still waiting for {reason}")
                    said, said_at = reason, time.monotonic()
                time.sleep(poll)
        except WaitInterrupted:
            raise
        except KeyboardInterrupt as exc:
            name = exc.signal_name if isinstance(exc, Stopped) else "SIGINT"
            raise WaitInterrupted(f"stopped by {name} while waiting for {said}") from None
