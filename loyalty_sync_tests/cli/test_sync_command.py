"""`loyalty-sync sync` as a person sees it: a real process whose stderr is an 80-column
terminal (a pty) and whose stdout, the summary, is 80 columns wide.

One sync serves every test of the module: the bars move item by item during a pass, the
summary fits the terminal, and the calls it counts are the bars', the materialisation
metadata's and the simulator's own count.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.cli.processes import read_all
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.factories import preset, serve_simulator

# slow: runs `loyalty-sync sync` as a process in a pty
pytestmark = pytest.mark.slow

CONFIG = preset("two_orgs")

COLUMNS = 80
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\r")
# A bar as drawn: "benefits 51135   ━━━━━━━━━━━━     12/61 12 calls 9.8/s ETA 0:05"
BAR = re.compile(r"(customers|promotions|benefits) (\d+)\s+[━╸╺ ]*\s*(\d+)/(\d+|\?) (\d+) calls")
PASS_ASSETS = {
    "customers": "customers",
    "promotions": "promotions",
    "benefits": "benefit_summaries",
}


@dataclass
class Synced:
    returncode: int
    terminal: str  # stderr as drawn on the terminal, escape sequences removed
    summary: str  # stdout
    counters: dict[str, Any]
    dagster_home: Path

    def materializations(self, asset: str) -> list[Any]:
        with dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            return instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset)), limit=100
            ).records


@pytest.fixture(scope="module")
def synced(
    server_admin_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Synced]:
    home = tmp_path_factory.mktemp("first-hour")
    with serve_simulator(CONFIG) as sim:
        url = new_database(server_admin_url)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        roster = home / "roster.csv"
        roster.write_text(sim.roster_csv())
        import_roster(engine, roster)
        engine.dispose()
        sim.reset_counters()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")}
        env.update(
            sim.client_environment(),
            # OAuth, as most tenants use: its token requests are counted apart from calls.
            CAPILLARY_OAUTH_KEY=CONFIG.oauth_key,
            CAPILLARY_OAUTH_SECRET=CONFIG.oauth_secret,
            # Slow enough that a pass lasts many redraws (4 a second): 5 calls a second,
            # so even a loaded machine draws several frames between a pass's first burst
            # and its end.
            CAPILLARY_RATE_LIMIT_PER_MINUTE="300",
            LOYALTY_SYNC_DATABASE_URL=url,
            LOYALTY_SYNC_HOME=str(home),
            DAGSTER_HOME=str(home / "dagster"),
            COLUMNS=str(COLUMNS),
            TERM="xterm-256color",
        )
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, COLUMNS, 0, 0))
        process = subprocess.Popen(
            [sys.executable, "-m", "loyalty_sync.cli", "sync"],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        chunks: list[bytes] = []
        reader = threading.Thread(target=read_all, args=(master, chunks), daemon=True)
        reader.start()
        stdout, _ = process.communicate(timeout=300)
        reader.join(timeout=10)
        os.close(master)
        terminal = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
        yield Synced(
            process.returncode, terminal, stdout.decode(), sim.counters(), home / "dagster"
        )


def _bars(terminal: str) -> dict[str, list[tuple[int, int | None, int]]]:
    """Task -> every frame drawn of its bar: (items done, total, calls)."""
    frames: dict[str, list[tuple[int, int | None, int]]] = {}
    for name, org, done, total, calls in BAR.findall(terminal):
        frames.setdefault(f"{name} {org}", []).append(
            (int(done), None if total == "?" else int(total), int(calls))
        )
    return frames


def _summary_calls(summary: str) -> dict[str, int]:
    found = re.search(r"API calls: (\d+) \(([^)]*)\), (\d+) retries", " ".join(summary.split()))
    assert found, summary
    parts = dict(part.rsplit(" ", 1) for part in found.group(2).split(", "))
    return {"total": int(found.group(1)), "retries": int(found.group(3))} | {
        name: int(n) for name, n in parts.items()
    }


def test_context_comes_before_the_bars(synced: Synced) -> None:
    assert synced.returncode == 0
    first_bar = synced.terminal.index("customers 51135")
    for line in ("Capillary: ", "warehouse: ", "connecting to Capillary at ", "partitions: 3"):
        assert -1 < synced.terminal.find(line) < first_bar, line


def test_bars_count_items_as_they_are_answered(synced: Synced) -> None:
    bars = _bars(synced.terminal)
    assert set(bars) >= {"customers 51135", "benefits 51135", "benefits 51136"}
    for task in ("customers 51135", "benefits 51135"):
        totals = {total for _, total, _ in bars[task] if total}
        (total,) = totals
        # The whole pass is one chunk (250 items by default): counted at commit, the bar
        # would jump from 0 to the total. Counted as answered, it shows the steps between.
        between = {done for done, _, _ in bars[task] if 0 < done < total}
        assert len(between) >= 2, (task, bars[task])
        assert bars[task][-1][0] == total


def test_the_summary_fits_80_columns_failures_first(synced: Synced) -> None:
    lines = synced.summary.rstrip("\n").splitlines()
    assert len(lines) < 60, synced.summary
    assert max(len(line) for line in lines) <= COLUMNS, synced.summary
    text = synced.summary
    assert text.index("checks: ") < text.index("rows this sync") < text.index("API calls: ")
    failed = [line for line in lines if re.match(r"  (ERROR|WARN) \S+ on \S+", line)]
    assert failed and failed[0].startswith("  ERROR")
    # A check that passed is named, in full, without a severity beside it.
    passed = text[text.index("  passed: ") : text.index("rows this sync")]
    assert "row_count_drop (customers, loyalty_program_details" in " ".join(passed.split())
    assert "ERROR" not in passed and "WARN" not in passed
    assert "benefit_alternate_currencies" in text  # table names are not cut


def test_one_call_count_in_bars_summary_metadata_and_simulator(synced: Synced) -> None:
    calls = _summary_calls(synced.summary)
    assert calls["retries"] == 0
    bars = {task: frames[-1][2] for task, frames in _bars(synced.terminal).items()}
    by_pass = {name: sum(n for t, n in bars.items() if t.startswith(name)) for name in PASS_ASSETS}
    assert {name: calls[name] for name in PASS_ASSETS} == by_pass
    assert calls["total"] == calls["discovery"] + sum(by_pass.values())
    # The simulator's count: every request but the token requests, named apart.
    counters = synced.counters
    assert counters["api_requests"] == calls["total"]
    assert counters["token_requests"] > 0
    assert counters["total_requests"] == calls["total"] + counters["token_requests"]
    assert f"{counters['token_requests']} token requests" in " ".join(synced.summary.split())
    # Each partition's materialisation: its share of its org's calls, which add up to the
    # org's bar.
    for name, asset in PASS_ASSETS.items():
        records = synced.materializations(asset)
        by_org: dict[str, int] = {}
        for record in records:
            metadata = record.asset_materialization.metadata
            org = record.partition_key.split("-")[0]
            by_org[org] = by_org.get(org, 0) + metadata["api_calls"].value
            assert metadata["org_api_calls"].value == bars[f"{name} {org}"]
        assert by_org == {task.split()[1]: n for task, n in bars.items() if task.startswith(name)}
