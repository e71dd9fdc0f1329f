"""`loyalty-sync instance check`: a production instance that cannot work says so before it starts.

The webserver and the daemon start happily on an instance whose storage URL names a
driver dagster-postgres cannot use: `dagster definitions validate` passes, the daemon's
liveness check says live, and then every event write fails and every launched run stays
NOT_STARTED. The deployment runs this check first (the compose file and the image do),
so a wrong URL, an unreachable database or a launcher run monitoring cannot use is one
line and exit 2, not a UI that fails an hour later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
import yaml

from loyalty_sync.deploy.launcher import MonitoredRunLauncher
from loyalty_sync.warehouse.database import describe_url

# dagster-postgres talks to Postgres through psycopg2 (and sends NOTIFY with a bound
# parameter, which psycopg 3's server-side binding rejects).
STORAGE_DRIVER = "psycopg2"
STORAGE_URL_FORM = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"


class PreflightError(RuntimeError):
    """The instance would not work; the text names what to fix."""


@dataclass
class Report:
    """What the check found, one line each, for the operator."""

    lines: list[str] = field(default_factory=list)


def storage_url(config: Mapping[str, Any]) -> tuple[str, str] | None:
    """(the URL, where it came from) of a Postgres storage in an instance config, if any."""
    postgres = (config.get("storage") or {}).get("postgres") or {}
    value = postgres.get("postgres_url")
    if value is None:
        return None
    if isinstance(value, Mapping) and "env" in value:
        name = str(value["env"])
        url = os.environ.get(name, "").strip()
        if not url:
            raise PreflightError(f"{name} is not set: the storage URL, {STORAGE_URL_FORM}")
        return url, name
    return str(value), "storage.postgres.postgres_url"


def check_storage_url(url: str, source: str) -> sa.engine.URL:
    """The parsed URL, if dagster-postgres can use it; otherwise a one-line error."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise PreflightError(
            f"{source} is not a database URL ({exc}): use {STORAGE_URL_FORM}"
        ) from None
    shown = describe_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise PreflightError(f"{source} ({shown}) is not a PostgreSQL URL: use {STORAGE_URL_FORM}")
    try:
        driver = parsed.get_dialect().driver
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        raise PreflightError(
            f"{source} ({shown}) names a driver that is not installed: {exc}"
        ) from None
    if driver != STORAGE_DRIVER:
        raise PreflightError(
            f"{source} ({shown}) selects the {driver} driver; Dagster's Postgres storage needs "
            f"{STORAGE_DRIVER}: use {STORAGE_URL_FORM} (or postgresql+psycopg2://...)"
        )
    return parsed


def _reach(url: sa.engine.URL, source: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        shown = url.render_as_string(hide_password=True)
        raise PreflightError(f"{source}: cannot connect to {shown}: {first}") from exc
    finally:
        engine.dispose()


def _home() -> Path:
    configured = os.environ.get("DAGSTER_HOME", "").strip()
    if not configured:
        raise PreflightError(
            "DAGSTER_HOME is not set: point it at the folder holding dagster.production.yaml "
            "as dagster.yaml"
        )
    home = Path(configured).expanduser()
    if not (home / "dagster.yaml").is_file():
        raise PreflightError(f"{home}/dagster.yaml does not exist: copy dagster.production.yaml")
    return home


def _instance_lines(instance: dg.DagsterInstance) -> list[str]:
    launcher = instance.run_launcher
    if not launcher.supports_check_run_worker_health:
        raise PreflightError(
            f"the run launcher {type(launcher).__name__} cannot tell run monitoring whether a "
            f"run's worker lives, so dead runs would hold their slots for ever: use "
            f"{MonitoredRunLauncher.__module__}.{MonitoredRunLauncher.__name__}"
        )
    if not instance.run_monitoring_enabled:
        raise PreflightError("run_monitoring is not enabled: dead runs would never end")
    return [
        f"run launcher: {type(launcher).__name__}",
        f"run monitoring: every {instance.run_monitoring_poll_interval_seconds}s, start timeout "
        f"{instance.run_monitoring_start_timeout_seconds}s, cancel timeout "
        f"{instance.run_monitoring_cancel_timeout_seconds}s",
        f"run coordinator: {type(instance.run_coordinator).__name__}",
    ]


def check() -> Report:
    """Check DAGSTER_HOME's instance as the webserver and the daemon would open it."""
    home = _home()
    config = yaml.safe_load((home / "dagster.yaml").read_text()) or {}
    report = Report([f"instance: {home / 'dagster.yaml'}"])
    found = storage_url(config)
    if found is not None:
        url = check_storage_url(*found)
        _reach(url, found[1])
        report.lines.append(f"storage: {url.render_as_string(hide_password=True)} (psycopg2)")
    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)  # the storage's schema is there and readable
        report.lines.extend(_instance_lines(instance))
    return report
