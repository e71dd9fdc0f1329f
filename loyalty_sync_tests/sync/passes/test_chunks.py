"""The chunk loop's decisions: cursor, set-aside items, quarantine, waiting negatives."""

from __future__ import annotations

import pytest

from loyalty_sync.capillary.errors import (
    AuthenticationError,
    CustomerNotFound,
    RetriesExhausted,
    UnusableAnswer,
)
from loyalty_sync.capillary.requeue import RetryLater
from loyalty_sync.sync.passes.verdicts import ItemsFailedError, TooManyQuarantinedError
from loyalty_sync_tests.sync.passes.fakes import (
    FakePass,
    FakeRunner,
    RequeueClient,
    checkpoint,
)


def _gave_up() -> RetriesExhausted:
    return RetriesExhausted(None, "gave up after 5 attempts: 503", "customer_lookup")


def _unusable() -> UnusableAnswer:
    return UnusableAnswer(None, "a field of the wrong type", "customer_lookup")


def test_each_chunk_commits_with_the_cursor_of_its_last_item() -> None:
    spec = FakePass(items=[1, 2, 3, 4, 5])
    runner = FakeRunner(spec, checkpoint(), chunk_size=2)
    runner.run()
    assert spec.written == [1, 2, 3, 4, 5]
    assert runner.saved == [([2], [], 2), ([4], [], 4), ([5], [], 5)]


def test_a_resumed_pass_asks_only_for_items_after_its_cursor() -> None:
    spec = FakePass(items=[1, 2, 3, 4])
    check = checkpoint()
    check.cursor, check.items_done = [2], 2
    FakeRunner(spec, check).run()
    assert spec.fetched == [3, 4]
    assert check.items_done == 4


def test_an_item_that_gave_up_is_set_aside_and_tried_once_more_at_the_end() -> None:
    spec = FakePass(items=[1, 2, 3], answers={2: [_gave_up()]})
    runner = FakeRunner(spec, checkpoint(), chunk_size=2)
    runner.run()
    assert spec.fetched == [1, 2, 3, 2]
    assert spec.written == [1, 3, 2]
    assert runner.outcome.set_aside == 1
    # While it waited, the checkpoint named it, so a kill would not lose it.
    assert runner.saved[0] == ([2], [[2]], 1)
    assert runner.saved[-1][1] == []


class ClockedRunner(FakeRunner):
    """A runner on the requeue pool whose clock moves an hour with each chunk committed."""

    def __init__(self, spec: FakePass, chunk_size: int) -> None:
        super().__init__(spec, checkpoint(), chunk_size)
        self.client = RequeueClient()  # type: ignore[assignment]

    def save(self, conn: object) -> None:
        super().save(conn)
        self.client.ticks += 3600  # type: ignore[attr-defined]


def test_an_item_waiting_to_retry_holds_up_neither_the_others_nor_the_commits() -> None:
    # Item 2's call must wait an hour before its retry; the clock moves only on commits.
    spec = FakePass(items=[1, 2, 3, 4, 5], answers={2: [RetryLater(3600.0)]})
    runner = ClockedRunner(spec, chunk_size=2)
    runner.run()
    # The first chunk committed without item 2, the cursor past it and 2 kept as pending.
    cursor, failed, done = runner.saved[0]
    assert cursor is not None and cursor[0] >= 3
    assert failed == [[2]] and done == 2
    assert spec.written.index(3) < spec.written.index(2)
    # In the end every item committed once, 2 after its retry, and nothing is left over.
    assert sorted(spec.written) == [1, 2, 3, 4, 5]
    assert spec.fetched.count(2) == 2 and runner.outcome.set_aside == 0
    assert runner.saved[-1] == ([5], [], 5)


