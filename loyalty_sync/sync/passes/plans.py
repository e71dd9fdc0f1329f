"""What passes read before their first item: Capillary's clock, a plan, simple counts."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from loyalty_sync.capillary.client import CapillaryClient
from loyalty_sync.sync import change_signals
from loyalty_sync.sync.ledger import EventLog
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse import tables

logger = logging.getLogger("loyalty_sync.sync")


def capillary_now(
    engine: sa.Engine, client: CapillaryClient, scope: RunScope, org_id: int
) -> datetime:
    """Capillary's clock for a plan; an unbelievable `Date` header is reported, once."""
    now = client.clock.now()
    problem = client.clock.take_problem()
    if problem:
        logger.warning(problem)
        with engine.begin() as conn:
            events = EventLog(conn, scope)
            events.add(
                endpoint="date_header", code=None, kind="warning", message=problem, org_id=org_id
            )
            events.flush()
    return now


def org_plan(
    engine: sa.Engine,
    client: CapillaryClient,
    scope: RunScope,
    org_id: int,
    options: change_signals.SignalPolicy,
    settings: str,
) -> change_signals.Plan:
    """A pass's plan: Capillary's clock now, and the org's catalogue unless all is fetched."""
    partitions = scope.partitions.for_org(org_id)
    if options.full:
        # Nothing is skipped, but when it was fetched is still Capillary's time.
        if not client.clock.observed:
            client.programs(org_id)
        return change_signals.plan(
            options, capillary_now(engine, client, scope, org_id), settings=settings
        )
    entries = client.promotion_catalogue(org_id).promotions
    mine = [e for e in entries if (org_id, e.program_id) in partitions]
    return change_signals.plan(
        options, capillary_now(engine, client, scope, org_id), mine, settings
    )


def count(engine: sa.Engine, query: sa.Select[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)


def found_customers(org_id: int) -> sa.Select[Any]:
    """The org's customers some roster entry was found as: the ones that still exist."""
    t = tables.customer_roster
    return (
        sa.select(t.c.customer_id)
        .where(t.c.org_id == org_id, t.c.customer_id.is_not(None))
        .distinct()
    )
