"""`WarehouseResource`: the Postgres warehouse every pass, check and sensor writes or reads."""

from __future__ import annotations

from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from loyalty_sync.defs.resources.env import env_var_or_none, resolved
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

    def url(self) -> str | None:
        """The configured URL, or None for the embedded server."""
        return resolved(self.database_url) or None

    def get_engine(self) -> sa.Engine:
        engine = get_engine(self.url())
        migrate.ensure_upgraded(engine)
        return engine

    def describe(self) -> dict[str, Any]:
        url = self.url()
        return {
            "warehouse": describe_url(url or database_url()),
            "warehouse_embedded": url is None,
        }


def warehouse_resource_from_env() -> WarehouseResource:
    return WarehouseResource(database_url=env_var_or_none(DATABASE_URL_ENV))
