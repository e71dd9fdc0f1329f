"""The production topology, started as a deployment starts it, for end-to-end tests.

A TCP PostgreSQL server with two databases (Dagster's storage, the warehouse), a
`DAGSTER_HOME` holding `dagster.production.yaml` as `dagster.yaml` with the storage URL
in the documented `postgresql://` form, and three processes as separate as in the
compose file: `dagster code-server start` (the definitions over gRPC), `dagster-webserver`
and `dagster-daemon run` on a `grpc_server` workspace. Tests drive it only through
GraphQL, as the UI does, and read the warehouse and the storage directly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa
import yaml

from capillary_simulator import RunningSimulator
from loyalty_sync.warehouse import migrate
from loyalty_sync.warehouse.roster import import_roster

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCATION = "loyalty_sync"
REPOSITORY = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 0.5) -> T:
    """Poll `probe` until it returns something; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def production_instance_yaml(poll_interval_seconds: int | None) -> str:
    """The repo's production instance file, with a shorter monitoring poll if asked."""
    config = yaml.safe_load((REPO / "dagster.production.yaml").read_text())
    if poll_interval_seconds is not None:
        config["run_monitoring"]["poll_interval_seconds"] = poll_interval_seconds
    return yaml.safe_dump(config)


@dataclass
class Topology:
    root: Path
    env: dict[str, str]
    storage_url: str
    warehouse: sa.Engine
    webserver_port: int
    code_server_port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    # --- processes ----------------------------------------------------------------------

    def _start(self, name: str, command: list[str]) -> None:
        log = (self.root / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            command,
            cwd=self.root,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its runs die with it
        )

    def start_code_server(self) -> None:
        self._start(
            "code-server",
            [
                str(BIN / "dagster"),
                "code-server",
                "start",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.code_server_port),
                "-m",
                "loyalty_sync.definitions",
                "--location-name",
                LOCATION,
            ],
        )

    def kill_code_server(self) -> None:
        """SIGKILL the code server and every process it started (run workers, steps)."""
        process = self.processes.pop("code-server")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def start_services(self) -> None:
        workspace = str(self.root / "workspace.yaml")
        self._start(
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.webserver_port),
                "-w",
                workspace,
            ],
        )
        self._start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace])

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()
        self._http.close()

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name} (tail)\n" + path.read_text(errors="replace")[-4000:]
            for path in sorted(self.root.glob("*.log"))
        )

    # --- GraphQL ------------------------------------------------------------------------

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self._http.post(
            f"http://127.0.0.1:{self.webserver_port}/graphql",
            json={"query": query, "variables": variables},
        )
        assert response.status_code == 200, f"{response.status_code}: {response.text[:2000]}"
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def location_loaded(self) -> bool:
        try:
            data = self.graphql(
                "{ workspaceOrError { ... on Workspace { locationEntries {"
                " name locationOrLoadError { __typename } } } } }"
            )
        except (httpx.HTTPError, AssertionError):
            return False
        entries = data["workspaceOrError"].get("locationEntries", [])
        return any(
            e["name"] == LOCATION
            and (e["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"
            for e in entries
        )

    def daemons_healthy(self) -> bool:
        data = self.graphql(
            "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"
        )
        statuses = data["instance"]["daemonHealth"]["allDaemonStatuses"]
        return all(s["healthy"] for s in statuses if s["required"])

    def runs(self, **filter_: Any) -> list[dict[str, Any]]:
        data = self.graphql(
            """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) {
                ... on Runs { results { runId status tags { key value } } } } }""",
            filter=filter_,
        )
        return data["runsOrError"]["results"]

    def wait_runs_finished(self, run_ids: list[str], timeout: float) -> dict[str, str]:
        def finished() -> dict[str, str] | None:
            statuses = {r["runId"]: r["status"] for r in self.runs(runIds=run_ids)}
            done = len(statuses) == len(run_ids) and set(statuses.values()) <= FINISHED
            return statuses if done else None

        return wait_for(f"runs {run_ids} to finish", finished, timeout, every=1.0)


def _write_home(root: Path, env: dict[str, str], poll_interval: int | None) -> Path:
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(production_instance_yaml(poll_interval))
    return home


def _workspace(root: Path, port: int) -> None:
    workspace = {
        "load_from": [
            {"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": LOCATION}}
        ]
    }
    (root / "workspace.yaml").write_text(yaml.safe_dump(workspace))


@contextmanager
def production_topology(
    root: Path,
    storage_url: str,
    warehouse_url: str,
    sim: RunningSimulator,
    *,
    poll_interval: int | None = None,
) -> Iterator[Topology]:
    """Start the three services on `storage_url`; the warehouse migrated, its roster loaded."""
    warehouse = sa.create_engine(warehouse_url, poolclass=sa.pool.NullPool)
    migrate.upgrade(warehouse)
    roster = root / "roster.csv"
    roster.write_text(sim.roster_csv())
    import_roster(warehouse, roster)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CAPILLARY_", "DAGSTER_"))},
        **sim.client_environment(),
        "CAPILLARY_RATE_LIMIT_PER_MINUTE": "600000",
        "LOYALTY_SYNC_DATABASE_URL": warehouse_url,
        "LOYALTY_SYNC_HOME": str(root / "loyalty_home"),
        "DAGSTER_PG_URL": storage_url,
    }
    env["DAGSTER_HOME"] = str(_write_home(root, env, poll_interval))
    topology = Topology(root, env, storage_url, warehouse, free_port(), free_port())
    _workspace(root, topology.code_server_port)
    with ExitStack() as stack:
        stack.callback(warehouse.dispose)
        stack.callback(topology.stop)
        topology.start_code_server()
        topology.start_services()
        try:
            wait_for("the code location to load", topology.location_loaded, 120)
            wait_for("the daemons to report healthy", topology.daemons_healthy, 120)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{topology.logs()}") from None
        yield topology
