"""Resources: the Capillary API client and the Postgres warehouse, built from the environment."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from loyalty_sync.capillary.resource import CapillaryResource, capillary_resource_from_env
from loyalty_sync.warehouse import migrate
from loyalty_sync.warehouse.database import (
    DATABASE_URL_ENV,
    database_url,
    describe_url,
    get_engine,
)


class WarehouseResource(dg.ConfigurableResource):
    """The Postgres warehouse; migrations are applied before the first write of a process."""

    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the warehouse Postgres (LOYALTY_SYNC_DATABASE_URL). Unset: the "
            "embedded PostgreSQL server under LOYALTY_SYNC_HOME."
        ),
    )

    def _url(self) -> str | None:
        # Outside a run (CLI, tests) an EnvVar field is not resolved yet.
        value = self.database_url
        if isinstance(value, dg.EnvVar):
            value = value.get_value()
        return value or None

    def get_engine(self) -> sa.Engine:
        engine = get_engine(self._url())
        migrate.ensure_upgraded(engine)
        return engine

    def describe(self) -> dict[str, Any]:
        url = self._url()
        return {
            "warehouse": describe_url(url or database_url()),
            "warehouse_embedded": url is None,
        }


def warehouse_resource_from_env() -> WarehouseResource:
    if os.environ.get(DATABASE_URL_ENV, "").strip():
        return WarehouseResource(database_url=dg.EnvVar(DATABASE_URL_ENV))
    return WarehouseResource()


def resources_from_env() -> dict[str, Any]:
    return {"capillary": capillary_resource_from_env(), "warehouse": warehouse_resource_from_env()}


__all__ = ["CapillaryResource", "WarehouseResource", "resources_from_env"]
