"""`CapillaryResource`: the Dagster face of the Capillary client.

A small `ConfigurableResource` in the usual shape: plain fields with descriptions, secrets
from `EnvVar`, and one `CapillaryClient` (one pooled `httpx.Client`) held as a private
attribute for the resource's lifetime, opened in `setup_for_execution` (or on first use
outside Dagster) and closed in `teardown_after_execution`. With no base URL it points at
the bundled simulator and says so in logs and metadata, so a demo is never mistaken for a
sync of real data. Secret fields are left out of the resource's repr, which is what Dagster
and pydantic print.

It takes the warehouse as a resource dependency (`ResourceDependency`) rather than finding
a database on its own: the shared rate limit lives in the warehouse, so a warehouse set in
code and the limiter cannot end up on two databases.
"""

# No `from __future__ import annotations`: Dagster reads `ResourceDependency` from the
# evaluated annotation, and a string annotation makes pydantic reject the warehouse.

import logging
import threading
from collections.abc import Callable
from typing import Any

import dagster as dg
import httpx
from pydantic import Field, PrivateAttr

from loyalty_sync.capillary.auth import Credentials
from loyalty_sync.capillary.client import CapillaryClient, ClientSettings
from loyalty_sync.capillary.config import (
    ENV_BASE_URL,
    ENV_BENEFITS_API,
    ENV_OAUTH_KEY,
    ENV_OAUTH_SECRET,
    ENV_ORG_IDS,
    ENV_PASSWORD,
    ENV_RATE_LIMIT,
    ENV_RETRY_BUDGET,
    ENV_USERNAME,
    CapillaryConfigError,
    ResolvedSettings,
    check_base_url,
    check_benefits_api,
    parse_org_ids,
)
from loyalty_sync.capillary.ratelimit import MemoryRateLimiter, RateLimiter, api_key_hash
from loyalty_sync.capillary.stats import ClientStats
from loyalty_sync.defs.failures import reported_plainly
from loyalty_sync.defs.resources.env import env_text, env_var_or_none, resolved
from loyalty_sync.defs.resources.warehouse import WarehouseResource
from loyalty_sync.warehouse.rate_limits import PostgresRateLimiter
from loyalty_sync.warehouse.source import Source

logger = logging.getLogger("loyalty_sync.capillary")

RATE_LIMIT_BACKENDS = ("postgres", "memory")


