"""The warehouse remembers where its data came from, so a changed source cannot overwrite it.

With `CAPILLARY_BASE_URL` unset a sync talks to the bundled simulator. A production
deployment that lost that one variable would otherwise sync demo data into the real
warehouse, and the passes' scoped deletes would then remove real rows. So the first sync
records its source in `sync_source` (API host, the credential's own org and every org
id; never a secret), and every later pass compares before it makes a call.

A source is the same when the host and the own org are: connected orgs come and go in
`CAPILLARY_ORG_IDS` (docs/operating.md, "Add an org") and are simply recorded. The
simulator is one source whatever port it listens on. With no record yet, any source is
taken on, except the simulator on a non-embedded warehouse that already holds rows: the
simulator is the default only on the embedded database or an empty warehouse. Moving
deliberately (to another cluster host, another tenant) is `loyalty-sync source adopt`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from loyalty_sync.warehouse import tables

ADOPT_HINT = "run `loyalty-sync source adopt` with these settings to sync it into this warehouse"


class SourceMismatchError(RuntimeError):
    """This sync's source is not the one the warehouse holds data from."""


@dataclass(frozen=True)
class Source:
    """What a sync reads from: an API host and org ids (own org first)."""

    api_host: str
    org_ids: tuple[int, ...]
    simulator: bool = False

    @property
    def own_org_id(self) -> int:
        return self.org_ids[0]

    def same_as(self, other: Source) -> bool:
        hosts = (self.simulator and other.simulator) or (
            not self.simulator
            and not other.simulator
            and self.api_host.rstrip("/").lower() == other.api_host.rstrip("/").lower()
        )
        return hosts and self.own_org_id == other.own_org_id

    def describe(self) -> str:
        where = f"the bundled simulator ({self.api_host})" if self.simulator else self.api_host
        return f"{where}, orgs {','.join(map(str, self.org_ids))}"


def recorded_source(conn: sa.Connection) -> Source | None:
    t = tables.sync_source
    row = conn.execute(sa.select(t)).first()
    if row is None:
        return None
    return Source(row.api_host, tuple(int(i) for i in row.org_ids), bool(row.simulator))


def _has_rows(conn: sa.Connection) -> bool:
    return any(
        conn.scalar(sa.select(sa.literal(1)).select_from(table).limit(1))
        for table in tables.CONTRACT_TABLES
    )


def _write(conn: sa.Connection, source: Source, by: str) -> None:
    values = {
        "id": 1,
        "api_host": source.api_host,
        "simulator": source.simulator,
        "own_org_id": source.own_org_id,
        "org_ids": list(source.org_ids),
        "adopted_at": datetime.now(UTC),
        "adopted_by": by,
    }
    stmt = insert(tables.sync_source).values(values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))


def verify_source(engine: sa.Engine, source: Source, *, embedded: bool) -> None:
    """Record `source` on first use; raise `SourceMismatchError` when it is not the held one.

    Runs under a lock on the one row, so two first syncs starting together agree.
    """
    with engine.begin() as conn:
        conn.execute(sa.text(f"LOCK TABLE {tables.SCHEMA}.sync_source IN SHARE ROW EXCLUSIVE MODE"))
        held = recorded_source(conn)
        if held is None:
            if source.simulator and not embedded and _has_rows(conn):
                raise SourceMismatchError(
                    "CAPILLARY_BASE_URL is unset, and the bundled simulator is the default only "
                    "on the embedded database or an empty warehouse, but this warehouse holds "
                    f"data: set CAPILLARY_BASE_URL and CAPILLARY_ORG_IDS, or {ADOPT_HINT}"
                )
            _write(conn, source, "first sync")
            return
        if not held.same_as(source) and not _has_rows(conn):
            _write(conn, source, "first sync (the one recorded never wrote a row)")
            return
        if not held.same_as(source):
            raise SourceMismatchError(
                f"this warehouse holds data from {held.describe()}; this sync reads "
                f"{source.describe()}: restore CAPILLARY_BASE_URL and CAPILLARY_ORG_IDS, or "
                f"{ADOPT_HINT}"
            )
        if held != source:  # other connected orgs, or the simulator on another port
            _write(conn, source, "sync (orgs or simulator address updated)")


def adopt_source(engine: sa.Engine, source: Source) -> Source | None:
    """Make `source` the warehouse's source whatever it held; return the previous one."""
    with engine.begin() as conn:
        previous = recorded_source(conn)
        _write(conn, source, "loyalty-sync source adopt")
    return previous
