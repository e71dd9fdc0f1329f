"""The bulk writer against a real PostgreSQL: merge semantics, scope, atomicity."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from loyalty_sync.warehouse import tables, writer
from loyalty_sync.warehouse.scope import PartitionScope


def _row(org: int, program: int, customer: int, points: str = "10", **extra: Any) -> dict:
    return {
        "org_id": org,
        "program_id": program,
        "customer_id": customer,
        "loyalty_points": Decimal(points),
        "current_slab": "Bronze",
        "slab_sno": 1,
        "raw": {"customerId": customer, "slabSNo": 1},
        **extra,
    }


def _state(engine: sa.Engine) -> dict[tuple[int, int, int], tuple[Any, ...]]:
    t = tables.loyalty_program_details
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                t.c.org_id,
                t.c.program_id,
                t.c.customer_id,
                t.c.loyalty_points,
                sa.literal_column("xmin::text"),
                t.c.run_id,
                t.c.synced_at,
            )
        ).all()
    return {(r[0], r[1], r[2]): tuple(r[3:]) for r in rows}


def _merge(engine: sa.Engine, rows: list[dict], run_id: str, scope: PartitionScope | None) -> Any:
    with engine.begin() as conn:
        return writer.merge(conn, tables.loyalty_program_details, rows, run_id=run_id, scope=scope)


def test_merge_inserts_updates_keeps_and_deletes_within_scope(engine: sa.Engine) -> None:
    scope_a = PartitionScope.org(1, [10])
    first = _merge(engine, [_row(1, 10, c) for c in (1, 2, 3)], "run-1", scope_a)
    other = _merge(engine, [_row(1, 20, 1), _row(2, 10, 1)], "run-1", None)
    assert (first.inserted, first.updated, first.deleted) == (3, 0, 0)
    assert other.inserted == 2
    before = _state(engine)

    # customer 1 unchanged, 2 changed, 3 vanished, 4 new.
    second = _merge(
        engine, [_row(1, 10, 1), _row(1, 10, 2, points="99"), _row(1, 10, 4)], "run-2", scope_a
    )
    assert (second.inserted, second.updated, second.deleted, second.unchanged) == (1, 1, 1, 1)
    after = _state(engine)

    assert after[(1, 10, 1)] == before[(1, 10, 1)]  # same xmin, run id and synced_at
    assert after[(1, 10, 2)][0] == Decimal("99")
    assert after[(1, 10, 2)][1] != before[(1, 10, 2)][1]
    assert after[(1, 10, 2)][2] == "run-2"
    assert (1, 10, 3) not in after
    assert after[(1, 10, 4)][2] == "run-2"
    # Rows outside the scope are untouched.
    assert after[(1, 20, 1)] == before[(1, 20, 1)]
    assert after[(2, 10, 1)] == before[(2, 10, 1)]


def test_rerun_with_unchanged_data_rewrites_nothing(engine: sa.Engine) -> None:
    rows = [_row(1, 10, c, points=f"{c}.500") for c in range(50)]
    _merge(engine, rows, "run-1", PartitionScope.org(1, [10]))
    before = _state(engine)
    # Numerically equal values written differently are not a change.
    again = [_row(1, 10, c, points=f"{c}.50000") for c in range(50)]
    result = _merge(engine, again, "run-2", PartitionScope.org(1, [10]))
    assert result.written == 0
    assert _state(engine) == before


def test_error_mid_batch_leaves_previous_rows(engine: sa.Engine) -> None:
    scope = PartitionScope.org(1, [10])
    _merge(engine, [_row(1, 10, c) for c in range(5)], "run-1", scope)
    before = _state(engine)

    def rows() -> Any:
        for c in range(5):
            yield _row(1, 10, c, points="77")
        raise RuntimeError("the API went away mid-batch")

    with pytest.raises(RuntimeError, match="went away"):
        _merge(engine, rows(), "run-2", scope)  # type: ignore[arg-type]
    assert _state(engine) == before

    # A constraint violation inside the merge rolls back too (NULL key).
    bad = [_row(1, 10, 0, points="1"), {**_row(1, 10, 1), "customer_id": None}]
    with pytest.raises(sa.exc.IntegrityError):
        _merge(engine, bad, "run-3", scope)
    assert _state(engine) == before


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([_row(1, 10, 1, bogus=1)], "columns the batch lacks"),
        ([_row(1, 10, 1), _row(1, 10, 1)], "duplicate key"),
        ([_row(1, 99, 1)], "outside the partitions 1-10"),
    ],
)
def test_bad_batches_are_refused_with_a_reason(
    engine: sa.Engine, rows: list[dict], message: str
) -> None:
    _merge(engine, [_row(1, 10, 7)], "run-1", PartitionScope.org(1, [10]))
    before = _state(engine)
    with pytest.raises(writer.BatchError, match=message):
        _merge(engine, rows, "run-2", PartitionScope.org(1, [10]))
    assert _state(engine) == before


def test_scope_with_several_programs(engine: sa.Engine) -> None:
    _merge(engine, [_row(1, p, 1) for p in (10, 20, 30)], "run-1", None)
    result = _merge(engine, [_row(1, 10, 1)], "run-2", PartitionScope.org(1, [10, 20]))
    assert result.deleted == 1
    assert set(_state(engine)) == {(1, 10, 1), (1, 30, 1)}


def test_scope_of_two_orgs_is_their_pairs_not_a_cross_product(engine: sa.Engine) -> None:
    # (1, 20) and (2, 10) belong to neither partition of the scope: an org IN x program IN
    # reading of {1-10, 2-20} would take them in and delete them.
    _merge(engine, [_row(o, p, 1) for o in (1, 2) for p in (10, 20)], "run-1", None)
    scope = PartitionScope.from_keys(["1-10", "2-20"])
    result = _merge(engine, [], "run-2", scope)
    assert result.deleted == 2
    assert set(_state(engine)) == {(1, 20, 1), (2, 10, 1)}


def test_append_stamps_run_and_time(engine: sa.Engine) -> None:
    events = [
        {"endpoint": "lookup", "code": 8015, "kind": "error", "org_id": 1, "message": "nf"},
        {"endpoint": "actionSummary", "code": 8116, "kind": "warning", "org_id": 1},
    ]
    with engine.begin() as conn:
        assert writer.append(conn, tables.api_events, events, run_id="run-9") == 2
    with engine.connect() as conn:
        got = conn.execute(
            sa.select(tables.api_events.c.code, tables.api_events.c.run_id).order_by("code")
        ).all()
    assert got == [(8015, "run-9"), (8116, "run-9")]


def test_column_subset_keeps_other_columns(engine: sa.Engine) -> None:
    t = tables.loyalty_program_details
    _merge(engine, [_row(1, 10, 1, points="5")], "run-1", None)
    with engine.begin() as conn:
        result = writer.merge(
            conn,
            t,
            [{"org_id": 1, "program_id": 10, "customer_id": 1, "current_slab": "Gold"}],
            run_id="run-2",
            columns=["current_slab"],
        )
    assert result.updated == 1
    with engine.connect() as conn:
        slab, points = conn.execute(sa.select(t.c.current_slab, t.c.loyalty_points)).one()
    assert (slab, points) == ("Gold", Decimal("5"))
