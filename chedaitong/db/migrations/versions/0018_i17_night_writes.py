"""the night's writes: loans updated in place (HOT), history rows inserted without FK checks

- ``ix_loans_status_last_closed_date`` → ``ix_loans_active_id``, a partial index of active loan
  ids: the night moves ``last_closed_date`` on every active loan, and an indexed column
  changing makes every one of those updates a new index entry (never HOT); the planner only
  needs the active loans in id order (`decisioning.postloan.run.pending_loan_ids`).
- ``loans`` fillfactor 50 (PostgreSQL): room on each page for the updated row version, so
  the UPDATE stays on the page (HOT). Pages written before this keep their old fill until
  they are rewritten (``VACUUM FULL loans`` or a fresh load); the night converges anyway.
- ``delinquency_history`` and ``behaviour_scores`` lose their foreign key to ``loans``: the
  check was about half of each snapshot COPY, on rows the night writes only for loans it
  has just read and locked. What the key protected — no history left pointing at a deleted
  or renumbered loan — is kept by the ``loans_keep_history`` trigger, which refuses to
  delete a loan with history or change its id (PostgreSQL: one trigger for both events;
  SQLite: ``loans_keep_history`` on delete, ``loans_keep_history_id`` on id change). It
  never fires on the night's UPDATE (that does not set ``id``). The other half of the key —
  no history row for a loan that does not exist — is the ``<table>_has_loan`` triggers:
  on PostgreSQL one anti-join per INSERT/COPY statement over its new rows (a transition
  table; the key checked and locked each row), on SQLite a check per row. What a key did
  and these do not: lock the loan row against a delete running at the same time as an
  insert of its history — loans are never deleted by the platform, so that race needs a
  hand-made delete during a night.

Revision ID: 0018_i17_night_writes
Revises: 0017_dealer_stock
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_i17_night_writes"
down_revision = "0017_dealer_stock"
branch_labels = None
depends_on = None

HISTORY = ("delinquency_history", "behaviour_scores")
HAS_HISTORY = " OR ".join(f"EXISTS (SELECT 1 FROM {t} WHERE loan_id = OLD.id)" for t in HISTORY)
REFUSAL = "loan has history (delinquency_history, behaviour_scores): not deleted or renumbered"

PG_FUNCTION = f"""
CREATE FUNCTION loans_keep_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR NEW.id IS DISTINCT FROM OLD.id) AND ({HAS_HISTORY}) THEN
        RAISE EXCEPTION '%: loan %', '{REFUSAL}', OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$"""
PG_TRIGGER = ("CREATE TRIGGER loans_keep_history BEFORE DELETE OR UPDATE OF id ON loans "
              "FOR EACH ROW EXECUTE FUNCTION loans_keep_history()")
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER loans_keep_history BEFORE DELETE ON loans FOR EACH ROW WHEN {HAS_HISTORY} "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
    f"CREATE TRIGGER loans_keep_history_id BEFORE UPDATE OF id ON loans FOR EACH ROW WHEN "
    f"NEW.id <> OLD.id AND ({HAS_HISTORY}) BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
]
NO_LOAN = "history row for a loan that does not exist"
PG_HAS_LOAN_FUNCTION = f"""
CREATE FUNCTION history_has_loan() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n WHERE NOT EXISTS (
            SELECT 1 FROM loans l WHERE l.id = n.loan_id)) THEN
        RAISE EXCEPTION '{NO_LOAN} (%)', TG_TABLE_NAME USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$"""
PG_HAS_LOAN_TRIGGERS = [
    f"CREATE TRIGGER {t}_has_loan AFTER INSERT ON {t} REFERENCING NEW TABLE AS new_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION history_has_loan()" for t in HISTORY]
SQLITE_HAS_LOAN_TRIGGERS = [
    f"CREATE TRIGGER {t}_has_loan BEFORE INSERT ON {t} FOR EACH ROW WHEN NOT EXISTS "
    f"(SELECT 1 FROM loans WHERE id = NEW.loan_id) BEGIN SELECT RAISE(ABORT, '{NO_LOAN}'); END"
    for t in HISTORY]
ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index("ix_loans_status_last_closed_date")
        batch_op.create_index("ix_loans_active_id", ["id"], unique=False,
                              postgresql_where=ACTIVE, sqlite_where=ACTIVE)
    if pg:
        op.execute("ALTER TABLE loans SET (fillfactor = 50)")
    for table in HISTORY:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_loan_id_loans", type_="foreignkey")
    if pg:
        for statement in (PG_FUNCTION, PG_TRIGGER, PG_HAS_LOAN_FUNCTION, *PG_HAS_LOAN_TRIGGERS):
            op.execute(statement)
    else:
        for statement in (*SQLITE_TRIGGERS, *SQLITE_HAS_LOAN_TRIGGERS):
            op.execute(statement)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.execute("DROP TRIGGER loans_keep_history ON loans")
        op.execute("DROP FUNCTION loans_keep_history()")
        for table in HISTORY:
            op.execute(f"DROP TRIGGER {table}_has_loan ON {table}")
        op.execute("DROP FUNCTION history_has_loan()")
    else:
        op.execute("DROP TRIGGER loans_keep_history")
        op.execute("DROP TRIGGER loans_keep_history_id")
        for table in HISTORY:
            op.execute(f"DROP TRIGGER {table}_has_loan")
    for table in HISTORY:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(f"fk_{table}_loan_id_loans", "loans", ["loan_id"], ["id"])
    if pg:
        op.execute("ALTER TABLE loans RESET (fillfactor)")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index("ix_loans_active_id", postgresql_where=ACTIVE, sqlite_where=ACTIVE)
        batch_op.create_index("ix_loans_status_last_closed_date", ["status", "last_closed_date"],
                              unique=False)
