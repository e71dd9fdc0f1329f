"""`CapillaryResource`: the Dagster face of the Capillary client, and a factory for it.

A small `ConfigurableResource` in the usual shape: plain fields with descriptions, secrets
from `EnvVar`, and one `CapillaryClient` (one pooled `httpx.Client`) held as a private
attribute for the resource's lifetime, made on first use and closed in
`teardown_after_execution`. The client's tuning fields are `ClientTuning`'s own, inherited
rather than restated, so run config shows them flat and a new one needs no change here.

Nothing here starts a process or calls a host when the resource is built or described:
the definitions choose the bundled simulator when they are built (`simulator.py`) and
hand this resource its address. Secret fields are left out of the resource's repr, which
is what Dagster and pydantic print.

It takes the warehouse as a resource dependency (`ResourceDependency`) rather than finding
a database on its own: the shared rate limit lives in the warehouse, so a warehouse set in
code and the limiter cannot end up on two databases.
"""

# No `from __future__ import annotations`: Dagster reads `ResourceDependency` from the
# evaluated annotation, and a string annotation makes pydantic reject the warehouse.

import logging
import threading
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from loyalty_sync.capillary.client import CapillaryClient, ClientSettings
from loyalty_sync.capillary.config import CapillaryConfigError, ResolvedSettings
from loyalty_sync.capillary.ratelimit import MemoryRateLimiter, RateLimiter, api_key_hash
from loyalty_sync.capillary.settings import ClientTuning
from loyalty_sync.capillary.stats import ClientStats
from loyalty_sync.defs.failures import reported_plainly
from loyalty_sync.defs.resources.capillary_settings import (
    announce,
    setting_problems,
    settings_of,
)
from loyalty_sync.defs.resources.simulator import running_simulator
from loyalty_sync.defs.resources.warehouse import WarehouseResource
from loyalty_sync.warehouse.rate_limits import PostgresRateLimiter
from loyalty_sync.warehouse.source import Source

logger = logging.getLogger("loyalty_sync.capillary")


