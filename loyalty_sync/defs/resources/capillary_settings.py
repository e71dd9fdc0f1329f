"""Checking and reading `CapillaryResource`'s fields, apart from the resource's lifecycle.

Every problem is found without I/O and reported at once, one line each naming the
variable to fix: a user who is told one mistake per attempt needs as many attempts as
there are mistakes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from loyalty_sync.capillary.auth import Credentials
from loyalty_sync.capillary.config import (
    ENV_BASE_URL,
    ENV_OAUTH_KEY,
    ENV_OAUTH_SECRET,
    ENV_ORG_IDS,
    ENV_PASSWORD,
    ENV_RATE_LIMIT,
    ENV_USERNAME,
    CapillaryConfigError,
    ResolvedSettings,
    check_base_url,
    check_benefits_api,
    parse_org_ids,
)
from loyalty_sync.defs.resources.env import resolved

if TYPE_CHECKING:
    from loyalty_sync.defs.resources.capillary import CapillaryResource

logger = logging.getLogger("loyalty_sync.capillary")

RATE_LIMIT_BACKENDS = ("postgres", "memory")
NO_HOST = (
    f"no Capillary host: set {ENV_BASE_URL}, or build the resource with "
    "capillary_resource_from_env, which points it at the bundled simulator"
)


def given_credentials(resource: CapillaryResource) -> Credentials:
    return Credentials(
        resolved(resource.username),
        resolved(resource.password),
        resolved(resource.oauth_key),
        resolved(resource.oauth_secret),
    )


def _problem(check: object, *args: object) -> list[str]:
    """[] when `check(*args)` passes; its message when it raises `CapillaryConfigError`."""
    try:
        check(*args)  # type: ignore[operator]
    except CapillaryConfigError as exc:
        return [str(exc)]
    return []


def _org_ids_or_none(text: str | None) -> tuple[int, ...] | None:
    """The org ids, or None when they do not parse (a problem reported on its own)."""
    try:
        return parse_org_ids(text)
    except CapillaryConfigError:
        return None


def _host_problems(resource: CapillaryResource) -> list[str]:
    """With a host set, the orgs to sync and a credential must be too."""
    if resource.base_url is None:
        return []
    problems = _problem(check_base_url, str(resource.base_url))
    if _org_ids_or_none(resource.org_ids) == ():
        problems.append(
            f"{ENV_BASE_URL} is set but {ENV_ORG_IDS} is not: list the org ids to "
            "sync, the credential's own org first"
        )
    if given_credentials(resource).kind == "none":
        problems.append(
            f"{ENV_BASE_URL} is set but no credentials are: set {ENV_OAUTH_KEY} and "
            f"{ENV_OAUTH_SECRET}, or {ENV_USERNAME} and {ENV_PASSWORD}"
        )
    return problems


def _limit_problems(resource: CapillaryResource) -> list[str]:
    problems: list[str] = []
    if resource.rate_limit_per_minute <= 0:
        problems.append(f"{ENV_RATE_LIMIT} must be a positive number of requests per minute")
    if resource.rate_limit_backend not in RATE_LIMIT_BACKENDS:
        problems.append("rate_limit_backend must be 'postgres' or 'memory'")
    if resource.max_concurrency < 1 or resource.max_attempts < 1 or resource.timeout_seconds <= 0:
        problems.append(
            "max_concurrency and max_attempts must be at least 1, timeout_seconds above 0"
        )
    return problems


def setting_problems(resource: CapillaryResource) -> list[str]:
    """What is wrong with the resource's settings, one line each; empty when they can work."""
    return [
        *_problem(parse_org_ids, resource.org_ids),
        *_problem(check_benefits_api, resource.benefits_api),
        *_host_problems(resource),
        *_limit_problems(resource),
    ]


def settings_of(resource: CapillaryResource) -> ResolvedSettings:
    """The host, orgs and credentials of a resource whose settings passed the checks."""
    if resource.base_url is None:
        raise CapillaryConfigError(NO_HOST)
    return ResolvedSettings(
        base_url=check_base_url(resource.base_url),
        simulator=resource.simulator,
        org_ids=parse_org_ids(resource.org_ids),
        credentials=given_credentials(resource),
    )


def announce(settings: ResolvedSettings, rate_limit_per_minute: int) -> None:
    """Log once per client what it talks to, so a demo is never mistaken for real data."""
    if settings.simulator:
        logger.info(
            "CAPILLARY_BASE_URL is not set: using the bundled Capillary simulator at %s "
            "(demo data, not a real tenant)",
            settings.base_url,
        )
        return
    logger.info(
        "Capillary API at %s (%s auth, orgs %s, %d requests/minute)",
        settings.base_url,
        settings.credentials.kind,
        ",".join(map(str, settings.org_ids)),
        rate_limit_per_minute,
    )
