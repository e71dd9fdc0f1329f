"""Simulators for tests, by preset: one table of the data shapes the suite syncs.

A preset names what a test needs from the data (two orgs, paging, one org of a hundred
customers...), so a test reads `serve_simulator("paging")` and its expectations follow from
the preset's figures. Tests vary a preset with keyword changes (`latency_ms=400`) rather
than writing a config of their own; the seeds are fixed, so a preset's rows are the same
on every run. `synced_warehouse.py` builds databases synced from these simulators.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from capillary_simulator import SimulatorConfig, start_simulator
from capillary_simulator.server import RunningSimulator

PRESETS: dict[str, SimulatorConfig] = {
    # The simulator `loyalty-sync simulator` serves with no options.
    "defaults": SimulatorConfig(),
    # Two orgs, three partitions; enough holders that promotions differ in what they give.
    "two_orgs": SimulatorConfig(
        seed=23,
        customers_per_org=16,
        programs_per_org=(2, 1),
        promotions_per_program=8,
        holders_share=0.5,
        unknown_roster_rows=1,
    ),
    # Two orgs and three partitions with the fewest rows: a sync of a few seconds.
    "tiny": SimulatorConfig(seed=17, customers_per_org=3, programs_per_org=(2, 1)),
    # Two orgs, a few more customers: syncs run twice and compared.
    "small": SimulatorConfig(seed=5, customers_per_org=8, programs_per_org=(2, 1)),
    # Two orgs, few customers: the production topology's processes sync it quickly.
    "topology": SimulatorConfig(seed=31, customers_per_org=6, programs_per_org=(2, 1)),
    # Small and quick, for the simulator's own serving: tokens, limits, faults.
    "serving": SimulatorConfig(seed=11, customers_per_org=6, promotions_per_program=3),
    # As "serving", another seed: servers of other data.
    "serving_small": SimulatorConfig(seed=3, customers_per_org=8, promotions_per_program=4),
    # Few customers: processes share one key's limit, set by the test.
    "shared_limit": SimulatorConfig(seed=5, customers_per_org=5),
    # One org, one program: a credential of a single org.
    "one_org": SimulatorConfig(seed=3, orgs=1, customers_per_org=6),
    # Many promotions and some heavy customers: promotionData and the catalogue page.
    "paging": SimulatorConfig(
        seed=11,
        customers_per_org=30,
        programs_per_org=(2, 1),
        promotions_per_program=60,
        heavy_customer_share=0.1,
    ),
    # As "paging", with roster rows Capillary does not know: the simulator's endpoints.
    "endpoints": SimulatorConfig(
        seed=7,
        customers_per_org=24,
        programs_per_org=(2, 1),
        promotions_per_program=55,
        heavy_customer_share=0.125,
        unknown_roster_rows=4,
    ),
    # Paging with few holders: a whole sync's pages, quickly.
    "paging_sync": SimulatorConfig(
        seed=7,
        customers_per_org=12,
        programs_per_org=(2, 1),
        promotions_per_program=60,
        holders_share=0.05,
        heavy_customer_share=0.1,
        unknown_roster_rows=2,
    ),
    # Anomalies planted by the simulator for the checks to find, dated today.
    "planted": SimulatorConfig(
        seed=11,
        customers_per_org=18,
        programs_per_org=(2, 1),
        promotions_per_program=8,
        holders_share=0.6,
        unknown_roster_rows=0,
        reference_date=date.today(),
    ),
    # Nothing for a check to find: no anomalies, no misconfigured promotion, no unknowns.
    "clean": SimulatorConfig(
        seed=23,
        customers_per_org=9,
        programs_per_org=(2, 1),
        promotions_per_program=3,
        anomalies=False,
        misconfigured_promotion=False,
        unknown_roster_rows=0,
    ),
    # Processes racing over a little data, each answer a little late.
    "concurrent": SimulatorConfig(
        seed=11,
        customers_per_org=8,
        programs_per_org=(2, 1),
        promotions_per_program=4,
        latency_ms=10,
    ),
    # One org, one program, unknown roster rows: what retention keeps and drops.
    "retention": SimulatorConfig(
        seed=5,
        orgs=1,
        customers_per_org=12,
        programs_per_org=(1,),
        promotions_per_program=4,
        holders_share=0.5,
        unknown_roster_rows=3,
    ),
    # One org of a hundred customers: chunks enough for a kill to land between them.
    "kills": SimulatorConfig(
        seed=23,
        orgs=1,
        programs_per_org=2,
        customers_per_org=100,
        promotions_per_program=6,
        unknown_roster_rows=3,
    ),
    # One org of forty customers in two programs: enough rows for the drop guard to judge.
    "guards": SimulatorConfig(seed=31, orgs=1, programs_per_org=2, customers_per_org=40),
    # One org, two programs, a known roster: the change signals, day by day.
    "change_driven": SimulatorConfig(
        seed=11,
        orgs=1,
        customers_per_org=30,
        programs_per_org=(2,),
        promotions_per_program=8,
        holders_share=0.4,
        unknown_roster_rows=0,
    ),
    # One partition of thirty customers, behind a proxy that rewrites answers.
    "one_partition": SimulatorConfig(
        seed=41,
        orgs=1,
        programs_per_org=1,
        customers_per_org=30,
        promotions_per_program=4,
        unknown_roster_rows=0,
    ),
    "one_partition_tiny": SimulatorConfig(
        seed=5, orgs=1, programs_per_org=1, customers_per_org=6, promotions_per_program=3
    ),
    # Enough customers that a share of a day's churn is measurable.
    "days": SimulatorConfig(seed=11, customers_per_org=150, promotions_per_program=12),
}


def preset(name: str, **changes: Any) -> SimulatorConfig:
    """The config of preset `name`, with `changes` (fields of `SimulatorConfig`)."""
    config = PRESETS[name]
    return config.replace(**changes) if changes else config


def serve_simulator(
    config: str | SimulatorConfig = "two_orgs", *, in_thread: bool = False, **changes: Any
) -> RunningSimulator:
    """A simulator of a preset (or a config built from one) serving on a free port.

    Use it in a `with` block, or call `stop()`. In a child process by default; `in_thread`
    serves from this process, so a test can read the live `dataset`.
    """
    if isinstance(config, str):
        config = preset(config)
    if changes:
        config = config.replace(**changes)
    return start_simulator(config, in_thread=in_thread)
