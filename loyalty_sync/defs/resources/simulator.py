"""The bundled simulator, chosen when the definitions are built with no Capillary host.

The choice is made once, by the code that builds the definitions, and handed to the
resource as ordinary fields (its address, its orgs, the demo credentials): a resource
that is described, set up for a sensor tick or copied by Dagster never starts a process
or calls a host on its own. The simulator is shared by every process using the same
home, so each process that builds the definitions finds the one already running.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from loyalty_sync.capillary.config import parse_org_ids


def _simulator_org_ids(base_url: str) -> tuple[int, ...]:
    """The simulator's orgs, home org first, from its health answer."""
    health = httpx.get(f"{base_url}/_admin/health", timeout=10.0).json()
    return tuple(int(org_id) for org_id in health["orgIds"])


def bundled_simulator(org_ids: str | None, has_credentials: bool) -> dict[str, Any]:
    """Resource fields that point at the shared simulator of this home, started if needed.

    Orgs and credentials that were given are kept (a test may name one org); the rest
    are the simulator's own: all its orgs, and demo credentials of both kinds.
    """
    import capillary_simulator as simulator
    from loyalty_sync.settings import home_dir

    base_url = simulator.ensure_shared_simulator(home_dir()).rstrip("/")
    orgs = parse_org_ids(org_ids) or _simulator_org_ids(base_url)
    fields: dict[str, Any] = {
        "base_url": base_url,
        "simulator": True,
        "org_ids": ",".join(map(str, orgs)),
    }
    if not has_credentials:
        fields |= {
            "username": simulator.DEMO_USERNAME,
            "password": simulator.DEMO_PASSWORD,
            "oauth_key": simulator.DEMO_OAUTH_KEY,
            "oauth_secret": simulator.DEMO_OAUTH_SECRET,
        }
    return fields


def running_simulator() -> dict[str, Any] | None:
    """The state (base URL, pid) of this home's shared simulator if it runs, else None."""
    from capillary_simulator.server import running_shared_simulator
    from loyalty_sync.settings import home_dir

    return running_shared_simulator(home_dir())


def started_here(state: dict[str, Any]) -> bool:
    """Whether this process started the shared simulator `state` describes.

    Recorded by the starter itself: two syncs started at once both see no simulator
    before building their definitions, and only one of them started the one they share.
    """
    return state.get("started_by") == os.getpid()


def stop_simulator_if_unused() -> None:
    """Stop this home's shared simulator if this process started it and uses it alone.

    For a sync refused before its first call: a refusal changes nothing, and a detached
    server left listening behind a one-line error is a change nobody asked for. One that
    another process started, or another sync started at the same moment holds, keeps
    running.
    """
    from capillary_simulator.server import stop_unused_shared_simulator
    from loyalty_sync.settings import home_dir

    stop_unused_shared_simulator(home_dir())
