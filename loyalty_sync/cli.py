"""`loyalty-sync`: the command line for data engineers.

Subcommands stay thin: each parses its options and calls the module that owns the work,
so the same code runs from Dagster, the CLI and the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from loyalty_sync.warehouse.database import DatabaseConfigError, describe_url, get_engine

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


@click.group()
@click.version_option(package_name="loyalty_sync")
def main() -> None:
    """Keep a Postgres copy of Capillary loyalty data fresh."""


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
    console.print(f"database: {describe_url(str(engine.url))}")
    console.print(f"current revision: {state.current or 'none (empty database)'}")
    console.print(f"head revision: {state.head}")
    if state.up_to_date:
        console.print("[green]up to date[/]")
    else:
        console.print(
            f"[yellow]pending: {', '.join(state.pending)}[/] (run `loyalty-sync db upgrade`)"
        )
        sys.exit(1)


@main.group()
def roster() -> None:
    """The customer roster a sync starts from."""


@roster.command("import")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def roster_import(file: Path) -> None:
    """Load customer identifiers from a CSV FILE.

    Columns: org_id,source,identifier_name,identifier_value and optionally account_id.
    Exit code 0 when every row loaded, 1 when some rows were rejected (they are listed and
    written to FILE.rejects.csv), 2 when the file cannot be read as a roster.
    """
    from loyalty_sync.warehouse import migrate
    from loyalty_sync.warehouse.roster import RosterFileError, import_roster

    engine = _engine()
    migrate.ensure_upgraded(engine)
    try:
        report = import_roster(engine, file)
    except RosterFileError as exc:
        errors.print(f"[red]error:[/] {exc}")
        sys.exit(2)
    console.print(
        f"read {report.read} row(s): loaded {report.loaded} ({report.new} new), "
        f"{report.duplicates} duplicate(s) in the file, {len(report.rejected)} rejected"
    )
    if report.rejected:
        table = Table("line", "reason", title="rejected rows")
        for item in report.rejected:
            table.add_row(str(item.line), item.reason)
        errors.print(table)
        errors.print(f"rejected rows written to {report.rejects_path}")
        sys.exit(1)


def _engine():  # type: ignore[no-untyped-def]
    try:
        return get_engine()
    except DatabaseConfigError as exc:
        errors.print(f"[red]error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
