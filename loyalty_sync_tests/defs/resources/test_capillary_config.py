"""Resource settings from the environment: validation, EnvVar secrets, nothing printed."""

from __future__ import annotations

import hashlib

import dagster as dg
import pytest

from capillary_simulator import SimulatorConfig
from loyalty_sync.capillary.config import CapillaryConfigError, parse_org_ids
from loyalty_sync.defs.resources import (
    CapillaryResource,
    WarehouseResource,
    capillary_resource_from_env,
)

SECRETS = {
    "CAPILLARY_USERNAME": "till.user",
    "CAPILLARY_PASSWORD": "pw-never-printed",
    "CAPILLARY_OAUTH_KEY": "key-never-printed",
    "CAPILLARY_OAUTH_SECRET": "secret-never-printed",
}


@pytest.fixture
def real_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("CAPILLARY_BASE_URL", "https://eu.api.capillarytech.com")
    monkeypatch.setenv("CAPILLARY_ORG_IDS", "51135, 51136")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_from_env_uses_envvar_for_secrets(real_env: pytest.MonkeyPatch) -> None:
    real_env.setenv("CAPILLARY_RATE_LIMIT_PER_MINUTE", "1000")
    real_env.setenv("CAPILLARY_BENEFITS_API", "V2")
    resource = capillary_resource_from_env(WarehouseResource())
    assert isinstance(resource.password, dg.EnvVar)
    assert resource.password.env_var_name == "CAPILLARY_PASSWORD"
    assert resource.base_url == "https://eu.api.capillarytech.com"
    assert resource.rate_limit_per_minute == 1000 and resource.benefits_api == "v2"
    settings = resource.resolved_settings()
    assert settings.org_ids == (51135, 51136) and settings.own_org_id == 51135
    assert settings.credentials.kind == "oauth"  # preferred when both kinds are set
    assert not settings.simulator


def test_from_env_leaves_unset_secrets_none(
    real_env: pytest.MonkeyPatch,
) -> None:
    real_env.delenv("CAPILLARY_OAUTH_KEY")
    real_env.delenv("CAPILLARY_OAUTH_SECRET")
    resource = capillary_resource_from_env(WarehouseResource())
    assert resource.oauth_key is None and resource.oauth_secret is None
    assert resource.resolved_settings().credentials.kind == "basic"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CAPILLARY_ORG_IDS", None, "CAPILLARY_ORG_IDS is not"),
        ("CAPILLARY_ORG_IDS", "51135,abc", "'abc' is not an integer"),
        ("CAPILLARY_BENEFITS_API", "v4", "must be v3 or v2"),
        ("CAPILLARY_RATE_LIMIT_PER_MINUTE", "0", "positive"),
        ("CAPILLARY_RATE_LIMIT_PER_MINUTE", "-5", "positive"),
        ("CAPILLARY_RATE_LIMIT_PER_MINUTE", "lots", "must be an integer"),
        ("CAPILLARY_BASE_URL", "ftp://eu.api.capillarytech.com", "http"),
        ("CAPILLARY_BASE_URL", "eu.api.capillarytech.com", "http"),
    ],
)
def test_invalid_settings_fail_clearly(
    real_env: pytest.MonkeyPatch, variable: str, value: str | None, message: str
) -> None:
    if value is None:
        real_env.delenv(variable)
    else:
        real_env.setenv(variable, value)
    with pytest.raises(CapillaryConfigError, match=message):
        capillary_resource_from_env(WarehouseResource())


def test_base_url_without_credentials_fails(real_env: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        real_env.delenv(name)
    with pytest.raises(CapillaryConfigError, match="no credentials"):
        capillary_resource_from_env(WarehouseResource())


def test_parse_org_ids() -> None:
    assert parse_org_ids(" 1, 2 ,3 ") == (1, 2, 3)
    assert parse_org_ids("") == ()
    with pytest.raises(CapillaryConfigError, match="twice"):
        parse_org_ids("1,1")


def test_reprs_and_description_hold_no_secret() -> None:
    resource = CapillaryResource(
        warehouse=WarehouseResource(),
        base_url="https://eu.api.capillarytech.com",
        org_ids="51135",
        username="till.user",
        password="pw-never-printed",
        oauth_key="key-never-printed",
        oauth_secret="secret-never-printed",
    )
    digest = hashlib.md5(b"pw-never-printed").hexdigest()
    texts = [repr(resource), str(resource), str(resource.describe())]
    for text in texts:
        for secret in ("pw-never-printed", digest, "secret-never-printed", "key-never-printed"):
            assert secret not in text
    assert resource.describe()["capillary_auth"] == "oauth"


def test_simulator_client_environment_is_what_the_resource_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The simulator's export lines and test set-ups use the names the resource reads."""
    config = SimulatorConfig()
    for name in (*SECRETS, "CAPILLARY_BASE_URL", "CAPILLARY_ORG_IDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in config.client_environment("http://127.0.0.1:9", [51135, 51136]).items():
        monkeypatch.setenv(name, value)
    settings = capillary_resource_from_env(WarehouseResource()).resolved_settings()
    assert settings.base_url == "http://127.0.0.1:9"
    assert settings.org_ids == (51135, 51136)
    assert settings.credentials.kind == "basic"
    assert settings.credentials.principal == config.username
