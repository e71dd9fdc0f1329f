"""What every end-to-end benchmark needs: a real Postgres, a simulator, a measured process.

- One embedded PostgreSQL server under `benchmarks/.work/postgres` (the same wheel the
  product uses), with a fresh database per scenario so no figure depends on what an earlier
  scenario left behind.
- `measure_process` runs a command (`loyalty-sync sync`, or the dlt peer) as a child
  process, as a user would, and measures it from outside: wall time from start to exit,
  peak RSS of its whole process tree (sampled), and, from the simulator's own counters,
  when the first and the last API request arrived. The simulator is the truth for calls
  and 429s; nothing is taken from the program's own report.
- Row counts and tuples written come from the database (`count(*)` and the statistics
  collector), not from the writer's return values; `warehouse_content` is what two syncs'
  data tables are compared on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from benchmarks import simulated_clock
from capillary_simulator import RunningSimulator
from loyalty_sync.warehouse import migrate, tables
from loyalty_sync.warehouse.database import embedded_url, ensure_database
from loyalty_sync.warehouse.roster import import_roster

WORK_DIR = Path(__file__).resolve().parent / ".work"
RSS_SAMPLE_SECONDS = 0.1
COUNTER_SAMPLE_SECONDS = 0.25
# A request limit no benchmark reaches: what "no rate limit" means for the client, whose
# limit must be a positive number.
UNLIMITED_PER_MINUTE = 100_000_000
WAIT_POLL_SECONDS = 0.05

# The product's tables that are logs of a run rather than synced data (every sync appends
# to them by design), and the columns that say when or by which run a row was written.
LOG_TABLES = ("api_events", "sync_runs")
DATA_TABLES = tuple(t.name for t in tables.CONTRACT_TABLES if t.name not in LOG_TABLES)
RUN_COLUMNS = frozenset({"synced_at", "run_id", "raw", "valid_from"})
# Rows of each data table, as text, without RUN_COLUMNS; a multiset, so duplicates count.
WarehouseContent = dict[str, Counter[tuple[str, ...]]]
# Runs beside a measured process (given its handle) until it returns; see measure_process.
During = Callable[[subprocess.Popen[bytes]], None]


class BenchmarkError(RuntimeError):
    """A measured program failed; the message carries the tail of its output."""


def fresh_work_dir() -> Path:
    """`benchmarks/.work`, emptied except for the Postgres data directory (reused, faster)."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    for child in WORK_DIR.iterdir():
        if child.name == "postgres":
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    return WORK_DIR