class CapillaryResource(dg.ConfigurableResource):
    """Capillary loyalty API: auth, shared rate limit, retries, pagination, typed answers."""

    base_url: str | None = Field(
        default=None,
        description=(
            "Capillary API host, e.g. https://eu.api.capillarytech.com (CAPILLARY_BASE_URL). "
            "Unset: the bundled simulator, started on demand and shared by local processes."
        ),
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
    max_concurrency: int = Field(
        default=16,
        description="Threads making calls at once, so latency does not cap throughput.",
    )
    timeout_seconds: float = Field(
        default=10.0,
        description="Seconds to wait for a connection or for the next bytes of an answer.",
    )
    request_deadline_seconds: float = Field(
        default=60.0,
        description=(
            "Seconds one attempt may take in all, from sending the request to the last byte "
            "of the answer; past it the attempt fails as a timeout and is retried. Bounds a "
            "server that keeps a call open by sending a byte now and then, which the "
            "per-read timeout_seconds never catches."
        ),
    )
    max_attempts: int = Field(
        default=100, description="Attempts per call at most, within its retry budget."
    )
    retry_budget_seconds: float = Field(
        default=300.0,
        description="How long one call keeps retrying transient failures (5xx, 429, timeouts, "
        "broken bodies) before it is set aside: long enough to wait out an outage of minutes.",
    )
    backoff_initial_seconds: float = Field(
        default=0.5, description="First retry pause; doubles per attempt, with jitter."
    )
    backoff_max_seconds: float = Field(default=30.0, description="Longest retry pause.")
    promotion_data_max_pages: int = Field(
        default=50,
        description="promotionData pages (of 100) one customer may take; a customer whose "
        "answer goes on past them is quarantined (recorded, rows kept, asked again next sync).",
    )

    _client: CapillaryClient | None = PrivateAttr(default=None)
    _settings: ResolvedSettings | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    # --- settings ------------------------------------------------------------------------

    def validate_settings(self) -> None:
        """Raise `CapillaryConfigError` naming every setting that cannot work, one a line,
        without any I/O: a user fixes them all in one go, not one per attempt."""
        problems = self.problems()
        if problems:
            raise CapillaryConfigError("\n".join(problems))

    def problems(self) -> list[str]:
        """What is wrong with the settings, one line each; empty when they can work."""
        problems: list[str] = []

        def check(test: Callable[[], object]) -> None:
            try:
                test()
            except CapillaryConfigError as exc:
                problems.append(str(exc))

        org_ids: tuple[int, ...] | None = None
        try:
            org_ids = parse_org_ids(self.org_ids)
        except CapillaryConfigError as exc:
            problems.append(str(exc))
        check(lambda: check_benefits_api(self.benefits_api))
        if self.base_url is not None:
            check(lambda: check_base_url(str(self.base_url)))
            if org_ids == ():
                problems.append(
                    f"{ENV_BASE_URL} is set but {ENV_ORG_IDS} is not: list the org ids to "
                    "sync, the credential's own org first"
                )
            if self._given_credentials().kind == "none":
                problems.append(
                    f"{ENV_BASE_URL} is set but no credentials are: set {ENV_OAUTH_KEY} and "
                    f"{ENV_OAUTH_SECRET}, or {ENV_USERNAME} and {ENV_PASSWORD}"
                )
        if self.rate_limit_per_minute <= 0:
            problems.append(f"{ENV_RATE_LIMIT} must be a positive number of requests per minute")
        if self.rate_limit_backend not in RATE_LIMIT_BACKENDS:
            problems.append("rate_limit_backend must be 'postgres' or 'memory'")
        if self.max_concurrency < 1 or self.max_attempts < 1 or self.timeout_seconds <= 0:
            problems.append(
                "max_concurrency and max_attempts must be at least 1, timeout_seconds above 0"
            )
        return problems

    def _given_credentials(self) -> Credentials:
        return Credentials(
            resolved(self.username),
            resolved(self.password),
            resolved(self.oauth_key),
            resolved(self.oauth_secret),
        )

    def resolved_settings(self) -> ResolvedSettings:
        """Settings with the simulator and its demo credentials filled in where unset."""
        if self._settings is not None:
            return self._settings
        self.validate_settings()
        if self.base_url is not None:
            settings = ResolvedSettings(
                base_url=check_base_url(self.base_url),
                simulator=False,
                org_ids=parse_org_ids(self.org_ids),
                credentials=self._given_credentials(),
            )
        else:
            settings = self._simulator_settings()
        self._settings = settings
        return settings

    def _simulator_settings(self) -> ResolvedSettings:
        import capillary_simulator as simulator
        from loyalty_sync.settings import home_dir

        base_url = simulator.ensure_shared_simulator(home_dir())
        given = self._given_credentials()
        credentials = (
            given
            if given.kind != "none"
            else Credentials(
                simulator.DEMO_USERNAME,
                simulator.DEMO_PASSWORD,
                simulator.DEMO_OAUTH_KEY,
                simulator.DEMO_OAUTH_SECRET,
            )
        )
        org_ids = parse_org_ids(self.org_ids) or _simulator_org_ids(base_url)
        return ResolvedSettings(
            base_url=base_url.rstrip("/"),
            simulator=True,
            org_ids=org_ids,
            credentials=credentials,
        )

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
        import capillary_simulator as simulator
        from loyalty_sync.settings import home_dir

        if not self.resolved_settings().simulator:
            return None
        return simulator.server.running_shared_simulator(home_dir())

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
                        timeout_seconds=self.timeout_seconds,
                        request_deadline_seconds=self.request_deadline_seconds,
                        max_attempts=self.max_attempts,
                        retry_budget_seconds=self.retry_budget_seconds,
                        max_concurrency=self.max_concurrency,
                        backoff_initial_seconds=self.backoff_initial_seconds,
                        backoff_max_seconds=self.backoff_max_seconds,
                        promotion_data_max_pages=self.promotion_data_max_pages,
                    ),
                    settings.credentials,
                    self._build_limiter(settings),
                    stats=ClientStats(),
                )
                self._announce(settings)
            return self._client

    def _announce(self, settings: ResolvedSettings) -> None:
        if settings.simulator:
            logger.info(
                "CAPILLARY_BASE_URL is not set: using the bundled Capillary simulator at %s "
                "(demo data, not a real tenant)",
                settings.base_url,
            )
        else:
            logger.info(
                "Capillary API at %s (%s auth, orgs %s, %d requests/minute)",
                settings.base_url,
                settings.credentials.kind,
                ",".join(map(str, settings.org_ids)),
                self.rate_limit_per_minute,
            )

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
        if context.log is not None:
            # INFO, not WARNING: sensors set the resource up at every tick, and a warning
            # repeated every few minutes about a choice made on purpose is noise. The
            # metadata and the CLI say it is the simulator.
            if description["capillary_simulator"]:
                context.log.info(
                    f"Capillary: {description['capillary_endpoint']} (CAPILLARY_BASE_URL unset)"
                )
            else:
                context.log.info(
                    f"Capillary: {description['capillary_endpoint']} "
                    f"({description['capillary_auth']} auth)"
                )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()


def _simulator_org_ids(base_url: str) -> tuple[int, ...]:
    """The simulator's orgs, home org first, from its health answer."""
    health = httpx.get(f"{base_url.rstrip('/')}/_admin/health", timeout=10.0).json()
    return tuple(int(org_id) for org_id in health["orgIds"])


def capillary_resource_from_env(
    warehouse: WarehouseResource, **overrides: Any
) -> CapillaryResource:
    """The resource as the Environment table describes it, validated now.

    Secrets are passed as `EnvVar` so Dagster resolves them in each run process and shows
    only their names. `overrides` set any other field (e.g. `rate_limit_backend`).
    """
    values: dict[str, Any] = {
        "warehouse": warehouse,
        "base_url": env_text(ENV_BASE_URL),
        "org_ids": env_text(ENV_ORG_IDS),
        "benefits_api": (env_text(ENV_BENEFITS_API) or "v3").lower(),
        "username": env_var_or_none(ENV_USERNAME),
        "password": env_var_or_none(ENV_PASSWORD),
        "oauth_key": env_var_or_none(ENV_OAUTH_KEY),
        "oauth_secret": env_var_or_none(ENV_OAUTH_SECRET),
    }
    problems: list[str] = []
    limit = env_text(ENV_RATE_LIMIT)
    if limit is not None:
        try:
            values["rate_limit_per_minute"] = int(limit)
        except ValueError:
            problems.append(f"{ENV_RATE_LIMIT} must be an integer, not {limit!r}")
    budget = env_text(ENV_RETRY_BUDGET)
    if budget is not None:
        try:
            values["retry_budget_seconds"] = float(budget)
        except ValueError:
            problems.append(f"{ENV_RETRY_BUDGET} must be a number of seconds, not {budget!r}")
    values.update(overrides)
    resource = CapillaryResource(**values)
    problems += resource.problems()
    if problems:
        raise CapillaryConfigError("\n".join(problems))
    return resource
