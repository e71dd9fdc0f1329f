"""Progress of a sync, reported to whoever is watching: a terminal bar, a log or a pipe.

`passes.loop.PassLoop` starts a task per pass and org before its first call and finishes it after
its last, with the calls the pass records for that org (materialisation metadata,
`sync_runs`), so a bar shows the same number as everything else. In between, `ChunkRunner`
says how many items there are (`expect`) and advances by one as each item is answered,
not when its chunk commits, so items, rate and ETA move during a pass. The CLI installs a
rich display on a terminal and `LineReporter` otherwise; inside a Dagster run the default
reporter logs a line every tenth of the way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol, TextIO

from loyalty_sync.capillary.stats import ApiCounts

Counter = Callable[[], ApiCounts]


class ProgressReporter(Protocol):
    def start(self, task: str, total: int | None = None) -> None:
        """A task begins; its number of items is `total`, or unknown until `expect`."""

    def expect(self, task: str, total: int) -> None:
        """The task has `total` items."""

    def advance(self, task: str, amount: int = 1) -> None: ...

    def finish(self, task: str, counts: ApiCounts) -> None:
        """The task is over: `counts` are its calls, retries and 429s as recorded."""

    def count_calls_with(self, counter: Counter) -> None:
        """Read calls, retries and 429s made so far from `counter` as work advances."""


@dataclass
class TaskState:
    """One pass over one org: items done of total, and its own API counts."""

    total: int | None
    start_counts: ApiCounts
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    final_counts: ApiCounts | None = None
    finished: float | None = None

    def counts(self, now: ApiCounts) -> ApiCounts:
        return self.final_counts or now.since(self.start_counts)

    def rate(self) -> float:
        elapsed = (self.finished or time.monotonic()) - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> timedelta | None:
        rate = self.rate()
        if not rate or self.total is None or self.done >= self.total:
            return None
        return timedelta(seconds=round((self.total - self.done) / rate))


class Tasks:
    """The per-task bookkeeping every reporter shares."""

    def __init__(self) -> None:
        self.states: dict[str, TaskState] = {}
        self.counter: Counter = ApiCounts

    def start(self, task: str, total: int | None) -> TaskState:
        state = TaskState(total, self.counter())
        self.states[task] = state
        return state

    def expect(self, task: str, total: int) -> TaskState | None:
        state = self.states.get(task)
        if state is not None:
            state.total = total
        return state

    def advance(self, task: str, amount: int) -> TaskState | None:
        state = self.states.get(task)
        if state is not None:
            state.done += amount
        return state

    def finish(self, task: str, counts: ApiCounts) -> TaskState | None:
        state = self.states.get(task)
        if state is not None:
            state.final_counts = counts
            state.finished = time.monotonic()
            state.total = state.done if state.total is None else state.total
        return state

    def counts(self, task: str) -> ApiCounts:
        state = self.states.get(task)
        return state.counts(self.counter()) if state else ApiCounts()


def describe(task: str, state: TaskState, counts: ApiCounts) -> str:
    eta = state.eta()
    total = "?" if state.total is None else f"{state.total:,}"
    return (
        f"{task}: {state.done:,}/{total}, {counts.calls:,} calls, "
        f"{counts.retries:,} retries, {counts.throttled:,} 429s, {state.rate():.1f}/s"
        + (f", ETA {eta}" if eta is not None else "")
    )


class LineReporter:
    """A short line every `every` seconds per task (and when it ends), for a pipe or a log
    file, where redrawn bars would be noise."""

    def __init__(self, stream: TextIO, every: float = 5.0) -> None:
        self.stream = stream
        self.every = every
        self.tasks = Tasks()
        self._last: dict[str, float] = {}

    def start(self, task: str, total: int | None = None) -> None:
        state = self.tasks.start(task, total)
        self._print(task, state)

    def expect(self, task: str, total: int) -> None:
        self.tasks.expect(task, total)

    def advance(self, task: str, amount: int = 1) -> None:
        state = self.tasks.advance(task, amount)
        if state is not None and time.monotonic() - self._last.get(task, 0.0) >= self.every:
            self._print(task, state)

    def finish(self, task: str, counts: ApiCounts) -> None:
        state = self.tasks.finish(task, counts)
        if state is not None:
            self._print(task, state)

    def _print(self, task: str, state: TaskState) -> None:
        self._last[task] = time.monotonic()
        self.stream.write(describe(task, state, self.tasks.counts(task)) + "\n")
        self.stream.flush()

    def count_calls_with(self, counter: Counter) -> None:
        self.tasks.counter = counter


class LoggingReporter:
    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("loyalty_sync.sync")
        self._totals: dict[str, int] = {}
        self._done: dict[str, int] = {}

    def start(self, task: str, total: int | None = None) -> None:
        self._done[task] = 0
        if total is not None:
            self.expect(task, total)

    def expect(self, task: str, total: int) -> None:
        self._totals[task] = total
        self.logger.info("%s: %d to do", task, total)

    def finish(self, task: str, counts: ApiCounts) -> None:
        self.logger.info("%s: done, %d calls, %d retries", task, counts.calls, counts.retries)

    def advance(self, task: str, amount: int = 1) -> None:
        total = self._totals.get(task, 0)
        before = self._done.get(task, 0)
        after = before + amount
        self._done[task] = after
        step = max(1, total // 10)
        if total and after // step != before // step:
            self.logger.info("%s: %d/%d", task, after, total)

    def count_calls_with(self, counter: Counter) -> None:
        """The run log reports calls in the materialisation metadata instead."""


_reporter: ProgressReporter = LoggingReporter()


def set_reporter(reporter: ProgressReporter | None) -> None:
    global _reporter  # noqa: PLW0603 (one reporter per process, installed by the CLI)
    _reporter = reporter or LoggingReporter()


def reporter() -> ProgressReporter:
    return _reporter
