"""How the command-line tests run `loyalty-sync`: a real process, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`loyalty-sync ARGS` in a process of its own, on `home`, with no Capillary settings
    or Dagster home but those in `env`; wide enough that no line wraps."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")}
    environment.pop("DAGSTER_HOME", None)
    environment.update(COLUMNS="300", LOYALTY_SYNC_HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-m", "loyalty_sync.cli", *args],
        env=environment,
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )


def read_all(master: int, into: list[bytes]) -> None:
    """Everything a pty's other end writes, until it closes."""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            return
        if not data:
            return
        into.append(data)
