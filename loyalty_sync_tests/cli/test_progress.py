"""The progress display: live on a terminal even while Dagster captures descriptor 2, a
short line per few seconds elsewhere, and each task's own API counts."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import textwrap
import threading

import pytest

from loyalty_sync.capillary.stats import ApiCounts
from loyalty_sync.sync.progress import LineReporter
from loyalty_sync_tests.cli.processes import read_all

# What a step does to the terminal in the middle of the display: Dagster's compute log
# manager points descriptor 2 at a capture file (os.dup2), as while a pass runs.
CHILD = textwrap.dedent(
    """
    import os, tempfile, time
    from loyalty_sync.cli.progress_display import progress_display
    from loyalty_sync.sync import progress
    from loyalty_sync.capillary.stats import ApiCounts

    with progress_display(True):
        capture = tempfile.TemporaryFile()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        report = progress.reporter()
        report.start("customers 51135")
        report.expect("customers 51135", 30)
        for _ in range(30):
            time.sleep(0.1)
            report.advance("customers 51135")
        report.finish("customers 51135", ApiCounts(30, 0, 0))
        os.dup2(saved, 2)
    """
)


@pytest.mark.slow  # a sync process in a pty
def test_bars_redraw_on_a_terminal_while_descriptor_2_is_captured() -> None:
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=slave, stdout=slave, stderr=slave, close_fds=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    reader = threading.Thread(target=read_all, args=(master, chunks), daemon=True)
    reader.start()
    assert process.wait(timeout=60) == 0
    reader.join(timeout=5)
    os.close(master)
    output = b"".join(chunks)
    # One frame per refresh (4 a second) over three seconds of work, each a redraw.
    frames = output.count(b"customers 51135")
    assert frames >= 6, output[-2000:]
    assert b"30/30" in output


def test_off_a_terminal_a_line_every_few_seconds_with_the_tasks_own_counts() -> None:
    stream = io.StringIO()
    reporter = LineReporter(stream, every=0.0)
    counts = ApiCounts(100, 5, 1)
    reporter.count_calls_with(lambda: counts)
    reporter.start("customers 51135", 2)
    counts = ApiCounts(110, 6, 1)
    reporter.advance("customers 51135")
    counts = ApiCounts(120, 6, 2)
    reporter.advance("customers 51135")
    reporter.finish("customers 51135", ApiCounts(20, 1, 1))
    reporter.start("promotions 51135")
    counts = ApiCounts(125, 6, 2)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("customers 51135: 0/2, 0 calls, 0 retries, 0 429s")
    assert lines[2].startswith("customers 51135: 2/2, 20 calls, 1 retries, 1 429s")
    # A finished task keeps its own figures; the next one starts from zero.
    assert reporter.tasks.counts("customers 51135") == ApiCounts(20, 1, 1)
    assert reporter.tasks.counts("promotions 51135") == ApiCounts(5, 0, 0)

    quiet = io.StringIO()
    slow = LineReporter(quiet, every=60.0)
    slow.start("benefits 51135", 3)
    slow.advance("benefits 51135")
    slow.advance("benefits 51135")
    assert len(quiet.getvalue().splitlines()) == 1  # not a line per item
