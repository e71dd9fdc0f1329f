"""`CapillaryResource` as the Environment table describes it: the definitions' wiring.

Secrets are passed as `EnvVar`, so Dagster resolves them in each run process and shows
only their names. With `CAPILLARY_BASE_URL` unset this is where the bundled simulator is
chosen, once every other setting is known to be valid, so a mistake is reported before
any process starts.
"""

from __future__ import annotations

from typing import Any

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
)
from loyalty_sync.defs.resources.capillary import CapillaryResource
from loyalty_sync.defs.resources.capillary_settings import given_credentials
from loyalty_sync.defs.resources.env import env_text, env_var_or_none
from loyalty_sync.defs.resources.simulator import bundled_simulator
from loyalty_sync.defs.resources.warehouse import WarehouseResource


def _number(name: str, kind: type[int] | type[float], what: str, problems: list[str]) -> Any:
    """The variable as a number, None when unset; a bad value adds a line to `problems`."""
    text = env_text(name)
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        problems.append(f"{name} must be {what}, not {text!r}")
        return None


def _fields_from_env(problems: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "base_url": env_text(ENV_BASE_URL),
        "org_ids": env_text(ENV_ORG_IDS),
        "benefits_api": (env_text(ENV_BENEFITS_API) or "v3").lower(),
        "username": env_var_or_none(ENV_USERNAME),
        "password": env_var_or_none(ENV_PASSWORD),
        "oauth_key": env_var_or_none(ENV_OAUTH_KEY),
        "oauth_secret": env_var_or_none(ENV_OAUTH_SECRET),
        "rate_limit_per_minute": _number(ENV_RATE_LIMIT, int, "an integer", problems),
        "retry_budget_seconds": _number(ENV_RETRY_BUDGET, float, "a number of seconds", problems),
    }
    return {name: value for name, value in fields.items() if value is not None}


def capillary_resource_from_env(
    warehouse: WarehouseResource, **overrides: Any
) -> CapillaryResource:
    """The resource from the environment, validated now; `overrides` set any other field
    (e.g. `rate_limit_backend`)."""
    problems: list[str] = []
    fields = {**_fields_from_env(problems), **overrides}
    resource = CapillaryResource(warehouse=warehouse, **fields)
    problems += resource.problems()
    if problems:
        raise CapillaryConfigError("\n".join(problems))
    if resource.base_url is not None:
        return resource
    has_credentials = given_credentials(resource).kind != "none"
    chosen = bundled_simulator(resource.org_ids, has_credentials)
    return CapillaryResource(warehouse=warehouse, **{**fields, **chosen})
