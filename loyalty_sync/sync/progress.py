"""Progress of a sync, reported to whoever is watching: a terminal bar or the run log.

The passes call `report.start/advance`; the CLI installs a rich progress display, and
inside a Dagster run the default reporter logs a line every tenth of the way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol


class ProgressReporter(Protocol):
    def start(self, task: str, total: int) -> None: ...

    def advance(self, task: str, amount: int = 1) -> None: ...

    def count_calls_with(self, counter: Callable[[], int]) -> None:
        """Show the API calls made so far, read from `counter` as work advances."""


class LoggingReporter:
    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("loyalty_sync.sync")
        self._totals: dict[str, int] = {}
        self._done: dict[str, int] = {}

    def start(self, task: str, total: int) -> None:
        self._totals[task] = total
        self._done[task] = 0
        self.logger.info("%s: %d to do", task, total)

    def advance(self, task: str, amount: int = 1) -> None:
        total = self._totals.get(task, 0)
        before = self._done.get(task, 0)
        after = before + amount
        self._done[task] = after
        step = max(1, total // 10)
        if total and after // step != before // step:
            self.logger.info("%s: %d/%d", task, after, total)

    def count_calls_with(self, counter: Callable[[], int]) -> None:
        """The run log reports calls in the materialisation metadata instead."""


_reporter: ProgressReporter = LoggingReporter()


def set_reporter(reporter: ProgressReporter | None) -> None:
    global _reporter  # noqa: PLW0603 (one reporter per process, installed by the CLI)
    _reporter = reporter or LoggingReporter()


def reporter() -> ProgressReporter:
    return _reporter
