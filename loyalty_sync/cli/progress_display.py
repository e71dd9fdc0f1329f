"""The progress `loyalty-sync sync` shows: live bars on a terminal, short lines otherwise.

Why the bars used to appear only once, complete, at the end: while a step runs, Dagster's
compute log manager points file descriptors 1 and 2 at a capture file (`os.dup2`) and
mirrors it back with `tail -F`. Rich asks `isatty()` of its file on every refresh; during
a step the answer was False, so the live display drew nothing until the run was over.
The display therefore writes to its own duplicate of the terminal's descriptor, taken
before any run starts, which Dagster's redirection does not touch.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from loyalty_sync.cli.terminal import console as make_console
from loyalty_sync.cli.terminal import terminal_text
from loyalty_sync.sync import progress
from loyalty_sync.sync.progress import Counter, LineReporter, Tasks

LINE_EVERY_SECONDS = 5.0


class ApiColumn(ProgressColumn):
    """A bar's own calls, retries, 429s and rate, read at each redraw (not only on advance),
    so the figures move while a chunk of calls is in flight."""

    def __init__(self, tasks: Tasks) -> None:
        super().__init__()
        self.tasks = tasks

    def render(self, task: Task) -> Text:
        name = str(task.fields.get("key", ""))
        counts = self.tasks.counts(name)
        state = self.tasks.states.get(name)
        rate = f"{state.rate():5.1f}/s" if state else ""
        return Text(
            f"{counts.calls:>6,} calls {counts.retries:>3,} retries "
            f"{counts.throttled:>3,} 429s {rate}"
        )


class RichReporter:
    """Bars per pass and org: items done of total, calls, retries, 429s, rate, ETA."""

    def __init__(self, console: Console) -> None:
        self.tasks = Tasks()
        self.bar = Progress(
            TextColumn("{task.description:<17}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            ApiColumn(self.tasks),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            refresh_per_second=4,
        )
        self._ids: dict[str, int] = {}

    def start(self, task: str, total: int) -> None:
        self.tasks.start(task, total)
        self._ids[task] = self.bar.add_task(terminal_text(task), total=total, key=task)

    def advance(self, task: str, amount: int = 1) -> None:
        self.tasks.advance(task, amount)
        if task in self._ids:
            self.bar.update(self._ids[task], advance=amount)  # type: ignore[arg-type]

    def count_calls_with(self, counter: Counter) -> None:
        self.tasks.counter = counter


def terminal_stream() -> TextIO | None:
    """A private duplicate of stderr's descriptor: Dagster's capture cannot redirect it.

    None when stderr has no descriptor (an in-memory stream, as under click's CliRunner).
    """
    try:
        descriptor = sys.stderr.fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return os.fdopen(os.dup(descriptor), "w", buffering=1, encoding="utf-8")


@contextmanager
def progress_display(show: bool, console: Console | None = None) -> Iterator[Console]:
    """Install the right reporter for the sync; yield the console to print notices on."""
    own = terminal_stream()
    stream = own or sys.stderr
    live = console or make_console(file=stream)
    try:
        if not show:
            yield live
        elif live.is_terminal:
            reporter = RichReporter(live)
            progress.set_reporter(reporter)
            with reporter.bar:
                yield live
        else:
            progress.set_reporter(LineReporter(stream, LINE_EVERY_SECONDS))
            yield live
    finally:
        progress.set_reporter(None)
        if own is not None:
            own.close()