class CapillaryResource(dg.ConfigurableResource, ClientTuning):
    """Capillary loyalty API: auth, shared rate limit, retries, pagination, typed answers."""

    base_url: str | None = Field(
        default=None,
        description=(
            "Capillary API host, e.g. https://eu.api.capillarytech.com (CAPILLARY_BASE_URL). "
            "Unset: the definitions point it at the bundled simulator, shared by local "
            "processes."
        ),
    )
    simulator: bool = Field(
        default=False,
        description="Set by the definitions when base_url is the bundled simulator's.",
    )
    username: str | None = Field(
        default=None,
        repr=False,
        description="Basic-auth user (till or API user), from CAPILLARY_USERNAME.",
    )
    password: str | None = Field(
        default=None,
        repr=False,
        description="Basic-auth password, from CAPILLARY_PASSWORD; sent only as its MD5 digest.",
    )
    oauth_key: str | None = Field(
        default=None,
        repr=False,
        description="OAuth client key, from CAPILLARY_OAUTH_KEY; preferred over Basic when set.",
    )
    oauth_secret: str | None = Field(
        default=None,
        repr=False,
        description="OAuth client secret, from CAPILLARY_OAUTH_SECRET.",
    )
    org_ids: str | None = Field(
        default=None,
        description=(
            "Comma-separated org ids (CAPILLARY_ORG_IDS): the credential's own org first, "
            "then connected orgs, reached with DATA-SCOPE headers. Required with base_url."
        ),
    )
    rate_limit_per_minute: int = Field(
        default=100,
        description=(
            "Requests per minute allowed for this API key (CAPILLARY_RATE_LIMIT_PER_MINUTE), "
            "held across every concurrent run and process."
        ),
    )
    rate_limit_backend: str = Field(
        default="postgres",
        description=(
            "'postgres': the limit is shared through the warehouse by all processes; "
            "'memory': per process only (tests, or when runs never overlap)."
        ),
    )
    warehouse: dg.ResourceDependency[WarehouseResource] = Field(
        description=(
            "The warehouse whose `api_rate_limits` table holds the shared rate limit, so the "
            "limit and the data can never point at two databases."
        ),
    )
    benefits_api: str = Field(
        default="v3",
        description="actionSummary flavour (CAPILLARY_BENEFITS_API): v3 by customer id, v2 by "
        "identifier.",
    )

    _client: CapillaryClient | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    # --- settings ------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """What is wrong with the settings, one line each; empty when they can work."""
        return setting_problems(self)

    def validate_settings(self) -> None:
        """Raise `CapillaryConfigError` naming every setting that cannot work, one a line,
        without any I/O: a user fixes them all in one go, not one per attempt."""
        problems = self.problems()
        if problems:
            raise CapillaryConfigError("\n".join(problems))

    def resolved_settings(self) -> ResolvedSettings:
        """The host, orgs and credentials this resource uses, checked."""
        self.validate_settings()
        return settings_of(self)

    def describe(self) -> dict[str, Any]:
        """What this resource talks to, for logs and metadata; never a credential."""
        settings = self.resolved_settings()
        return {
            "capillary_endpoint": (
                f"bundled simulator at {settings.base_url}"
                if settings.simulator
                else settings.base_url
            ),
            "capillary_simulator": settings.simulator,
            "capillary_auth": settings.credentials.kind,
            "capillary_org_ids": list(settings.org_ids),
            "capillary_rate_limit_per_minute": self.rate_limit_per_minute,
            "capillary_rate_limit_backend": self.rate_limit_backend,
            "capillary_benefits_api": self.benefits_api,
        }

    def source(self) -> Source:
        """Where this resource syncs from, as the warehouse records it (`sync_source`)."""
        settings = self.resolved_settings()
        return Source(settings.base_url, settings.org_ids, settings.simulator)

    def shared_simulator(self) -> dict[str, Any] | None:
        """The shared simulator's state (base URL, pid) when this resource uses it and it
        runs, so the CLI can say it keeps running after a sync."""
        return running_simulator() if self.simulator else None

    def org_id_list(self) -> list[int]:
        """Configured orgs (or the simulator's), the credential's own org first."""
        return list(self.resolved_settings().org_ids)

    # --- lifecycle -----------------------------------------------------------------------

    def _build_limiter(self, settings: ResolvedSettings) -> RateLimiter:
        key = api_key_hash(settings.base_url, settings.credentials.principal)
        if self.rate_limit_backend == "memory":
            return MemoryRateLimiter.shared(key, self.rate_limit_per_minute)
        return PostgresRateLimiter(
            self.rate_limit_per_minute, key, engine=self.warehouse.get_engine()
        )

    def get_client(self) -> CapillaryClient:
        """The resource's client, created on first use; thread-safe and shared by all callers."""
        with self._lock:
            if self._client is None:
                settings = self.resolved_settings()
                self._client = CapillaryClient(
                    ClientSettings(
                        base_url=settings.base_url,
                        own_org_id=settings.own_org_id,
                        **self.tuning(),
                    ),
                    settings.credentials,
                    self._build_limiter(settings),
                    stats=ClientStats(),
                )
                announce(settings, self.rate_limit_per_minute)
            return self._client

    def stats_snapshot(self) -> dict[str, Any]:
        """The client's counters (zeros before the first call)."""
        return self._client.stats.snapshot() if self._client else ClientStats().snapshot()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Say what the run talks to. The client (and its warehouse connection) is made on
        first use, inside a step, where a connection error becomes the step's one-line
        failure rather than a resource initialisation traceback."""
        with reported_plainly():
            description = self.describe()
        if context.log is None:
            return
        # INFO, not WARNING: sensors set the resource up at every tick, and a warning
        # repeated every few minutes about a choice made on purpose is noise. The
        # metadata and the CLI say it is the simulator.
        endpoint = description["capillary_endpoint"]
        if description["capillary_simulator"]:
            context.log.info(f"Capillary: {endpoint} (CAPILLARY_BASE_URL unset)")
        else:
            context.log.info(f"Capillary: {endpoint} ({description['capillary_auth']} auth)")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()
