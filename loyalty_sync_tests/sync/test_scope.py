"""Partition keys, run scopes and how the CLI splits a selection into range runs."""

from __future__ import annotations

import pytest

from loyalty_sync.defs.jobs import contiguous_blocks
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse.scope import PartitionKeyError, parse_partition_key


def test_keys_round_trip_and_group_by_org() -> None:
    scope = RunScope.from_partition_keys("r", ["51136-2570", "51135-2569", "51135-2568"])
    assert scope.org_programs == {51135: (2568, 2569), 51136: (2570,)}
    assert scope.partition_keys == ["51135-2568", "51135-2569", "51136-2570"]
    assert parse_partition_key(" 1-2 ") == (1, 2)


@pytest.mark.parametrize("key", ["51135", "a-b", "1|2", "1-2-3", ""])
def test_bad_keys_are_named(key: str) -> None:
    with pytest.raises(PartitionKeyError, match="ORG-PROGRAM"):
        parse_partition_key(key)


def test_contiguous_blocks() -> None:
    ordered = ["1-1", "1-2", "2-1", "1-3", "2-2"]
    assert contiguous_blocks(ordered, ordered) == [ordered]
    assert contiguous_blocks(["1-1", "1-2", "1-3"], ordered) == [["1-1", "1-2"], ["1-3"]]
    assert contiguous_blocks(["2-2", "2-1"], ordered) == [["2-1"], ["2-2"]]


def test_a_run_needs_a_partition() -> None:
    with pytest.raises(PartitionKeyError, match="at least one"):
        RunScope.from_partition_keys("r", [])


def test_a_scope_narrowed_to_one_partition_keeps_its_run_and_passes() -> None:
    scope = RunScope.from_partition_keys(
        "r", ["1-1", "1-2", "2-5"], passes=["customers", "promotions"]
    )
    assert scope.passes == ("customers", "promotions")
    assert scope.keys_of(1) == ["1-1", "1-2"]
    assert scope.keys_of(2) == ["2-5"]
    one = scope.only("1-2")
    assert (one.run_id, one.started_at, one.passes) == (
        scope.run_id,
        scope.started_at,
        scope.passes,
    )
    assert one.org_programs == {1: (2,)}
    assert RunScope.from_partition_keys("r", ["1-1"]).passes == (
        "customers",
        "promotions",
        "benefits",
    )
