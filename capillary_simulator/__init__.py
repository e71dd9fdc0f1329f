"""A stand-in for the Capillary API over real HTTP, for the demo, the tests and benchmarks.

It serves the endpoints loyalty_sync syncs from (customer lookup, loyalty details,
promotion lists, benefit summaries v2 and v3, programs, the promotion catalogue, OAuth
tokens) from deterministic seeded data of any size, with switches for latency, rate
limiting, server errors, hangs and malformed bodies, and admin endpoints under
`/_admin/`.
"""

from capillary_simulator.app import create_app
from capillary_simulator.config import (
    DEMO_OAUTH_KEY,
    DEMO_OAUTH_SECRET,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    FaultSettings,
    SimulatorConfig,
    basic_authorization,
)
from capillary_simulator.data import ANOMALY_KINDS, SimulatorDataset
from capillary_simulator.server import (
    RunningSimulator,
    SimulatorStartError,
    ensure_shared_simulator,
    start_simulator,
    stop_shared_simulator,
)

__all__ = [
    "ANOMALY_KINDS",
    "DEMO_OAUTH_KEY",
    "DEMO_OAUTH_SECRET",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "FaultSettings",
    "RunningSimulator",
    "SimulatorConfig",
    "SimulatorDataset",
    "SimulatorStartError",
    "basic_authorization",
    "create_app",
    "ensure_shared_simulator",
    "start_simulator",
    "stop_shared_simulator",
]
