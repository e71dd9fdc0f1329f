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
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from loyalty_sync.capillary.stats import ApiCounts
from loyalty_sync.cli.terminal import console as make_console
from loyalty_sync.cli.terminal import terminal_text
from loyalty_sync.sync import progress
from loyalty_sync.sync.progress import Counter, LineReporter, Tasks

LINE_EVERY_SECONDS = 5.0


class ItemsColumn(ProgressColumn):
    """Items done of total (`?` until the pass has counted them)."""

    def render(self, task: Task) -> Text:
        total = "?" if task.total is None else f"{int(task.total):,}"
        return Text(f"{int(task.completed):>6,}/{total}")


class ApiColumn(ProgressColumn):
    """A bar's own calls (retries and 429s when there are any), rate, and ETA or time
    taken, read at each redraw (not only on advance), so the figures move while calls
    are in flight. Narrow enough that a bar fits one line of an 80-column terminal."""

    def __init__(self, tasks: Tasks) -> None:
        super().__init__()
        self.tasks = tasks

    def render(self, task: Task) -> Text:
        name = str(task.fields.get("key", ""))
        counts = self.tasks.counts(name)
        state = self.tasks.states.get(name)
        parts = [f"{counts.calls:,} calls"]
        if counts.retries:
            parts.append(f"{counts.retries:,} retries")
        if counts.throttled:
            parts.append(f"{counts.throttled:,} 429s")
        if state is not None:
            parts.append(f"{state.rate():.1f}/s")
            if state.finished is not None:
                parts.append(f"in {_clock(state.finished - state.started)}")
            else:
                eta = state.eta()
                parts.append(f"ETA {_clock(eta.total_seconds()) if eta else '?'}")
        return Text(" ".join(parts))


def _clock(seconds: float) -> str:
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02}:{second:02}" if hours else f"{minute}:{second:02}"


class RichReporter:
    """A bar per pass and org: items done of total, calls, retries, 429s, rate, ETA."""

    def __init__(self, console: Console) -> None:
        self.tasks = Tasks()
        self.bar = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(bar_width=12),
            ItemsColumn(),
            ApiColumn(self.tasks),
            console=console,
            refresh_per_second=4,
        )
        self._ids: dict[str, int] = {}

    def start(self, task: str, total: int | None = None) -> None:
        self.tasks.start(task, total)
        self._ids[task] = self.bar.add_task(terminal_text(task), total=total, key=task)

    def expect(self, task: str, total: int) -> None:
        self.tasks.expect(task, total)
        if task in self._ids:
            self.bar.update(self._ids[task], total=total)  # type: ignore[arg-type]

    def advance(self, task: str, amount: int = 1) -> None:
        self.tasks.advance(task, amount)
        if task in self._ids:
            self.bar.update(self._ids[task], advance=amount)  # type: ignore[arg-type]

    def finish(self, task: str, counts: ApiCounts) -> None:
        state = self.tasks.finish(task, counts)
        if task in self._ids and state is not None:
            self.bar.update(self._ids[task], total=state.total)  # type: ignore[arg-type]

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
