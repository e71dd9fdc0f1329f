"""Wrong answers never delete or null stored rows; a later correct sync makes it whole.

A rewriting proxy stands between the sync and the simulator: the warehouse is synced
through it with good answers, then with wrong ones, then with good ones again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from capillary_simulator.server import RunningSimulator
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.factories import preset, serve_simulator
from loyalty_sync_tests.rewriting_proxy import Rewrite, RewritingProxy, each_object_with
from loyalty_sync_tests.warehouse_content import content

# slow: syncs through the CLI as processes
pytestmark = pytest.mark.slow

CONFIG = preset("guards")
COMMAND = [sys.executable, "-m", "loyalty_sync.cli", "sync", "--no-progress"]


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda node: node.pop(key, None)


def _null(field: str) -> Callable[[dict[str, Any]], None]:
    def change(node: dict[str, Any]) -> None:
        for detail in node.get("loyaltyProgramDetails") or []:
            detail[field] = None

    return change


def _empty(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda node: node.__setitem__(key, [])


WRONG: dict[str, tuple[str, Rewrite, str]] = {
    "lookup without loyaltyProgramDetails": (
        "customerDetails",
        each_object_with("loyaltyProgramDetails", _drop("loyaltyProgramDetails")),
        "lacks loyaltyProgramDetails",
    ),
    "loyaltyPoints null in every program detail": (
        "customerDetails",
        each_object_with("loyaltyProgramDetails", _null("loyaltyPoints")),
        "lacks loyaltyPoints",
    ),
    "promotionData empty for everyone": (
        "promotionData",
        each_object_with("promotions", _empty("promotions")),
        "promotion",
    ),
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    with serve_simulator(CONFIG) as running:
        yield running


@pytest.mark.parametrize("case", list(WRONG))
def test_a_wrong_answer_deletes_and_nulls_nothing_and_a_good_one_mends_it(
    simulator: RunningSimulator,
    server_admin_url: str,
    template_url: str,
    tmp_path: Path,
    case: str,
) -> None:
    fragment, rewrite, reported = WRONG[case]
    url = new_database(server_admin_url)
    engine = sa.create_engine(url)
    roster = tmp_path / "roster.csv"
    roster.write_text(simulator.roster_csv())
    import_roster(engine, roster)
    with RewritingProxy(simulator.base_url).running() as proxy:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")},
            **simulator.client_environment(),
            "CAPILLARY_BASE_URL": proxy.base_url,
            "CAPILLARY_RATE_LIMIT_PER_MINUTE": "600000",
            "LOYALTY_SYNC_DATABASE_URL": url,
            "DAGSTER_HOME": str(tmp_path / "dagster"),
        }

        def sync() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                COMMAND, env=env, capture_output=True, text=True, timeout=600, check=False
            )

        good = sync()
        assert good.returncode == 0, good.stdout + good.stderr
        before = content(engine)
        assert before["loyalty_program_details"] and before["customer_promotions"]
        proxy.rewrites[fragment] = rewrite
        wrong = sync()
        assert wrong.returncode in (0, 1), wrong.stdout + wrong.stderr
        assert content(engine) == before, "a wrong answer changed stored rows"
        with engine.connect() as conn:
            messages = list(
                conn.scalars(
                    sa.select(tables.api_events.c.message).where(
                        tables.api_events.c.message.is_not(None)
                    )
                )
            )
        assert any(reported in m for m in messages), messages[-5:]
        proxy.rewrites.clear()
        mended = sync()
        assert mended.returncode == 0, mended.stdout + mended.stderr
        assert content(engine) == before
    engine.dispose()
