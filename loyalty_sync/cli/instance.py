"""`loyalty-sync instance check`: the production instance, checked before it starts."""

from __future__ import annotations

import click

from loyalty_sync.cli.errors import fail


@click.group()
def instance() -> None:
    """The Dagster instance of a deployment (DAGSTER_HOME)."""


@instance.command("check")
def instance_check() -> None:
    """Check DAGSTER_HOME's dagster.yaml as the webserver and the daemon will open it.

    The storage URL's driver and reach, the run launcher, run monitoring. Exit 2 with one
    line naming what to fix; a deployment runs this before it starts its services.
    """
    from loyalty_sync.deploy.preflight import PreflightError, check

    try:
        report = check()
    except PreflightError as exc:
        fail(str(exc))
    for line in report.lines:
        click.echo(line)
    click.echo("instance ok")
