"""The shared model: a pass plan stored two ways, tallies, and the one even split."""

from __future__ import annotations

from collections import Counter

from loyalty_sync.sync.record.model import (
    PassPlan,
    split_evenly,
    tally_from_json,
    tally_json,
)


def test_a_plan_is_finished_once_every_expected_pass_is_done() -> None:
    plan = PassPlan(("customers", "promotions"))
    assert not plan.tick("customers").finished
    assert plan.tick("customers").tick("promotions").finished
    # A pass the plan did not expect finishes nothing, but is recorded as done.
    odd = plan.tick("benefits")
    assert not odd.finished
    assert odd.as_runs_json() == {
        "customers": "expected",
        "promotions": "expected",
        "benefits": "done",
    }


def test_both_stored_forms_read_back_as_the_same_plan() -> None:
    plan = PassPlan(("customers", "promotions", "benefits")).tick("promotions")
    assert PassPlan.from_runs_json(plan.as_runs_json()) == plan
    assert PassPlan.from_generation_json(plan.as_generation_json()) == plan
    assert plan.as_generation_json() == {
        "passes": ["customers", "promotions", "benefits"],
        "done": ["promotions"],
    }
    assert PassPlan.from_runs_json(None) == PassPlan(())


def test_a_split_sums_to_the_total_the_first_keys_taking_the_remainder() -> None:
    assert split_evenly(7, ["a", "b", "c"]) == {"a": 3, "b": 2, "c": 2}
    assert split_evenly(0, ["a"]) == {"a": 0}
    assert split_evenly(5, []) == {}


def test_a_tally_round_trips_through_its_stored_form() -> None:
    tally = Counter({("customers", "1-2"): 3, ("customers", "1-3"): 0, ("promotions", "1-2"): 4})
    stored = tally_json(tally)
    assert stored == {"customers": {"1-2": 3, "1-3": 0}, "promotions": {"1-2": 4}}
    assert tally_from_json(stored) == tally
    assert tally_from_json(None) == Counter()
