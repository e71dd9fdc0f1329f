"""The Capillary settings a sync needs, checked without any I/O.

Plain functions and a frozen dataclass, so the client, the CLI and the Dagster resource
share one reading of the Environment table: one error message per mistake, naming the
variable to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from loyalty_sync.capillary.auth import Credentials

ENV_BASE_URL = "CAPILLARY_BASE_URL"
ENV_USERNAME = "CAPILLARY_USERNAME"
ENV_PASSWORD = "CAPILLARY_PASSWORD"
ENV_OAUTH_KEY = "CAPILLARY_OAUTH_KEY"
ENV_OAUTH_SECRET = "CAPILLARY_OAUTH_SECRET"
ENV_ORG_IDS = "CAPILLARY_ORG_IDS"
ENV_RATE_LIMIT = "CAPILLARY_RATE_LIMIT_PER_MINUTE"
ENV_BENEFITS_API = "CAPILLARY_BENEFITS_API"
ENV_RETRY_BUDGET = "CAPILLARY_RETRY_BUDGET_SECONDS"

BENEFITS_APIS = ("v3", "v2")


class CapillaryConfigError(ValueError):
    """The Capillary settings cannot work together; the message names the variable to fix."""


def parse_org_ids(text: str | None, source: str = ENV_ORG_IDS) -> tuple[int, ...]:
    """`"51135, 51136"` -> (51135, 51136); the first is the credential's own org."""
    if text is None or not text.strip():
        return ()
    ids: list[int] = []
    for part in text.split(","):
        item = part.strip()
        if not item:
            continue
        try:
            if not item.isascii():  # int() would read other scripts' digits
                raise ValueError(item)
            ids.append(int(item))
        except ValueError:
            raise CapillaryConfigError(
                f"{source} must be a comma-separated list of integer org ids; "
                f"{item!r} is not an integer"
            ) from None
    if any(i <= 0 for i in ids):
        raise CapillaryConfigError(f"{source}: org ids are positive integers")
    if len(set(ids)) != len(ids):
        raise CapillaryConfigError(f"{source} lists an org id twice")
    return tuple(ids)


def check_base_url(url: str) -> str:
    """`url` without its trailing slash, or an error naming the variable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CapillaryConfigError(
            f"{ENV_BASE_URL} must be an http(s) URL such as https://eu.api.capillarytech.com"
        )
    return url.rstrip("/")


def check_benefits_api(value: str) -> str:
    """The actionSummary flavour, `v3` or `v2`: checked once, where the setting is read."""
    if value not in BENEFITS_APIS:
        raise CapillaryConfigError(f"{ENV_BENEFITS_API} must be v3 or v2, not {value!r}")
    return value


@dataclass(frozen=True)
class ResolvedSettings:
    """The settings with defaults filled in (simulator, demo credentials)."""

    base_url: str
    simulator: bool
    org_ids: tuple[int, ...]
    credentials: Credentials

    @property
    def own_org_id(self) -> int | None:
        return self.org_ids[0] if self.org_ids else None
