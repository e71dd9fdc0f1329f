"""`loyalty-sync`: the command line for data engineers.

Subcommands stay thin: each parses its options and calls the module that owns the work,
so the same code runs from Dagster, the CLI and the tests.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click
from rich.table import Table

from loyalty_sync.cli.errors import ReportingGroup, errors
from loyalty_sync.cli.terminal import console as make_console
from loyalty_sync.cli.terminal import terminal_text
from loyalty_sync.warehouse.database import describe_url, get_engine, libpq_url

# Dagster marks some parameters we use (backfill_policy on @asset, pools) as beta; the
# warnings say nothing a user of this command can act on.
warnings.filterwarnings("ignore", module="dagster")
warnings.filterwarnings("ignore", message=".*is currently in beta.*")
warnings.filterwarnings("ignore", message=".*is currently in preview.*")

console = make_console()


@click.group(cls=ReportingGroup)
@click.version_option(package_name="loyalty_sync")
@click.option(
    "--debug", is_flag=True, help="On a configuration or connection error, show the traceback."
)
def main(debug: bool) -> None:
    """Keep a Postgres copy of Capillary loyalty data fresh.

    Exit codes: 0 success, 1 a run or a row failed, 2 a configuration, connection or usage
    error (one line naming what to fix).
    """


@main.group()
def db() -> None:
    """Warehouse schema: migrations and status."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from loyalty_sync.warehouse import migrate

    engine = _engine()
    migrate.upgrade(engine)
    state = migrate.status(engine)
    console.print(
        f"[green]warehouse at revision {state.current}[/] ({describe_url(str(engine.url))})"
    )


@db.command("status")
def db_status() -> None:
    """Say where the database stands: URL, current revision, pending migrations."""
    from loyalty_sync.warehouse import migrate

    engine = _engine()
    state = migrate.status(engine)
    url = libpq_url(engine.url.render_as_string(hide_password=False), hide_password=True)
    console.print(f"database: {url}", highlight=False)
    console.print(f"current revision: {state.current or 'none (empty database)'}")
    console.print(f"head revision: {state.head}")
    if state.up_to_date:
        console.print("[green]up to date[/]")
    else:
        console.print(
            f"[yellow]pending: {', '.join(state.pending)}[/] (run `loyalty-sync db upgrade`)"
        )
        sys.exit(1)


EMBEDDED_NOTE = (
    "note: the embedded server runs only while a loyalty-sync process holds it; "
    "`loyalty-sync db url --hold` keeps it up until Ctrl-C, `loyalty-sync db shell` while "
    "psql runs"
)


def _warehouse_url() -> tuple[str, bool]:
    """The warehouse's libpq URL (password included), and whether it is the embedded server
    (started now if it was not running)."""
    import os

    from loyalty_sync.warehouse.database import DATABASE_URL_ENV, database_url

    embedded = not os.environ.get(DATABASE_URL_ENV, "").strip()
    return libpq_url(database_url()), embedded


@db.command("url")
@click.option(
    "--hold",
    is_flag=True,
    help="Keep the embedded server up until Ctrl-C, for a client of your own.",
)
def db_url(hold: bool) -> None:
    """Print the warehouse's URL for psql and other libpq clients (postgresql://...).

    The URL includes the password of LOYALTY_SYNC_DATABASE_URL when it has one. The
    embedded server is started if needed; it stops when no loyalty-sync process holds it,
    so use --hold (or `loyalty-sync db shell`) to keep it up while a client is connected.
    """
    import time

    url, embedded = _warehouse_url()
    click.echo(url)
    if not embedded:
        return
    if not hold:
        errors.print(EMBEDDED_NOTE, highlight=False, markup=False)
        return
    errors.print("holding the embedded server; Ctrl-C to let it go", highlight=False)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return


