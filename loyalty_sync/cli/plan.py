"""`loyalty-sync plan`: will the daily sync fit in a day, and what to change if not."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click
from rich.table import Table

from loyalty_sync.cli.errors import fail
from loyalty_sync.cli.terminal import console as make_console

if TYPE_CHECKING:
    from loyalty_sync.sync.capacity import PassRates, Plan

console = make_console()


def _limit_from_env() -> int:
    from loyalty_sync.capillary.config import ENV_RATE_LIMIT

    text = os.environ.get(ENV_RATE_LIMIT, "").strip() or "100"
    if not text.isdigit() or int(text) < 1:
        fail(f"{ENV_RATE_LIMIT} must be a positive number of requests per minute, not {text!r}")
    return int(text)


@click.command("plan")
@click.option(
    "--members",
    type=click.IntRange(min=1),
    help="Project for this many members instead of the customers the roster found.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    help="Requests a minute (default CAPILLARY_RATE_LIMIT_PER_MINUTE, 100).",
)
@click.option(
    "--max-age", type=click.IntRange(min=1), help="Days (default LOYALTY_SYNC_MAX_AGE_DAYS, 7)."
)
def plan(members: int | None, rate_limit: int | None, max_age: int | None) -> None:
    """Project the calls and hours a day of the daily sync and of the first sync.

    From the roster size, the rate limit, the max age and the change rates recent daily
    syncs measured (`sync_runs.signals`); says what to change when a day is not enough.
    Exit code 0 when the daily sync fits in a day, 1 when it does not.
    """
    import sys

    from loyalty_sync.sync.capacity import measured_rates
    from loyalty_sync.warehouse import migrate
    from loyalty_sync.warehouse.database import get_engine

    age, sample = _age_and_sample(max_age)
    limit = rate_limit or _limit_from_env()
    engine = get_engine()
    migrate.ensure_upgraded(engine)
    with engine.connect() as conn:
        measured = measured_rates(conn)
    projected = measured.plan(members, limit, age, sample)
    _print_projection(projected, limit, age)
    if projected.lookups_per_member != 1:
        console.print(
            f"lookups: {projected.lookups_per_member:.2f} roster entries a member "
            f"({measured.roster_entries:,} entries, {measured.members:,} found), each "
            "looked up every day"
        )
    for name, r in measured.rates.items():
        console.print(
            f"{name}: {r.items_per_customer:.2f} items a member, {r.changed_share:.2%} "
            f"changed a day, {r.calls_per_item:.2f} calls an item ({_source(r)})"
        )
    verdict = "fits in a day" if projected.fits else "does NOT fit in a day"
    console.print(f"daily sync {verdict} ({projected.calls_a_day:,.0f} calls a day at the limit)")
    for line in projected.advice():
        console.print(f"- {line}")
    sys.exit(0 if projected.fits else 1)


def _source(rates: PassRates) -> str:
    """Which figures are measured and which are still the defaults."""
    if rates.syncs:
        return f"measured on {rates.shape_syncs} sync(s), {rates.syncs} of them daily"
    if rates.shape_syncs:
        return (
            f"items and calls measured on {rates.shape_syncs} sync(s); the changed share "
            "is a default until a daily sync is measured"
        )
    return "defaults, no sync measured yet"


def _age_and_sample(max_age: int | None) -> tuple[int, float]:
    from loyalty_sync.settings import drift_sample_from_env, max_age_days_from_env

    try:
        return max_age or max_age_days_from_env(), drift_sample_from_env()
    except ValueError as exc:
        fail(str(exc))


def _print_projection(projected: Plan, limit: int, age: int) -> None:
    table = Table(
        "",
        "calls",
        "hours at the limit",
        title=f"{projected.members:,} members, {limit:,} requests/min, max age {age} days",
    )
    for label, calls in (
        ("daily sync", projected.daily_calls),
        ("first sync", projected.first_sync_calls),
    ):
        table.add_row(label, f"{calls:,.0f}", f"{projected.hours(calls):,.1f} h")
    console.print(table)
