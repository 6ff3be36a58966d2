"""Migrations run both ways on every backend, and the models match the migrated schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

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

    # the triggers standing in for the history tables' foreign keys (0018) are there at head:
    # a later migration that rebuilds loans or a history table (SQLite batch mode) drops them
    assert _triggers(engine) >= {"loans_keep_history", "delinquency_history_has_loan",
                                 "behaviour_scores_has_loan"}

    migrations.downgrade(engine, "base")
    assert migrations.current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrations.upgrade(engine)  # and back up again: downgrades leave nothing behind
    assert migrations.current_revision(engine) == migrations.head_revision()
    engine.dispose()


def _triggers(engine) -> set[str]:
    """The database's trigger names."""
    query = ("SELECT name FROM sqlite_master WHERE type = 'trigger'"
             if engine.dialect.name == "sqlite" else
             "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
             "JOIN pg_namespace n ON n.oid = c.relnamespace "
             "WHERE NOT t.tgisinternal AND n.nspname = current_schema()")
    with engine.connect() as conn:
        return set(conn.scalars(text(query)))


def test_0019_keeps_the_newest_of_duplicate_consents_effective(database_url):
    """Concurrent grants had stored several effective consents of one purpose; the unique
    index of 0019 could not be built over them. The migration supersedes all but the newest
    of each application and purpose (revoked ones stay as they were)."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    engine = make_engine(database_url)
    migrations.upgrade(engine, "0018_i17_night_writes")
    pg = engine.dialect.name == "postgresql"
    rows = [(1, 1, "loan_application", None), (2, 1, "loan_application", None),
            (3, 1, "loan_application", "2026-01-02 00:00:00"), (4, 1, "loan_application", None),
            (5, 1, "post_loan_monitoring", None), (6, 2, "loan_application", None)]
    with engine.begin() as conn:  # bare rows: the tables they point to stay empty
        conn.execute(text("SET session_replication_role = replica" if pg
                          else "PRAGMA foreign_keys=OFF"))
        for id_, app, purpose, revoked in rows:
            conn.execute(text(
                "INSERT INTO credit_consents (id, application_id, customer_id, granted_by, "
                "purpose, bureaus, text_version, document_sha256, granted_at, expires_at, "
                "revoked_at) VALUES (:id, :app, 1, 1, :purpose, '[\"pboc\"]', 'v1', 'x', "
                "'2026-01-01 00:00:00', '2027-01-01 00:00:00', :revoked)"),
                {"id": id_, "app": app, "purpose": purpose, "revoked": revoked})
        if pg:
            conn.execute(text("SET session_replication_role = DEFAULT"))
    migrations.upgrade(engine)
    with engine.connect() as conn:
        effective = set(conn.scalars(text(
            "SELECT id FROM credit_consents WHERE revoked_at IS NULL "
            "AND superseded_at IS NULL")))
        revoked = set(conn.scalars(text(
            "SELECT id FROM credit_consents WHERE revoked_at IS NOT NULL "
            "AND superseded_at IS NULL")))
    assert effective == {4, 5, 6} and revoked == {3}
    with pytest.raises(IntegrityError), engine.begin() as conn:  # and it holds from now on
        conn.execute(text("UPDATE credit_consents SET superseded_at = NULL WHERE id = 2"))
    migrations.downgrade(engine, "base")
    engine.dispose()
