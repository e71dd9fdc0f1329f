"""Holders of the embedded server whose process is gone are forgotten before joining it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loyalty_sync.warehouse import embedded_holders

# slow: starts and kills processes that hold the embedded server
pytestmark = pytest.mark.slow


def test_dead_holders_of_the_embedded_server_are_forgotten(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(gone.stdout)
    pgdata = tmp_path / "postgres"
    pgdata.mkdir()
    (pgdata / embedded_holders.HOLDERS_FILE).write_text(json.dumps([dead, 1]))
    assert embedded_holders.forget_dead(pgdata) == [dead]
    assert json.loads((pgdata / embedded_holders.HOLDERS_FILE).read_text()) == [1]
    assert f"pid {dead}" in embedded_holders.notes.pop()
