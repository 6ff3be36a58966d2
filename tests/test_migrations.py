"""Migrations run both ways on every backend, and the models match the migrated schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from chedaitong.db import Base, make_engine
from chedaitong.db import migrate as migrations


def test_upgrade_from_empty_then_downgrade_to_base(database_url):
    engine = make_engine(database_url)
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"

    migrations.downgrade(engine, "base")
    assert migrations.current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrations.upgrade(engine)  # and back up again: downgrades leave nothing behind
    assert migrations.current_revision(engine) == migrations.head_revision()
    engine.dispose()
