"""The warehouse's source record: taken on by the first sync, guarded on every later one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.source import (
    Source,
    SourceMismatchError,
    adopt_source,
    recorded_source,
    verify_source,
)

EU = Source("https://eu.api.capillarytech.com", (100, 200))
SIM = Source("http://127.0.0.1:4100", (51135, 51136), simulator=True)


def _held(engine: sa.Engine) -> Source | None:
    with engine.connect() as conn:
        return recorded_source(conn)


def _add_a_row(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(tables.customer_roster).values(
                org_id=100,
                source="INSTORE",
                identifier_name="externalId",
                identifier_value="A",
                synced_at=sa.func.now(),
                run_id="test",
            )
        )


def test_first_sync_records_its_source_and_later_ones_match(engine: sa.Engine) -> None:
    verify_source(engine, EU, embedded=False)
    assert _held(engine) == EU
    _add_a_row(engine)
    verify_source(engine, Source("https://EU.api.capillarytech.com/", (100,)), embedded=False)
    verify_source(engine, Source(EU.api_host, (100, 200, 300)), embedded=False)
    assert _held(engine) == Source(EU.api_host, (100, 200, 300))  # a connected org added


@pytest.mark.parametrize(
    "other",
    [
        Source("https://us.api.capillarytech.com", (100, 200)),
        Source(EU.api_host, (999, 100)),
        Source("http://127.0.0.1:4100", (100,), simulator=True),
    ],
    ids=["another-host", "another-own-org", "the-simulator"],
)
def test_another_source_is_refused_naming_both(engine: sa.Engine, other: Source) -> None:
    verify_source(engine, EU, embedded=False)
    _add_a_row(engine)
    with pytest.raises(SourceMismatchError) as raised:
        verify_source(engine, other, embedded=True)
    message = str(raised.value)
    assert "\n" not in message
    assert EU.api_host in message and other.api_host in message
    assert "loyalty-sync source adopt" in message
    assert _held(engine) == EU


def test_the_simulator_is_the_default_only_on_embedded_or_empty(engine: sa.Engine) -> None:
    verify_source(engine, SIM, embedded=False)  # empty: taken on
    with engine.begin() as conn:
        conn.execute(sa.delete(tables.sync_source))
    _add_a_row(engine)
    with pytest.raises(SourceMismatchError, match="CAPILLARY_BASE_URL is unset"):
        verify_source(engine, SIM, embedded=False)
    assert _held(engine) is None
    verify_source(engine, SIM, embedded=True)
    # The shared simulator comes back on another port: the same source.
    verify_source(engine, Source("http://127.0.0.1:4200", SIM.org_ids, True), embedded=True)
    assert _held(engine).api_host == "http://127.0.0.1:4200"  # type: ignore[union-attr]


def test_a_record_that_never_wrote_a_row_gives_way(engine: sa.Engine) -> None:
    verify_source(engine, Source("http://unreachable.example", (1,)), embedded=True)
    verify_source(engine, SIM, embedded=True)
    assert _held(engine) == SIM


def test_adopt_moves_the_warehouse_to_a_new_source(engine: sa.Engine) -> None:
    verify_source(engine, EU, embedded=False)
    _add_a_row(engine)
    moved = Source("https://eu2.api.capillarytech.com", (100, 200))
    assert adopt_source(engine, moved) == EU
    verify_source(engine, moved, embedded=False)
    with pytest.raises(SourceMismatchError):
        verify_source(engine, EU, embedded=False)
