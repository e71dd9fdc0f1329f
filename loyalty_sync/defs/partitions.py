"""Partitions: one per org/program pair, keyed `ORG-PROGRAM` (e.g. `51135-2568`).

A dynamic definition rather than a Static x Dynamic multi-partition: the cross product
would show every program under every org, most of them not real. Keys are added by the
partition discovery sensor and by `loyalty-sync sync` from /v2/organization/programs.
"""

from __future__ import annotations

import dagster as dg

ORG_PROGRAM_PARTITIONS = "org_program"

org_program_partitions = dg.DynamicPartitionsDefinition(name=ORG_PROGRAM_PARTITIONS)
