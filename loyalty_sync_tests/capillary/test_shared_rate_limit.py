"""Three processes share one API key's limit through Postgres, as concurrent runs do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capillary_simulator import DEMO_USERNAME
from loyalty_sync_tests.capillary.conftest import HOME_ORG
from loyalty_sync_tests.factories import preset, serve_simulator

# slow: three processes wait on one API key's rate limit
pytestmark = pytest.mark.slow

LIMIT_PER_MINUTE = 600
SECONDS = 30.0
PROCESSES = 3
REPO = Path(__file__).resolve().parents[2]


def test_three_processes_hold_one_limit_together(database_url: str) -> None:
    # The server enforces the same limit, so any overshoot would also show up as 429s.
    config = preset("shared_limit", rate_limit_per_minute=LIMIT_PER_MINUTE)
    with serve_simulator(config) as sim:
        command = [
            sys.executable,
            "-m",
            "loyalty_sync_tests.capillary.rate_limit_worker",
            "--base-url",
            sim.base_url,
            "--database-url",
            database_url,
            "--org-id",
            str(HOME_ORG),
            "--limit",
            str(LIMIT_PER_MINUTE),
            "--seconds",
            str(SECONDS),
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        workers = [
            subprocess.Popen(
                command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for _ in range(PROCESSES)
        ]
        try:
            for worker in workers:
                assert worker.stdout is not None
                assert worker.stdout.readline().strip() == "ready"
            start = f"{time.time() + 0.5}\n"
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write(start)
                worker.stdin.flush()
            reports = []
            for worker in workers:
                out, _ = worker.communicate(timeout=SECONDS + 60)
                assert worker.returncode == 0
                reports.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
        counters = sim.counters()

    mine = counters["credentials"][DEMO_USERNAME]
    sent = sum(r["requests"] for r in reports)
    assert mine["requests"] == sent
    assert all(r["requests"] > 0 for r in reports)  # every process got its share
    assert mine["max_requests_in_60s"] <= LIMIT_PER_MINUTE
    assert counters["rate_limited"] == 0
    in_window = sum(r["answered_in_window"] for r in reports)
    budget = LIMIT_PER_MINUTE * SECONDS / 60
    print(
        f"{PROCESSES} processes: {[r['answered_in_window'] for r in reports]} answered in "
        f"{SECONDS:.0f} s ({in_window / budget:.1%} of the limit), {sent} sent in all; "
        f"busiest 60 s at the server: {mine['max_requests_in_60s']}"
    )
    floor = budget * 0.85
    assert in_window >= floor, f"{in_window} answered in {SECONDS:.0f} s; expected {floor:.0f}+"
    # Whatever was still waiting for a slot at the deadline went out at the same pace.
    assert sent <= budget + 3 * 8 + PROCESSES
