"""Orgs and their loyalty programs: a handful of records, built once per data set.

Programs are numbered globally across orgs (home org first), so a program id alone tells
which org it belongs to. Each program gets a tier ladder (serial numbers 1..N, described
"Tier N") and its alternate currencies.
"""

from __future__ import annotations

from capillary_simulator import identifiers as ids
from capillary_simulator.config import SimulatorConfig
from capillary_simulator.records import Org, Program, Tier

ORG_BRANDS = ("DocDemo", "DocPartner", "DocOutlet", "DocFuel")
PROGRAM_NAMES = ("Rewards Club", "Partner Miles", "Staff Perks", "Fuel Points", "Kids Club")
LADDERS = (
    ("Bronze", "Silver", "Gold", "Diamond"),
    ("Topaz", "Coral", "Opal"),
    ("Blue", "Silver", "Gold", "Platinum", "Black"),
)
CURRENCY_SETS = (("DocCoin",), ("STARS", "COINS"), ("MILES",))


def build_program(o: int, brand: str, k: int, g: int, name: str | None = None) -> Program:
    """Program `k` of org index `o`, global number `g` (which fixes its id)."""
    if name is None:
        name = f"{brand} {PROGRAM_NAMES[k % len(PROGRAM_NAMES)]}"
        if k >= len(PROGRAM_NAMES):
            name += f" {k + 1}"
    ladder = LADDERS[g % len(LADDERS)]
    ratio = (1.0, 0.5, 0.25)[g % 3]
    return Program(
        program_id=ids.PROGRAM_ID_BASE + g,
        org_id=ids.org_id(o),
        org_index=o,
        index_in_org=k,
        global_index=g,
        name=name,
        description=f"{name} loyalty program of {brand}",
        points_to_currency_ratio=ratio,
        points_exchange_rate=1.0 / ratio,
        membership_period_value=(12, 24, 36)[k % 3],
        tiers=tuple(Tier(s + 1, n) for s, n in enumerate(ladder)),
        currencies=CURRENCY_SETS[g % len(CURRENCY_SETS)],
        is_default=k == 0,
    )


def build_orgs(config: SimulatorConfig) -> tuple[Org, ...]:
    orgs = []
    global_index = 0
    for o, count in enumerate(config.program_counts()):
        brand = ORG_BRANDS[o % len(ORG_BRANDS)]
        programs = []
        for k in range(count):
            programs.append(build_program(o, brand, k, global_index))
            global_index += 1
        orgs.append(Org(ids.org_id(o), o, brand, tuple(programs)))
    return tuple(orgs)
