"""Partition discovery: the org/program pairs that exist, from /v2/organization/programs."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty_sync.capillary.client import CapillaryClient
from loyalty_sync.warehouse.scope import partition_key


@dataclass(frozen=True)
class DiscoveredProgram:
    org_id: int
    program_id: int
    name: str | None

    @property
    def key(self) -> str:
        return partition_key(self.org_id, self.program_id)


def discover_programs(client: CapillaryClient, org_ids: list[int]) -> list[DiscoveredProgram]:
    """Every program of every configured org, in org then program order."""
    found: list[DiscoveredProgram] = []
    for org_id in org_ids:
        listing = client.programs(org_id)
        found.extend(
            DiscoveredProgram(org_id, p.program_id, p.program_name)
            for p in sorted(listing.programs, key=lambda p: p.program_id)
        )
    return found