class BenchDatabases:
    """The embedded server of the benchmarks, and a new empty database per scenario."""

    def __init__(self, work_dir: Path) -> None:
        self._admin_url = embedded_url(work_dir / "postgres", database="postgres")

    @property
    def server_url(self) -> str:
        return self._admin_url

    def fresh(self, name: str, *, migrated: bool = True) -> str:
        """Drop and recreate database `name`; return its SQLAlchemy URL."""
        admin = sa.create_engine(
            self._admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()
        ensure_database(self._admin_url, name)
        url = sa.engine.make_url(self._admin_url).set(database=name)
        rendered = url.render_as_string(hide_password=False)
        if migrated:
            engine = sa.create_engine(rendered, poolclass=sa.pool.NullPool)
            try:
                migrate.ensure_upgraded(engine)
            finally:
                engine.dispose()
        return rendered


def libpq_dsn(sqlalchemy_url: str) -> str:
    """The same database as a plain `postgresql://` DSN for clients outside SQLAlchemy.

    The embedded server listens on a Unix socket; libpq takes its directory from the
    `host` query parameter. A host and a password must still be present for clients that
    insist on them (dlt does): the server trusts local connections and ignores both.
    """
    url = sa.engine.make_url(sqlalchemy_url)
    socket_dir = url.query.get("host")
    port = url.query.get("port") or url.port or 5432
    user = url.username or "postgres"
    password = url.password or "unused"
    if socket_dir:
        return f"postgresql://{user}:{password}@localhost:{port}/{url.database}?host={socket_dir}"
    return f"postgresql://{user}:{password}@{url.host}:{port}/{url.database}"


def load_roster(url: str, simulator: RunningSimulator, path: Path) -> int:
    """Write the simulator's roster to `path` and import it into the warehouse at `url`."""
    path.write_text(simulator.roster_csv())
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return import_roster(engine, path).loaded
    finally:
        engine.dispose()


def sync_environment(
    simulator: RunningSimulator,
    database_url: str,
    *,
    rate_limit_per_minute: int,
    dagster_home: Path,
    home: Path,
) -> dict[str, str]:
    """The environment `loyalty-sync sync` reads, pointed at `simulator` and `database_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")}
    env.update(simulator.client_environment())
    env.update(
        CAPILLARY_RATE_LIMIT_PER_MINUTE=str(rate_limit_per_minute),
        LOYALTY_SYNC_DATABASE_URL=database_url,
        DAGSTER_HOME=str(dagster_home),
        LOYALTY_SYNC_HOME=str(home),
    )
    return env


def sync_command() -> list[str]:
    """`loyalty-sync sync` on the simulator's clock (`simulated_clock`): a simulated day is one."""
    return [*simulated_clock.command(), "sync", "--no-progress"]


def run_sync(
    work: Path,
    label: str,
    simulator: RunningSimulator,
    url: str,
    rate_limit_per_minute: int,
    *,
    instance: str | None = None,
    during: During | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> ProcessMeasure:
    """One measured `loyalty-sync sync` into `url`, its output in `work/<label>.log`.

    Each sync gets its own Dagster instance unless `instance` names one to share (a rerun
    after a kill runs where the killed sync ran, as a user would rerun it). `env` adds
    variables, `args` options of `loyalty-sync sync`.
    """
    environment = sync_environment(
        simulator,
        url,
        rate_limit_per_minute=rate_limit_per_minute,
        dagster_home=work / f"dagster-{instance or label}",
        home=work / "home",
    )
    environment.update(simulated_clock.offset_environment(simulator))
    environment.update(env or {})
    return measure_process(
        [*sync_command(), *args],
        environment,
        work / f"{label}.log",
        simulator,
        during=during,
        check=check,
    )


def wait_for_requests(
    simulator: RunningSimulator,
    fragment: str,
    count: int,
    process: subprocess.Popen[bytes],
) -> bool:
    """Wait until the simulator has counted `count` requests to routes containing
    `fragment`; False if `process` exited first."""
    while process.poll() is None:
        by_endpoint: Mapping[str, int] = simulator.counters()["requests_by_endpoint"]
        if sum(n for route, n in by_endpoint.items() if fragment in route) >= count:
            return True
        time.sleep(WAIT_POLL_SECONDS)
    return False


@dataclass
class ProcessMeasure:
    """What one measured child process did, seen from outside it."""

    command: list[str]
    wall_seconds: float
    peak_rss_bytes: int
    returncode: int
    output_path: Path
    counters: dict[str, Any] = field(default_factory=dict)
    first_request_seconds: float | None = None
    last_request_seconds: float | None = None

    @property
    def calls(self) -> int:
        return int(self.counters.get("total_requests", 0))

    @property
    def throttled(self) -> int:
        return int(self.counters.get("rate_limited", 0))

    @property
    def faults_served(self) -> int:
        """Answers the simulator broke on purpose (5xx, truncated bodies, hangs)."""
        return sum(int(n) for n in self.counters.get("faults", {}).values())

    @property
    def api_window_seconds(self) -> float | None:
        """From the first request's arrival to the last's, as sampled."""
        if self.first_request_seconds is None or self.last_request_seconds is None:
            return None
        return self.last_request_seconds - self.first_request_seconds

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_bytes / 2**20

    def busiest_minute(self) -> int:
        credentials = self.counters.get("credentials", {})
        return max((c.get("max_requests_in_60s", 0) for c in credentials.values()), default=0)

    def requests_to(self, fragment: str) -> int:
        by_endpoint: Mapping[str, int] = self.counters.get("requests_by_endpoint", {})
        return sum(n for route, n in by_endpoint.items() if fragment in route)


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in (process, *process.children(recursive=True)):
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def _output_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _run_beside(
    during: During, process: subprocess.Popen[bytes], failure: list[BaseException]
) -> None:
    try:
        during(process)
    except BaseException as exc:  # re-raised by measure_process, once the process is gone
        failure.append(exc)
        with contextlib.suppress(OSError):
            process.kill()


class _RequestWindow:
    """When the simulator first and last counted a request, sampled from a thread, in
    seconds since `started`."""

    def __init__(self, simulator: RunningSimulator, started: float) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(simulator, started), daemon=True)
        self._thread.start()

    def _watch(self, simulator: RunningSimulator, started: float) -> None:
        seen = 0
        while not self._stop.wait(COUNTER_SAMPLE_SECONDS):
            total = int(simulator.counters()["total_requests"])
            now = time.perf_counter() - started
            if total and self.first is None:
                self.first = now
            if total != seen:
                self.last = now
                seen = total

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _peak_rss_until_exit(process: subprocess.Popen[bytes]) -> int:
    peak = 0
    handle = psutil.Process(process.pid)
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, _tree_rss(handle))
        time.sleep(RSS_SAMPLE_SECONDS)
    return peak


def _start_beside(
    during: During | None, process: subprocess.Popen[bytes], failure: list[BaseException]
) -> threading.Thread | None:
    if during is None:
        return None
    breaker = threading.Thread(target=_run_beside, args=(during, process, failure), daemon=True)
    breaker.start()
    return breaker


def _checked(measure: ProcessMeasure) -> ProcessMeasure:
    if measure.returncode != 0:
        raise BenchmarkError(
            f"{' '.join(measure.command)} exited with {measure.returncode}; "
            f"last lines of {measure.output_path}:\n{_output_tail(measure.output_path)}"
        )
    return measure


