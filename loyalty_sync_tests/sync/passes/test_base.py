"""The org loop every pass shares, and what the base class decides for a pass."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from loyalty_sync.sync.ledger import Checkpoint, Generation
from loyalty_sync.sync.passes import BENEFIT_ORDER, loop
from loyalty_sync.sync.passes.base import OrgPass
from loyalty_sync.sync.passes.benefit_pairs import Pair
from loyalty_sync.sync.passes.benefits import BenefitsPass
from loyalty_sync.sync.passes.loop import OrgWork, PassLoop, PassRun
from loyalty_sync.sync.passes.options import PassOptions
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse.scope import PartitionScope
from loyalty_sync_tests.sync.passes.fakes import FakeClient, FakeEngine

SCOPE = RunScope.from_partition_keys("run-2", ["7-1", "7-2", "8-1"])


class Ledger:
    """The loop's bookkeeping, in memory: which passes a generation has done."""

    def __init__(self, done: dict[int, set[str]] | None = None, items_done: int = 0) -> None:
        self.done = done or {}
        self.items_done = items_done
        self.ticked: list[tuple[int, str]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(loop, "open_generation", self.open_generation)
        monkeypatch.setattr(loop, "open_checkpoint", self.open_checkpoint)
        monkeypatch.setattr(loop, "generation_pass_done", self.pass_done)
        monkeypatch.setattr(loop, "served_by", self.served_by)
        monkeypatch.setattr(loop.statistics, "refresh", lambda engine, written: None)

    def open_generation(self, engine: Any, partitions: PartitionScope, *args: Any) -> Generation:
        (org_id,) = partitions.orgs
        return Generation(org_id, set(self.done.get(org_id, set())), False, "run-1", None)

    def open_checkpoint(
        self, engine: Any, name: str, partitions: PartitionScope, *args: Any
    ) -> Checkpoint:
        resumed = self.items_done > 0
        return Checkpoint(1, name, partitions, resumed, items_done=self.items_done)

    def pass_done(self, engine: Any, generation: Generation, name: str) -> None:
        self.ticked.append((generation.id, name))

    def served_by(self, engine: Any, name: str, partitions: PartitionScope) -> Counter:
        (key,) = partitions.keys
        return Counter({("fake", key): 40})


class CountingPass:
    """Makes `calls` calls per org, fetching `fetched` items and skipping `skipped`."""

    name = "fake"
    made: list[int] = []

    def __init__(self, run: PassRun, org: OrgWork) -> None:
        self.run, self.org = run, org

    def sync_org(self) -> None:
        CountingPass.made.append(self.org.org_id)
        self.run.client.stats.calls += 8  # type: ignore[attr-defined]
        signals = self.org.outcome.org_signals(self.org.org_id)
        signals.fetched["changed"] += 4
        signals.skipped_by_reason["unchanged"] += 6
        for key in self.org.partitions.keys:
            self.org.checkpoint.served[("fake", key)] += 3


def _run() -> PassRun:
    return PassRun(FakeEngine(), FakeClient(), SCOPE, PassOptions())  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _fresh() -> None:
    CountingPass.made = []


def test_each_org_runs_once_and_ticks_the_pass_off(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger()
    ledger.install(monkeypatch)
    outcome = PassLoop(CountingPass, _run()).run_all()  # type: ignore[arg-type]
    assert CountingPass.made == [7, 8]
    assert ledger.ticked == [(7, "fake"), (8, "fake")]
    assert outcome.calls == 16
    assert outcome.spent_by_org[7].calls == 8
    assert outcome.rows_by_partition == Counter(
        {("fake", "7-1"): 3, ("fake", "7-2"): 3, ("fake", "8-1"): 3}
    )


def test_a_pass_another_run_finished_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger(done={8: {"fake"}})
    ledger.install(monkeypatch)
    outcome = PassLoop(CountingPass, _run()).run_all()  # type: ignore[arg-type]
    assert CountingPass.made == [7]
    assert outcome.resumed == ["org 8: fake pass done by run run-1, skipped"]
    assert outcome.rows_by_partition[("fake", "8-1")] == 40  # what that run served
    assert ledger.ticked == [(7, "fake")]


def test_a_resumed_checkpoint_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    Ledger(items_done=120).install(monkeypatch)
    outcome = PassLoop(CountingPass, _run()).run_all()  # type: ignore[arg-type]
    assert outcome.resumed == ["org 7 after 120 item(s)", "org 8 after 120 item(s)"]


def test_a_full_syncs_calls_price_each_skipped_item_as_a_fetched_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Ledger().install(monkeypatch)
    outcome = PassLoop(CountingPass, _run()).run_all()  # type: ignore[arg-type]
    # 8 calls for 4 fetched items: the 6 skipped would have cost 12 more.
    assert outcome.org_signals(7).full_calls == 20


def _benefits() -> BenefitsPass:
    partitions = PartitionScope.from_keys(["7-1"])
    org = OrgWork(7, partitions, Checkpoint(1, "benefits", partitions, False), None)  # type: ignore[arg-type]
    return BenefitsPass(_run(), org)


def test_the_benefits_cursor_follows_the_pass_order() -> None:
    pair = Pair(customer_id=11, program_id=1, promotion_id=500)
    cursor = _benefits().cursor_of(pair)
    assert cursor == [pair._asdict()[name] for name in BENEFIT_ORDER] == [1, 500, 11]


def test_a_set_aside_pair_comes_back_from_its_checkpoint_key() -> None:
    benefits = _benefits()
    pair = Pair(11, 1, 500)
    assert benefits.item_from_key(benefits.key_of(pair)) == pair
    assert benefits.label(pair) == "customer 11 program 1 promotion 500"


def test_every_pass_names_its_tables() -> None:
    from loyalty_sync.sync.passes import PASSES

    assert [p.name for p in PASSES] == ["customers", "promotions", "benefits"]
    assert all(issubclass(p, OrgPass) and p.tables for p in PASSES)
