"""`loyalty-sync simulator`: serve the Capillary simulator in the foreground.

The same command, with hidden options, is what `start_simulator` and
`ensure_shared_simulator` run in their child process: the parent passes the listening
socket's file descriptor and the whole config as JSON.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import click

from capillary_simulator.config import SimulatorConfig
from capillary_simulator.server import bind_socket, uvicorn_server, watch_parent


def announce(config: SimulatorConfig, base_url: str) -> None:
    """Print where the simulator answers and how to point loyalty_sync at it."""
    from capillary_simulator.data import SimulatorDataset

    dataset = SimulatorDataset(config)
    orgs = ", ".join(
        f"{org_id}{' (home)' if org_id == dataset.home_org_id else ''}: programs "
        + " ".join(str(p.program_id) for p in dataset.programs(org_id))
        for org_id in dataset.org_ids
    )
    click.echo(f"Capillary simulator at {base_url}")
    click.echo(f"  orgs: {orgs}")
    click.echo(f"  customers per org: {config.customers_per_org}, seed {config.seed}")
    click.echo(f"  Basic auth: {config.username} / {config.password}")
    click.echo(f"  OAuth client: {config.oauth_key} / {config.oauth_secret}")
    click.echo(f"  roster: {base_url}/_admin/roster.csv  counters: {base_url}/_admin/counters")
    click.echo("  to sync against it:")
    for name, value in config.client_environment(base_url, dataset.org_ids).items():
        click.echo(f"    export {name}={value}")
    click.echo("  Ctrl-C stops it.")


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="0 picks a free port.")
@click.option("--orgs", default=2, show_default=True, help="Orgs: a home org and connected ones.")
@click.option(
    "--programs",
    default=None,
    type=int,
    help="Programs per org [default: 2 in the home org, 1 in each connected org].",
)
@click.option("--customers", default=15, show_default=True, help="Customers per org.")
@click.option("--promotions", default=5, show_default=True, help="Promotions per program.")
@click.option(
    "--heavy-share",
    default=0.0,
    show_default=True,
    help="Share of customers holding every promotion.",
)
@click.option("--seed", default=SimulatorConfig.seed, show_default=True, type=int)
@click.option("--latency-ms", default=0.0, show_default=True, type=float)
@click.option("--jitter-ms", default=0.0, show_default=True, type=float)
@click.option(
    "--rate-limit",
    default=0,
    show_default=True,
    type=int,
    help="Requests per minute per credential; 0: none.",
)
@click.option(
    "--error-rate", default=0.0, show_default=True, type=float, help="Share of 500/502/503 answers."
)
@click.option(
    "--hang-rate", default=0.0, show_default=True, type=float, help="Share of requests that hang."
)
@click.option("--hang-seconds", default=30.0, show_default=True, type=float)
@click.option(
    "--malformed-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Share of truncated JSON bodies.",
)
@click.option(
    "--token-ttl",
    default=3600,
    show_default=True,
    type=int,
    help="OAuth token lifetime in seconds.",
)
@click.option(
    "--churn",
    default=SimulatorConfig.churn,
    show_default=True,
    type=float,
    help="Share of customers changed per simulated day (POST /_admin/advance).",
)
@click.option("--no-anomalies", is_flag=True, help="Plant no tier anomalies.")
@click.option("--listen-fd", type=int, default=None, hidden=True)
@click.option("--config-json", default=None, hidden=True)
@click.option("--parent-pid", type=int, default=None, hidden=True)
@click.option("--quiet", is_flag=True, hidden=True)
def simulator_command(
    listen_fd: int | None,
    config_json: str | None,
    parent_pid: int | None,
    quiet: bool,
    **options: Any,
) -> None:
    """Serve the Capillary simulator over HTTP until interrupted."""
    if config_json:
        text = sys.stdin.read() if config_json == "-" else config_json
        config = SimulatorConfig.from_json(text)
    else:
        config = _config_from_options(options)
    sock = _listening_socket(config, listen_fd)
    if parent_pid is not None:
        watch_parent(parent_pid)
    if not quiet:
        bound_host, bound_port = sock.getsockname()[:2]
        announce(config, f"http://{bound_host}:{bound_port}")
    try:
        uvicorn_server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn re-raises the Ctrl-C it shut down for; stopping is the expected outcome.
        if not quiet:
            click.echo("simulator stopped")


# Command-line option -> SimulatorConfig field, for the options passed through unchanged.
_CONFIG_FIELDS = {
    "seed": "seed",
    "orgs": "orgs",
    "customers": "customers_per_org",
    "promotions": "promotions_per_program",
    "heavy_share": "heavy_customer_share",
    "churn": "churn",
    "host": "host",
    "port": "port",
    "latency_ms": "latency_ms",
    "jitter_ms": "jitter_ms",
    "error_rate": "error_rate",
    "hang_rate": "hang_rate",
    "hang_seconds": "hang_seconds",
    "malformed_rate": "malformed_rate",
    "token_ttl": "token_ttl_seconds",
}


def _config_from_options(options: dict[str, Any]) -> SimulatorConfig:
    """The config the options describe; a bad combination is a usage error, not a traceback."""
    fields = {name: options[option] for option, name in _CONFIG_FIELDS.items()}
    if options["programs"] is not None:
        fields["programs_per_org"] = options["programs"]
    fields["anomalies"] = not options["no_anomalies"]
    fields["rate_limit_per_minute"] = options["rate_limit"] or None
    try:
        return SimulatorConfig(**fields)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _listening_socket(config: SimulatorConfig, listen_fd: int | None) -> socket.socket:
    """The socket the parent bound and passed down, or one bound here."""
    if listen_fd is not None:
        return socket.socket(fileno=listen_fd)
    try:
        return bind_socket(config.host, config.port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {config.host}:{config.port}: {exc}") from exc
