"""`loyalty-sync simulator`: serve the simulator (the group's own action), or stop the shared one.

`loyalty-sync sync` with CAPILLARY_BASE_URL unset starts one shared simulator, detached, so
the Dagster webserver, daemon and later syncs find the same one; it keeps running after
the sync, which says so. `loyalty-sync simulator stop` ends it.
"""

from __future__ import annotations

from typing import Any

import click

from capillary_simulator.command import simulator_command
from capillary_simulator.server import running_shared_simulator, stop_shared_simulator
from loyalty_sync.settings import home_dir


@click.pass_context
def _serve_unless_subcommand(ctx: click.Context, **options: Any) -> None:
    if ctx.invoked_subcommand is None:
        ctx.invoke(simulator_command.callback, **options)  # type: ignore[arg-type]


simulator = click.Group(
    "simulator",
    params=simulator_command.params,
    callback=_serve_unless_subcommand,
    invoke_without_command=True,
    help=(simulator_command.help or "")
    + "\n\n`loyalty-sync simulator stop` stops the shared simulator that `sync` starts.",
)


@simulator.command("stop")
def simulator_stop() -> None:
    """Stop the shared simulator of LOYALTY_SYNC_HOME (the one `loyalty-sync sync` starts)."""
    home = home_dir()
    state = running_shared_simulator(home)
    if stop_shared_simulator(home):
        click.echo(f"stopped the shared simulator (pid {state['pid'] if state else '?'})")
    else:
        click.echo("no shared simulator was running")


@simulator.command("status")
def simulator_status() -> None:
    """Say whether the shared simulator runs, and where."""
    state = running_shared_simulator(home_dir())
    if state:
        click.echo(f"shared simulator running at {state['base_url']} (pid {state['pid']})")
    else:
        click.echo("no shared simulator running")
