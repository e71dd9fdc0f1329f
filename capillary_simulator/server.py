"""Starting and stopping simulators: in a child process, in a thread, or shared.

`start_simulator` runs the server in a child process by default so that a benchmark
measures the server rather than GIL contention with its own client. The parent binds the
listening socket (a free port, or the configured one) and hands it to the child, so the
port is known before the child starts and no other process can take it in between. The
child exits when its parent does.

`ensure_shared_simulator` serves the demo: every process that needs the default
simulator (CLI, Dagster webserver, daemon, run workers) finds the same one through
`home/simulator.json`, written under an inter-process file lock; the first caller starts
it detached so that it outlives the process that started it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from capillary_simulator.config import SimulatorConfig
from capillary_simulator.data import SimulatorDataset

SHARED_STATE_FILE = "simulator.json"
SHARED_LOCK_FILE = "simulator.lock"
SHARED_LOG_FILE = "simulator.log"
# Every process using the shared simulator holds a shared lock on this file for its life;
# the kernel drops it when the process ends, however it ends.
SHARED_USERS_FILE = "simulator.users"
STARTUP_TIMEOUT_SECONDS = 30.0


class SimulatorStartError(RuntimeError):
    """The simulator did not come up."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0: a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def uvicorn_server(config: SimulatorConfig, *, app: Any | None = None) -> uvicorn.Server:
    """A uvicorn server tuned for throughput: httptools, no access log, quick shutdown."""
    from capillary_simulator.app import create_app

    settings = uvicorn.Config(
        app if app is not None else create_app(config),
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
        server_header=False,
        date_header=False,  # the app sends the simulated clock's Date instead
    )
    return uvicorn.Server(settings)


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def _wait_until_ready(
    base_url: str, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise SimulatorStartError(
                    f"simulator process exited with code {process.returncode} before answering"
                )
            try:
                response = client.get(f"{base_url}/_admin/health")
                if response.status_code == 200:
                    return response.json()
            except httpx.HTTPError as exc:
                last_error = exc
            time.sleep(0.02)
    raise SimulatorStartError(
        f"simulator at {base_url} did not answer in {timeout:.0f}s: {last_error}"
    )


def _spawn(
    config: SimulatorConfig,
    sock: socket.socket,
    *,
    parent_pid: int | None,
    output: Any = None,
    detached: bool = False,
) -> subprocess.Popen[bytes]:
    """Run the simulator command on `sock` in a child process.

    The config goes through the child's stdin, not its command line, so credentials
    never show in process listings.
    """
    command = [
        sys.executable,
        "-m",
        "capillary_simulator",
        "--listen-fd",
        str(sock.fileno()),
        "--config-json",
        "-",
        "--quiet",
    ]
    if parent_pid is not None:
        command += ["--parent-pid", str(parent_pid)]
    process = subprocess.Popen(
        command,
        pass_fds=(sock.fileno(),),
        stdin=subprocess.PIPE,
        stdout=output,
        stderr=output,
        start_new_session=detached,
    )
    assert process.stdin is not None
    process.stdin.write(config.to_json().encode())
    process.stdin.close()
    return process


class RunningSimulator:
    """A simulator that answers at `base_url`, with admin helpers over HTTP."""

    def __init__(
        self,
        base_url: str,
        config: SimulatorConfig,
        *,
        process: subprocess.Popen[bytes] | None = None,
        server: uvicorn.Server | None = None,
        thread: threading.Thread | None = None,
        dataset: SimulatorDataset | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.base_url = base_url
        self.config = config
        self._process = process
        self._server = server
        self._thread = thread
        self._dataset = dataset
        self._http = httpx.Client(base_url=base_url, timeout=30.0)
        # Runs on stop(), on garbage collection and at interpreter exit, whichever is first.
        self._finalizer = weakref.finalize(self, _stop, process, server, thread, sock, self._http)

    @property
    def pid(self) -> int:
        return self._process.pid if self._process else os.getpid()

    @property
    def dataset(self) -> SimulatorDataset:
        """The served data set. In thread mode it is the server's own object (admin changes
        show); in process mode it is an identical copy derived from the same config, which
        does not see admin changes made over HTTP."""
        if self._dataset is None:
            self._dataset = SimulatorDataset(self.config)
        return self._dataset

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self.config.basic_authorization()}

    def client_environment(self) -> dict[str, str]:
        """The CAPILLARY_* variables that point a sync at this simulator's every org."""
        return self.config.client_environment(self.base_url, self.dataset.org_ids)

    def _admin(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, f"/_admin/{path}", json=payload)
        if response.status_code >= 400:
            raise ValueError(f"{method} /_admin/{path}: {response.text}")
        return response.json()

    def counters(self) -> dict[str, Any]:
        return self._admin("GET", "counters")

    def reset_counters(self, *, limiter: bool = False) -> None:
        self._admin("POST", "counters/reset", {"limiter": limiter})

    def admin_config(self) -> dict[str, Any]:
        return self._admin("GET", "config")

    def add_program(self, org_id: int, name: str | None = None) -> dict[str, Any]:
        """Add a loyalty program (no promotions, no members) to an org; its listing entry."""
        return self._admin("POST", "programs", {"org_id": org_id, "name": name})

    def add_promotion(self, org_id: int, program_id: int, **fields: Any) -> dict[str, Any]:
        """Add a promotion; fields: name, description, points_offer_type, start_date,
        end_date, holders_share, no_benefit_share."""
        return self._admin(
            "POST", "promotions", {"org_id": org_id, "program_id": program_id, **fields}
        )

    def set_tier(
        self,
        org_id: int,
        customer_id: int,
        program_id: int,
        slab_sno: int,
        *,
        slab_name: str | None = None,
        slab_expiry_date: str | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "org_id": org_id,
            "customer_id": customer_id,
            "program_id": program_id,
            "slab_sno": slab_sno,
        }
        if slab_name:
            payload["slab_name"] = slab_name
        if slab_expiry_date:
            payload["slab_expiry_date"] = slab_expiry_date
        return self._admin("POST", "tier", payload)

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Change latency_ms, jitter_ms, error_rate, hang_rate, hang_seconds,
        malformed_rate, rate_limit_per_minute or token_ttl_seconds while running."""
        return self._admin("POST", "faults", settings)

    def advance(
        self,
        days: int,
        churn: float | None = None,
        new_promotions: int = 0,
        new_promotion_holders: float | None = None,
    ) -> dict[str, Any]:
        """Simulate `days` days of churn (`POST /_admin/advance`); what changed.

        In process mode `dataset` is a copy that does not see the changes; a copy advanced
        the same way does (the churn is deterministic)."""
        payload: dict[str, Any] = {"days": days, "new_promotions": new_promotions}
        if churn is not None:
            payload["churn"] = churn
        if new_promotion_holders is not None:
            payload["new_promotion_holders"] = new_promotion_holders
        return self._admin("POST", "advance", payload)

    def changes(self) -> list[dict[str, Any]]:
        """Every advance so far (`GET /_admin/changes`)."""
        return self._admin("GET", "changes")

    def roster_csv(self) -> str:
        return self._http.get("/_admin/roster.csv").text

    def stop(self) -> None:
        self._finalizer()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stop(
    process: subprocess.Popen[bytes] | None,
    server: uvicorn.Server | None,
    thread: threading.Thread | None,
    sock: socket.socket | None,
    http: httpx.Client,
) -> None:
    http.close()
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    if server is not None:
        server.should_exit = True
    if thread is not None:
        thread.join(timeout=10)
    if sock is not None:  # the thread's server listened on it until now
        sock.close()


def start_simulator(
    config: SimulatorConfig | None = None,
    *,
    in_thread: bool = False,
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> RunningSimulator:
    """Serve `config` on `config.host:config.port` (0: a free port) until `stop()`.

    By default the server runs in a child process that dies with this one; `in_thread`
    runs it in a daemon thread of this process instead (its `dataset` is then live).
    """
    config = config or SimulatorConfig()
    sock = bind_socket(config.host, config.port)
    base_url = _base_url(sock)
    if in_thread:
        running = _start_in_thread(config, sock, base_url)
        process = None
    else:
        try:
            process = _spawn(config, sock, parent_pid=os.getpid())
        finally:
            sock.close()
        running = RunningSimulator(base_url, config, process=process)
    try:
        _wait_until_ready(base_url, startup_timeout, process)
    except BaseException:
        running.stop()
        raise
    return running


def _start_in_thread(
    config: SimulatorConfig, sock: socket.socket, base_url: str
) -> RunningSimulator:
    """A server in a daemon thread of this process, its dataset live for the caller."""
    from capillary_simulator.app import create_app

    dataset = SimulatorDataset(config)
    server = uvicorn_server(config, app=create_app(config, dataset))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="capillary-simulator", daemon=True
    )
    thread.start()
    return RunningSimulator(
        base_url, config, server=server, thread=thread, dataset=dataset, sock=sock
    )


def watch_parent(parent_pid: int) -> None:
    """Exit this process as soon as `parent_pid` is no longer its parent."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.25)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(3)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


# ----------------------------------------------------------------------- shared simulator
@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


_leases: dict[Path, Any] = {}


def _lease(home: Path) -> Any:
    """This process's shared lock on `home`'s users file, taken once and held until exit."""
    handle = _leases.get(home)
    if handle is None:
        handle = (home / SHARED_USERS_FILE).open("a")
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        _leases[home] = handle
    return handle


def _alive(state: dict[str, Any]) -> bool:
    pid = state.get("pid")
    base_url = state.get("base_url")
    if not isinstance(pid, int) or not isinstance(base_url, str):
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        health = httpx.get(f"{base_url}/_admin/health", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return False
    return health.get("pid") == pid


def read_shared_state(home: Path) -> dict[str, Any] | None:
    try:
        return json.loads((home / SHARED_STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def running_shared_simulator(home: Path) -> dict[str, Any] | None:
    """The state (base URL, pid) of the shared simulator of `home` if it runs, else None."""
    state = read_shared_state(home)
    return state if state and _alive(state) else None


def ensure_shared_simulator(home: Path, config: SimulatorConfig | None = None) -> str:
    """Base URL of the simulator shared by every process using `home`; start it if needed.

    A running shared simulator is reused whatever config it was started with; `config`
    (default: the small demo set, dated today so that tier expiry dates in the demo sit
    where a real tenant's would) only applies when one has to be started.
    """
    home.mkdir(parents=True, exist_ok=True)
    _lease(home)  # before the state is read: a stop in between sees this process as a user
    with _file_lock(home / SHARED_LOCK_FILE):
        state = read_shared_state(home)
        if state and _alive(state):
            return str(state["base_url"])
        config = config or SimulatorConfig(reference_date=date.today())
        sock = bind_socket(config.host, config.port)
        base_url = _base_url(sock)
        log = (home / SHARED_LOG_FILE).open("ab")
        try:
            process = _spawn(config, sock, parent_pid=None, output=log, detached=True)
        finally:
            sock.close()
            log.close()
        _wait_until_ready(base_url, STARTUP_TIMEOUT_SECONDS, process)
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        state = {
            "base_url": base_url,
            "host": host,
            "port": int(port),
            "pid": process.pid,
            # The process that started it: only that one may call it its own.
            "started_by": os.getpid(),
            "config": config.to_dict(),
        }
        tmp = home / f"{SHARED_STATE_FILE}.tmp"
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(home / SHARED_STATE_FILE)
        return base_url


def stop_shared_simulator(home: Path) -> bool:
    """Stop the shared simulator of `home` if one runs; True when one was stopped."""
    with _file_lock(home / SHARED_LOCK_FILE):
        return _stop_locked(home)


def stop_unused_shared_simulator(home: Path) -> bool:
    """Stop the shared simulator of `home` if this process started it and uses it alone.

    For a caller that started one and then found it had no use for it: a simulator another
    process started, or one another process holds (it took it while this one was
    starting it), keeps running. True when one was stopped.
    """
    with _file_lock(home / SHARED_LOCK_FILE):
        state = read_shared_state(home)
        if not state or state.get("started_by") != os.getpid():
            return False
        lease = _lease(home)
        try:
            fcntl.flock(lease.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another process holds it
        try:
            return _stop_locked(home)
        finally:
            fcntl.flock(lease.fileno(), fcntl.LOCK_SH)


def _stop_locked(home: Path) -> bool:
    """Stop the simulator `home`'s state names; the caller holds the state lock."""
    state = read_shared_state(home)
    (home / SHARED_STATE_FILE).unlink(missing_ok=True)
    if not state or not _alive(state):
        return False
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when this process started it
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    return True
