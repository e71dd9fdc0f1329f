"""Asset checks, one module per family; the rules they run are plain SQL in `checks/`.

The blocking checks run right after their asset, since the next pass waits on them. The
others run once the API passes are done: a run executes one step at a time, and a check
querying the warehouse between two passes would leave the rate-limit budget idle.

Each check judges the partitions of its run (all known partitions when run on its own from
the UI), reads only the warehouse, and reports counts, shares and the offending rows as
metadata, so nobody needs SQL to act on a result. The table of checks, severities and
what blocks is in docs/operating.md, "Asset checks" (a test holds it to these
definitions).

Why only the customers pass's drops block: that pass decides who exists for every later
one. The promotions pass walks the customers that were found, the benefits pass asks for
the enrolled customers in loyalty_program_details, and both then delete the partition's
rows that were not served again. A sudden drop there (a truncated roster, lookups lost to
an outage or a changed identifier source) would cascade into deleting the promotions and
benefits of customers who still have them; blocking keeps the last good downstream data
until someone has looked, and re-running accepts a genuine drop (see `sync_health.py`).
Drops further down usually follow an upstream one, already blocked once, or a change
Capillary made to its promotions; blocking them too would make one genuine drop block
once per pass, so they warn. Tier anomalies and 8116 shares describe Capillary's own data
faithfully copied: blocking would freeze every other customer's benefits without fixing
anything, so they are reported, ERROR for impossible states, WARN for suspicious ones.

Thresholds are run config of each check's op, e.g. in the launchpad:
`ops: {benefit_summaries_no_benefits_share: {config: {max_share: 0.6}}}`; op names are
`<asset>_<check>` and `tier_anomalies` for the seven tier checks.
"""

from typing import Any

from loyalty_sync.defs.checks.drift import DRIFT_CHECKED, drift_checks
from loyalty_sync.defs.checks.no_benefits import no_benefits_share
from loyalty_sync.defs.checks.partitions_fresh import partitions_fresh
from loyalty_sync.defs.checks.row_count_drop import DROP_CHECKED, row_count_drop_checks
from loyalty_sync.defs.checks.tier_anomalies import TIER_CHECKS, tier_anomalies

capillary_checks: list[Any] = [
    no_benefits_share,
    tier_anomalies,
    partitions_fresh,
    *row_count_drop_checks,
    *drift_checks,
]

__all__ = [
    "DRIFT_CHECKED",
    "DROP_CHECKED",
    "TIER_CHECKS",
    "capillary_checks",
    "drift_checks",
    "no_benefits_share",
    "partitions_fresh",
    "row_count_drop_checks",
    "tier_anomalies",
]