@db.command(
    "shell",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def db_shell(psql_args: tuple[str, ...]) -> None:
    """Open psql on the warehouse (search_path capillary), starting the embedded server if
    needed and keeping it up while psql runs. Extra arguments go to psql, e.g.
    `loyalty-sync db shell -c 'select count(*) from customers'`."""
    import os
    import shutil
    import subprocess

    from loyalty_sync.cli.errors import fail

    psql = shutil.which("psql")
    if psql is None:
        fail(
            "psql is not installed: install the PostgreSQL client (e.g. `apt-get install "
            "postgresql-client`), or give `loyalty-sync db url` to another client"
        )
        return
    url, _ = _warehouse_url()
    env = {**os.environ, "PGOPTIONS": "-c search_path=capillary,public"}
    sys.exit(subprocess.call([psql, url, *psql_args], env=env))


@main.group()
def roster() -> None:
    """The customer roster a sync starts from."""


@roster.command("import")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def roster_import(file: Path) -> None:
    """Load customer identifiers from a CSV FILE.

    Columns: org_id,source,identifier_name,identifier_value and optionally account_id.
    Exit code 0 when every row loaded, 1 when some rows were rejected (they are listed and
    written to FILE.rejects.csv), 2 when the file cannot be read as a roster. With
    CAPILLARY_ORG_IDS set, rows for any other org are rejected.
    """
    import os

    from loyalty_sync.capillary.config import ENV_ORG_IDS, CapillaryConfigError, parse_org_ids
    from loyalty_sync.warehouse import migrate
    from loyalty_sync.warehouse.roster import RosterFileError, import_roster

    # Rows for orgs that are not configured would never sync: reject them by name.
    try:
        org_ids = parse_org_ids(os.environ.get(ENV_ORG_IDS)) or None
    except CapillaryConfigError as exc:
        errors.print(f"[red]error:[/] {terminal_text(str(exc))}")
        sys.exit(2)
    engine = _engine()
    migrate.ensure_upgraded(engine)
    try:
        report = import_roster(engine, file, org_ids)
    except RosterFileError as exc:
        # Messages and reasons quote the file's own text: print it as text, not markup.
        errors.print(f"[red]error:[/] {terminal_text(str(exc))}")
        sys.exit(2)
    console.print(
        f"read {report.read} row(s): loaded {report.loaded} ({report.new} new), "
        f"{report.duplicates} duplicate(s) in the file, {len(report.rejected)} rejected"
    )
    if report.rejected:
        table = Table("line", "reason", title="rejected rows")
        for item in report.rejected:
            table.add_row(str(item.line), terminal_text(item.reason))
        errors.print(table)
        errors.print(f"rejected rows written to {terminal_text(str(report.rejects_path))}")
        sys.exit(1)


@main.command("sync")
@click.option(
    "--partition",
    "partitions",
    multiple=True,
    metavar="KEY",
    help="Sync only this org/program partition (ORG-PROGRAM, e.g. 51135-2568); repeatable.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress display.")
@click.option(
    "--full",
    is_flag=True,
    help="Ignore change signals and fetch every customer and pair (a daily sync fetches "
    "only what may have changed).",
)
@click.pass_context
def sync(ctx: click.Context, partitions: tuple[str, ...], no_progress: bool, full: bool) -> None:
    """Discover orgs/programs, then materialise every asset once, in process.

    Every asset of the group is synced: the tables of one API pass (e.g. the four benefit
    tables) come from one pass over the API and always materialise together. Customers are
    always looked up; promotionData and actionSummary are fetched for what may have
    changed, every item at least once per max age (LOYALTY_SYNC_MAX_AGE_DAYS, 7).
    """
    from loyalty_sync.cli.summary import print_summary
    from loyalty_sync.cli.sync_runner import run_sync
    from loyalty_sync.waiting import Stopped, WaitInterrupted, stopped_by_signals

    debug = bool(ctx.parent and ctx.parent.params.get("debug"))
    try:
        with stopped_by_signals():
            summary = run_sync(
                list(partitions) or None, show_progress=not no_progress, debug=debug, full=full
            )
    except WaitInterrupted as exc:
        errors.print(f"{exc}; nothing was synced by this run")
        sys.exit(130)
    except KeyboardInterrupt as exc:
        what = str(exc) if isinstance(exc, Stopped) else "stopped by SIGINT"
        errors.print(
            f"{what}; the chunks already committed are kept and the next sync resumes from them"
        )
        sys.exit(130)
    print_summary(console, summary)
    sys.exit(0 if summary.success else 1)


def _register_commands() -> None:
    from loyalty_sync.cli.instance import instance
    from loyalty_sync.cli.operate import env, partitions, source, ui
    from loyalty_sync.cli.plan import plan
    from loyalty_sync.cli.simulator import simulator

    for command in (simulator, source, partitions, ui, env, instance, plan):
        main.add_command(command)


_register_commands()


def _engine():  # type: ignore[no-untyped-def]
    return get_engine()
