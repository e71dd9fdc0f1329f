"""Apply and inspect the warehouse migrations (Alembic), without an alembic.ini on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from loyalty_sync.warehouse.database import check_writable, get_engine
from loyalty_sync.warehouse.tables import SCHEMA

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@dataclass(frozen=True)
class MigrationStatus:
    current: str | None
    head: str
    pending: list[str]

    @property
    def up_to_date(self) -> bool:
        return not self.pending


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the warehouse to `revision` (default: the newest), in one transaction."""
    _run(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine | None = None, revision: str = "base") -> None:
    _run(engine, lambda config: command.downgrade(config, revision))


def _run(engine: Engine | None, action) -> None:  # type: ignore[no-untyped-def]
    engine = engine or get_engine()
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config)


def status(engine: Engine | None = None) -> MigrationStatus:
    engine = engine or get_engine()
    script = ScriptDirectory.from_config(_config())
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table_schema": SCHEMA})
        current = context.get_current_revision()
    head = script.get_current_head()
    assert head is not None
    pending = [
        rev.revision
        for rev in script.iterate_revisions(head, current or "base")
        if rev.revision != current
    ]
    return MigrationStatus(current=current, head=head, pending=list(reversed(pending)))


_upgraded: set[str] = set()


def ensure_upgraded(engine: Engine | None = None) -> None:
    """Upgrade once per process and database before anything writes, and check that the
    writes can be made.

    An up-to-date warehouse is not touched (an upgrade would write), so a role with the
    grants of `check_writable` and no right to create schemas syncs it.
    """
    engine = engine or get_engine()
    key = engine.url.render_as_string(hide_password=True)
    if key not in _upgraded:
        if not status(engine).up_to_date:
            upgrade(engine)
        check_writable(engine)
        _upgraded.add(key)
