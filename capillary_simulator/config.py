"""What a simulator serves: data sizes and seed, network behaviour, and its credentials.

One frozen value describes a simulator completely, so two simulators built from equal
configs serve byte-identical bodies, and a config can cross a process boundary as JSON
(`to_json` / `from_json`) to start the server in a child process.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from typing import Any

# Credentials of a local simulator. They guard nothing real; they are fixed so that every
# process of a demo (CLI, Dagster webserver, daemon, run workers) can reach a shared one.
DEMO_USERNAME = "loyalty_sync_demo"
DEMO_PASSWORD = "simulator-demo-password"
DEMO_OAUTH_KEY = "loyalty-sync-demo-key"
DEMO_OAUTH_SECRET = "loyalty-sync-demo-secret"

DEFAULT_REFERENCE_DATE = date(2026, 11, 1)
# The identifier encodings leave room for this many orgs and customers per org.
MAX_ORGS = 40
MAX_CUSTOMERS_PER_ORG = 10_000_000
MAX_PROMOTIONS_PER_PROGRAM = 10_000


@dataclass(frozen=True)
class FaultSettings:
    """The network behaviour that `POST /_admin/faults` may change while the server runs."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    malformed_rate: float = 0.0
    # Share of requests answered 429 with `Retry-After: 1` whatever the pace: a limit
    # lower than the one configured, or one shared with another client of the key.
    throttle_rate: float = 0.0
    rate_limit_per_minute: int | None = None
    token_ttl_seconds: int = 3600
    # Customers every request about answers a server error, for good, until lifted: the
    # "a few items that never succeed" case a sync must survive without losing the rest.
    failing_customers: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("error_rate", "hang_rate", "malformed_rate", "throttle_rate"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {share}")
        if self.error_rate + self.hang_rate + self.malformed_rate > 1.0 + 1e-9:
            raise ValueError("error_rate + hang_rate + malformed_rate must not exceed 1")
        if self.latency_ms < 0 or self.jitter_ms < 0 or self.hang_seconds < 0:
            raise ValueError("latency_ms, jitter_ms and hang_seconds must not be negative")
        if self.rate_limit_per_minute is not None and self.rate_limit_per_minute < 0:
            raise ValueError("rate_limit_per_minute must not be negative")
        if self.token_ttl_seconds < 1:
            raise ValueError("token_ttl_seconds must be at least 1")

    @property
    def rate_limited(self) -> bool:
        return bool(self.rate_limit_per_minute)

    def updated(self, changes: dict[str, Any]) -> FaultSettings:
        """A copy with `changes` applied; unknown names raise ValueError."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        if "failing_customers" in changes:
            changes = {
                **changes,
                "failing_customers": tuple(map(int, changes["failing_customers"])),
            }
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything a simulator serves. The defaults are the small demo data set.

    Data (all derived from `seed`; see `data.py`):
    - `orgs`: org 0 is the credential's home org, every other org is connected to it.
    - `programs_per_org`: one count for every org, or one per org (the last repeats).
    - `customers_per_org`, `promotions_per_program`.
    - `holders_share`: chance that an ordinary customer holds a given promotion.
    - `heavy_customer_share`: customers (spread evenly) who hold every promotion of their
      org; with enough promotions they hold more than one promotionData page.
    - `unenrolled_share`: chance that a customer is not enrolled in a program
      (`loyaltyId -1`, zero points, still a tier).
    - `no_benefit_share`: chance that a held (customer, promotion) pair earned nothing
      (warning 8116).
    - `misconfigured_promotion`: plant one active promotion per org where every holder
      gets 8116.
    - `anomalies`: plant tier anomalies on a few customers (`planted_anomalies()`).
    - `unknown_roster_rows`: roster rows naming customers that do not exist (8015).
    - `reference_date`: "today" for every date in the data; the wall clock is never read.
    - `churn`: share of each org's customers changed per simulated day when
      `POST /_admin/advance` names none (`days.py`).

    Network: `latency_ms` +/- `jitter_ms`, `rate_limit_per_minute` per credential
    (None or 0: unlimited), shares of injected server errors, hangs of `hang_seconds`
    and malformed bodies, OAuth token lifetime.
    """

    seed: int = 20261101
    orgs: int = 2
    programs_per_org: int | tuple[int, ...] = (2, 1)
    customers_per_org: int = 15
    promotions_per_program: int = 5
    holders_share: float = 0.5
    heavy_customer_share: float = 0.0
    unenrolled_share: float = 0.15
    no_benefit_share: float = 0.2
    misconfigured_promotion: bool = True
    anomalies: bool = True
    unknown_roster_rows: int = 3
    reference_date: date = DEFAULT_REFERENCE_DATE
    churn: float = 0.05

    host: str = "127.0.0.1"
    port: int = 0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit_per_minute: int | None = None
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    malformed_rate: float = 0.0
    throttle_rate: float = 0.0
    token_ttl_seconds: int = 3600
    failing_customers: tuple[int, ...] = ()

    username: str = DEMO_USERNAME
    password: str = DEMO_PASSWORD
    oauth_key: str = DEMO_OAUTH_KEY
    oauth_secret: str = DEMO_OAUTH_SECRET

    def __post_init__(self) -> None:
        self._normalise()
        self.fault_settings()  # validates the network settings
        self._check_sizes()
        self._check_shares()

    def _normalise(self) -> None:
        """Lists and text from JSON as the types the fields hold."""
        if isinstance(self.programs_per_org, list):
            object.__setattr__(self, "programs_per_org", tuple(self.programs_per_org))
        object.__setattr__(self, "failing_customers", tuple(map(int, self.failing_customers)))
        if isinstance(self.reference_date, str):
            object.__setattr__(self, "reference_date", date.fromisoformat(self.reference_date))

    def _check_sizes(self) -> None:
        if not 1 <= self.orgs <= MAX_ORGS:
            raise ValueError(f"orgs must be between 1 and {MAX_ORGS}")
        counts = (
            self.programs_per_org
            if isinstance(self.programs_per_org, tuple)
            else (self.programs_per_org,)
        )
        if not counts or any(not 1 <= c <= 50 for c in counts):
            raise ValueError("every org needs between 1 and 50 programs")
        if not 1 <= self.customers_per_org <= MAX_CUSTOMERS_PER_ORG:
            raise ValueError(f"customers_per_org must be between 1 and {MAX_CUSTOMERS_PER_ORG}")
        if not 1 <= self.promotions_per_program <= MAX_PROMOTIONS_PER_PROGRAM:
            raise ValueError(
                f"promotions_per_program must be between 1 and {MAX_PROMOTIONS_PER_PROGRAM}"
            )

    def _check_shares(self) -> None:
        for name in ("holders_share", "heavy_customer_share", "unenrolled_share"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {share}")
        if not 0.0 <= self.no_benefit_share <= 1.0:
            raise ValueError("no_benefit_share must be between 0 and 1")
        if not 0.0 <= self.churn <= 1.0:
            raise ValueError(f"churn must be between 0 and 1, got {self.churn}")
        if self.unknown_roster_rows < 0:
            raise ValueError("unknown_roster_rows must not be negative")

    def program_counts(self) -> tuple[int, ...]:
        """Number of programs of each org, home org first."""
        if isinstance(self.programs_per_org, int):
            return (self.programs_per_org,) * self.orgs
        given = self.programs_per_org
        return tuple(given[min(i, len(given) - 1)] for i in range(self.orgs))

    def fault_settings(self) -> FaultSettings:
        """The network settings the server starts with."""
        return FaultSettings(**{f.name: getattr(self, f.name) for f in fields(FaultSettings)})

    def replace(self, **changes: Any) -> SimulatorConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reference_date"] = self.reference_date.isoformat()
        if isinstance(self.programs_per_org, tuple):
            data["programs_per_org"] = list(self.programs_per_org)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulatorConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown simulator settings: {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> SimulatorConfig:
        return cls.from_dict(json.loads(text))

    def basic_authorization(self) -> str:
        """The `Authorization` header value this simulator accepts."""
        return basic_authorization(self.username, self.password)

    def client_environment(self, base_url: str, org_ids: Iterable[int]) -> dict[str, str]:
        """The variables that point loyalty_sync at this simulator (Basic auth, `org_ids`).

        They are the Environment table's names (`loyalty_sync/capillary/config.py` names them); the
        tests and benchmarks that configure syncs through them keep the two in step.
        """
        return {
            "CAPILLARY_BASE_URL": base_url,
            "CAPILLARY_USERNAME": self.username,
            "CAPILLARY_PASSWORD": self.password,
            "CAPILLARY_ORG_IDS": ",".join(str(org_id) for org_id in org_ids),
        }


def basic_authorization(username: str, password: str) -> str:
    """Capillary's Basic scheme: base64 of `username:md5hex(password)`."""
    digest = hashlib.md5(password.encode()).hexdigest()
    token = base64.b64encode(f"{username}:{digest}".encode()).decode()
    return f"Basic {token}"