def test_an_item_failing_twice_fails_the_pass_after_the_rest_committed() -> None:
    spec = FakePass(items=[1, 2, 3], answers={2: [_gave_up(), _gave_up()]})
    runner = FakeRunner(spec, checkpoint(), chunk_size=2)
    with pytest.raises(ItemsFailedError, match=r"1 item\(s\) still failing .*\[2\]"):
        runner.run()
    assert spec.written == [1, 3]
    assert runner.checkpoint.failed == [[2]]


def test_a_previous_runs_failures_come_first_and_do_not_move_the_cursor() -> None:
    spec = FakePass(items=[5, 6])
    runner = FakeRunner(spec, checkpoint(failed=[[2]]), chunk_size=1)
    runner.run()
    assert spec.fetched == [2, 5, 6]
    assert runner.saved[0] == (None, [], 1)


def test_a_credentials_error_fails_the_pass_before_its_chunk_is_written() -> None:
    denied = AuthenticationError(401, "bad credentials", "customer_lookup")
    spec = FakePass(items=[1, 2, 3, 4], answers={3: [denied]})
    runner = FakeRunner(spec, checkpoint(), chunk_size=2)
    with pytest.raises(AuthenticationError):
        runner.run()
    assert spec.written == [1, 2]
    assert runner.saved == [([2], [], 2)]  # only the first chunk committed


def test_not_found_is_recorded_and_written_as_an_answer() -> None:
    spec = FakePass(items=[1, 2], answers={2: [CustomerNotFound(8015, "no customer", "x")]})
    runner = FakeRunner(spec, checkpoint())
    runner.run()
    assert spec.written == [1, 2]  # the pass maps the error (a roster status)
    assert [r["customer_id"] for r in runner.events.rows if r["kind"] == "error"] == [2]
    assert spec.fetched == [1, 2]  # not retried


def test_a_few_unusable_answers_are_quarantined_and_the_pass_goes_on() -> None:
    spec = FakePass(items=list(range(1, 11)), answers={4: [_unusable()]})
    runner = FakeRunner(spec, checkpoint(), chunk_size=3)
    runner.run()
    assert 4 not in spec.written
    assert spec.quarantined == [4]
    assert runner.outcome.quarantined == 1
    assert runner.checkpoint.items_done == 10
    (row,) = [r for r in runner.events.rows if r["kind"] == "quarantined"]
    assert row["message"].startswith("item 4: a field of the wrong type")


def test_many_unusable_answers_fail_the_pass_as_a_changed_api() -> None:
    spec = FakePass(items=[1, 2, 3, 4, 5], answers={i: [_unusable()] for i in (1, 2, 3)})
    with pytest.raises(TooManyQuarantinedError, match="3 of 5 answers"):
        FakeRunner(spec, checkpoint()).run()


def test_a_refused_row_costs_its_item_not_the_chunk() -> None:
    spec = FakePass(items=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], refuse={2})
    runner = FakeRunner(spec, checkpoint(), chunk_size=3)
    runner.run()
    assert spec.written == [1, 3, 4, 5, 6, 7, 8, 9, 10]
    assert spec.quarantined == [2]
    assert "the warehouse refused its rows" in runner.events.rows[0]["message"]


def test_negatives_that_contradict_stored_rows_wait_for_the_end_of_the_pass() -> None:
    spec = FakePass(items=[1, 2, 3, 4], negatives={3})
    runner = FakeRunner(spec, checkpoint())
    negatives = runner.run()
    assert spec.written == [1, 2, 4]
    assert [item for item, _ in negatives.waiting] == [3]
    assert negatives.answered == 4
    assert not negatives.suspect  # one of four: applied at the end
    assert spec.quarantined == [3]  # due again should the pass never end
    assert runner.checkpoint.items_done == 4


def test_negatives_for_most_of_a_pass_are_suspect() -> None:
    spec = FakePass(items=list(range(1, 11)), negatives={1, 2, 3})
    negatives = FakeRunner(spec, checkpoint(), chunk_size=4).run()
    assert negatives.suspect
    assert "3 of 10 answers (30%" in negatives.describe(spec)