@dataclass
class _SampledRun:
    returncode: int
    wall_seconds: float
    peak_rss_bytes: int
    window: _RequestWindow | None


def _run_sampled(
    command: list[str],
    env: Mapping[str, str],
    output_path: Path,
    simulator: RunningSimulator | None,
    during: During | None,
) -> _SampledRun:
    """`command` run to its end with its output in `output_path`, sampled meanwhile;
    what `during` raised is raised once the process is gone."""
    failure: list[BaseException] = []
    with output_path.open("wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=dict(env), stdout=output, stderr=subprocess.STDOUT, stdin=None
        )
        window = _RequestWindow(simulator, started) if simulator is not None else None
        breaker = _start_beside(during, process, failure)
        peak = _peak_rss_until_exit(process)
        wall = time.perf_counter() - started
        if window is not None:
            window.stop()
        if breaker is not None:
            breaker.join()
    if failure:
        raise failure[0]
    return _SampledRun(process.returncode, wall, peak, window)


def measure_process(
    command: list[str],
    env: Mapping[str, str],
    output_path: Path,
    simulator: RunningSimulator | None = None,
    *,
    during: During | None = None,
    check: bool = True,
) -> ProcessMeasure:
    """Run `command` to completion, sampling its tree's RSS and the simulator's counters.

    The simulator's counters and rate-limit window are reset first, so they hold this
    process's requests only.
    Admin requests (the sampling itself) are neither counted nor rate limited.
    `during`, if given, runs in a thread from the start with the process's handle, to
    break it from outside (kill it, take the API down for a while); it is waited for
    after the process exits, so it must return once the process is gone.
    """
    if simulator is not None:
        # A fresh budget too: the previous process's requests leave the server's window.
        simulator.reset_counters(limiter=True)
    run = _run_sampled(command, env, output_path, simulator, during)
    measure = ProcessMeasure(
        command=command,
        wall_seconds=run.wall_seconds,
        peak_rss_bytes=run.peak_rss_bytes,
        returncode=run.returncode,
        output_path=output_path,
        counters=simulator.counters() if simulator is not None else {},
        first_request_seconds=run.window.first if run.window else None,
        last_request_seconds=run.window.last if run.window else None,
    )
    return _checked(measure) if check else measure


def count_rows(url: str, tables: Iterable[str]) -> dict[str, int]:
    """`count(*)` of each `schema.table` (0 for a table that does not exist)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            for name in tables:
                schema, _, table = name.partition(".")
                qualified = f'"{schema}"."{table}"'
                exists = conn.scalar(
                    sa.text("SELECT to_regclass(:name) IS NOT NULL"), {"name": qualified}
                )
                counts[name] = (
                    int(conn.scalar(sa.text(f"SELECT count(*) FROM {qualified}")) or 0)
                    if exists
                    else 0
                )
    finally:
        engine.dispose()
    return counts


def tuples_written(url: str, schema: str) -> dict[str, int]:
    """Rows inserted + updated + deleted so far in each table of `schema`, per Postgres.

    The statistics collector counts what was really written, whatever the writer believes
    it did: an `INSERT ... ON CONFLICT DO UPDATE ... WHERE` whose condition is false
    counts nothing. Staging tables are temporary, in another schema, and not counted.
    """
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
            rows = conn.execute(
                sa.text(
                    "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del "
                    "FROM pg_stat_user_tables WHERE schemaname = :schema"
                ),
                {"schema": schema},
            )
            return {str(name): int(total) for name, total in rows}
    finally:
        engine.dispose()


def settled_tuples_written(url: str, schema: str, settle_seconds: float = 5.0) -> dict[str, int]:
    """`tuples_written` once it stops changing: backends of an exited process report their
    counts as they close, a moment after the process is gone."""
    deadline = time.monotonic() + settle_seconds
    previous = tuples_written(url, schema)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        current = tuples_written(url, schema)
        if current == previous:
            return current
        previous = current
    return previous


def warehouse_content(url: str) -> WarehouseContent:
    """Every data table's rows, without the columns that say when or by which run.

    Two syncs of the same data agree on this whatever happened to them on the way.
    """
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {
                table.name: Counter(
                    tuple(map(str, row))
                    for row in conn.execute(
                        sa.select(*(c for c in table.columns if c.name not in RUN_COLUMNS))
                    )
                )
                for table in tables.CONTRACT_TABLES
                if table.name in DATA_TABLES
            }
    finally:
        engine.dispose()


def content_differences(expected: WarehouseContent, actual: WarehouseContent) -> list[str]:
    """One phrase per table whose rows differ: `table (-missing +extra)`; empty if equal."""
    differences = []
    for name in DATA_TABLES:
        want, got = expected.get(name, Counter()), actual.get(name, Counter())
        if want != got:
            differences.append(f"{name} (-{(want - got).total()} +{(got - want).total()})")
    return differences
