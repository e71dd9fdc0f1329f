"""Day-to-day commands: the warehouse's source, the partitions, the Dagster UI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from rich.table import Table

from loyalty_sync.cli.errors import fail
from loyalty_sync.cli.terminal import console as make_console
from loyalty_sync.cli.terminal import terminal_text

console = make_console()
REPO_WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


def _resources():  # type: ignore[no-untyped-def]
    from loyalty_sync.defs.resources import resources_from_env

    resources = resources_from_env()
    return resources["capillary"], resources["warehouse"]


@click.group()
def source() -> None:
    """Where the warehouse's data comes from (API host and orgs)."""


@source.command("show")
def source_show() -> None:
    """Print the source the warehouse holds data from, and the one configured now."""
    from loyalty_sync.warehouse.source import recorded_source

    capillary, warehouse = _resources()
    with warehouse.get_engine().connect() as conn:
        held = recorded_source(conn)
    console.print(
        f"warehouse holds: {terminal_text(held.describe()) if held else 'nothing recorded yet'}"
    )
    console.print(f"configured now:  {terminal_text(capillary.source().describe())}")


@source.command("adopt")
def source_adopt() -> None:
    """Make the configured source the warehouse's, e.g. after a move to another cluster host.

    Later syncs read it; rows of orgs and programs it does not serve stay until their
    partitions are synced or removed.
    """
    from loyalty_sync.warehouse.source import adopt_source

    capillary, warehouse = _resources()
    new = capillary.source()
    previous = adopt_source(warehouse.get_engine(), new)
    was = f" (was {previous.describe()})" if previous else ""
    console.print(
        f"the warehouse now syncs from {terminal_text(new.describe())}{terminal_text(was)}"
    )


@click.group(invoke_without_command=True)
@click.pass_context
def partitions(ctx: click.Context) -> None:
    """List the org/program partitions: known (listed by Capillary), retired, invalid."""
    if ctx.invoked_subcommand is None:
        _list_partitions()


def _list_partitions() -> None:
    import dagster as dg

    from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
    from loyalty_sync.instance import ensure_dagster_home
    from loyalty_sync.sync.discovery import discover_programs
    from loyalty_sync.warehouse.scope import split_partition_keys

    ensure_dagster_home()
    capillary, warehouse = _resources()
    instance = dg.DagsterInstance.get()
    keys = list(instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
    orgs = capillary.org_id_list()
    listed = {p.key for p in discover_programs(capillary.get_client(), orgs)}
    latest = _last_synced(warehouse.get_engine())
    valid, invalid = split_partition_keys(keys)
    table = Table("partition", "state", "last successful sync", title="partitions")
    for key in valid:
        synced = latest.get(key)
        table.add_row(
            terminal_text(key),
            _state(key, listed, orgs),
            synced.isoformat(timespec="seconds") if synced else "never",
        )
    for key in invalid:
        table.add_row(terminal_text(key), "[red]invalid[/] (not ORG-PROGRAM)", "")
    console.print(table)
    new = sorted(listed - set(keys))
    if new:
        console.print(f"listed by Capillary, not yet partitions: {terminal_text(', '.join(new))}")
    if invalid:
        console.print(
            "remove an invalid key with `loyalty-sync partitions remove "
            f"{terminal_text(invalid[0])}`"
        )


def _last_synced(engine: sa.Engine) -> dict[str, Any]:
    """Each partition's last successful sync, when it finished."""
    from loyalty_sync.warehouse import tables

    t = tables.sync_runs
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(t.c.partition_key, sa.func.max(t.c.finished_at))
                .where(t.c.status == "success")
                .group_by(t.c.partition_key)
            ).all()
        )


def _state(key: str, listed: set[str], orgs: list[int]) -> str:
    """Known (Capillary lists it), or retired, and why."""
    from loyalty_sync.warehouse.scope import parse_partition_key

    if key in listed:
        return "[green]known[/]"
    if parse_partition_key(key)[0] in orgs:
        return "[yellow]retired[/] (Capillary no longer lists the program)"
    return "[yellow]retired[/] (org not in CAPILLARY_ORG_IDS)"


@partitions.command("remove")
@click.argument("key")
def partitions_remove(key: str) -> None:
    """Remove partition KEY from the Dagster instance; the warehouse's rows are kept."""
    import dagster as dg

    from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
    from loyalty_sync.instance import ensure_dagster_home

    ensure_dagster_home()
    instance = dg.DagsterInstance.get()
    if not instance.has_dynamic_partition(ORG_PROGRAM_PARTITIONS, key):
        fail(f"no partition {key!r}; `loyalty-sync partitions` lists them")
    instance.delete_dynamic_partition(ORG_PROGRAM_PARTITIONS, key)
    console.print(
        f"removed partition {terminal_text(key)} (its warehouse rows and run history are kept)",
        highlight=False,
    )


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("dagster_args", nargs=-1, type=click.UNPROCESSED)
def ui(dagster_args: tuple[str, ...]) -> None:
    """The Dagster UI (`dagster dev`) on this project's defaults: the DAGSTER_HOME that
    `loyalty-sync sync` uses, whatever LOYALTY_SYNC_HOME is. Extra arguments go to
    `dagster dev` (e.g. `loyalty-sync ui -p 3001`)."""
    from loyalty_sync.instance import ensure_dagster_home

    home = ensure_dagster_home()
    dagster = shutil.which("dagster")
    if dagster is None:
        fail("the `dagster` command is not installed in this environment")
    target = (
        ["-w", str(REPO_WORKSPACE)]
        if REPO_WORKSPACE.exists()
        else ["-m", "loyalty_sync.definitions"]
    )
    console.print(f"DAGSTER_HOME={home}", highlight=False)
    # From DAGSTER_HOME, so `dagster dev` finds no other dagster.yaml to warn about.
    os.chdir(home)
    os.execvpe(dagster, [dagster, "dev", *target, *dagster_args], os.environ)  # type: ignore[arg-type]


@click.command("env")
def env() -> None:
    """Print the `export` lines that give `dagster` commands run by hand (`dagster asset
    materialize`, `dagster dev`, `dagster sensor ...`) the instance and home loyalty-sync
    uses: `eval "$(loyalty-sync env)"`. Without DAGSTER_HOME, Dagster has no instance to
    write to and those commands fail."""
    import shlex

    from loyalty_sync.instance import ensure_dagster_home
    from loyalty_sync.settings import HOME_ENV, home_dir

    click.echo(f"export {HOME_ENV}={shlex.quote(str(home_dir()))}")
    click.echo(f"export DAGSTER_HOME={shlex.quote(str(ensure_dagster_home()))}")
