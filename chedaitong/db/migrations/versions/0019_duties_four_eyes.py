"""four eyes on where the money goes, and one effective consent per purpose

- ``dealer_account_changes``: a dealer's requested payout account (its first, or a change),
  pending until an admin other than the requester approves it; at most one pending per
  dealer. ``dealer_agreements``' account columns become nullable: they hold the approved
  account only (agreements already on file keep theirs, approved as they were).
- ``users.created_by``: the admin who created an account in the app (and holds its first
  token), so the four-eyes checks can tell that admin from a second person.
- ``credit_consents.superseded_at`` and the partial unique index
  ``uq_credit_consents_effective`` (application, purpose) over the unrevoked, unsuperseded
  rows. Duplicates already stored (concurrent grants) are superseded first: the newest of
  each application and purpose stays effective.

Revision ID: 0019_duties_four_eyes
Revises: 0018_i17_night_writes
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_duties_four_eyes"
down_revision = "0018_i17_night_writes"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")
EFFECTIVE = sa.text("revoked_at IS NULL AND superseded_at IS NULL")
ACCOUNT_COLUMNS = (("bank_name", sa.String(length=100)), ("account_name", sa.String(length=200)),
                   ("account_masked", sa.String(length=32)), ("account_enc", sa.LargeBinary()))


def upgrade() -> None:
    op.create_table(
        "dealer_account_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("bank_name", sa.String(length=100), nullable=False),
        sa.Column("account_name", sa.String(length=200), nullable=False),
        sa.Column("account_masked", sa.String(length=32), nullable=False),
        sa.Column("account_enc", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealers.id"],
                                name=op.f("fk_dealer_account_changes_dealer_id_dealers")),
        sa.ForeignKeyConstraint(["requested_by"], ["users.id"],
                                name=op.f("fk_dealer_account_changes_requested_by_users")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"],
                                name=op.f("fk_dealer_account_changes_decided_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dealer_account_changes")),
    )
    op.create_index(op.f("ix_dealer_account_changes_dealer_id"), "dealer_account_changes",
                    ["dealer_id"])
    op.create_index("uq_dealer_account_changes_pending", "dealer_account_changes",
                    ["dealer_id"], unique=True, sqlite_where=PENDING, postgresql_where=PENDING)
    with op.batch_alter_table("dealer_agreements", schema=None) as batch_op:
        for name, type_ in ACCOUNT_COLUMNS:
            batch_op.alter_column(name, existing_type=type_, nullable=True)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f("fk_users_created_by_users"), "users",
                                    ["created_by"], ["id"])
    with op.batch_alter_table("credit_consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("superseded_at", sa.DateTime(timezone=True),
                                      nullable=True))
    op.execute(
        "UPDATE credit_consents SET superseded_at = CURRENT_TIMESTAMP "
        "WHERE revoked_at IS NULL AND id NOT IN (SELECT max(id) FROM credit_consents "
        "WHERE revoked_at IS NULL GROUP BY application_id, purpose)")
    op.create_index("uq_credit_consents_effective", "credit_consents",
                    ["application_id", "purpose"], unique=True,
                    sqlite_where=EFFECTIVE, postgresql_where=EFFECTIVE)


def downgrade() -> None:
    op.drop_index("uq_credit_consents_effective", table_name="credit_consents",
                  sqlite_where=EFFECTIVE, postgresql_where=EFFECTIVE)
    with op.batch_alter_table("credit_consents", schema=None) as batch_op:
        batch_op.drop_column("superseded_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_users_created_by_users"), type_="foreignkey")
        batch_op.drop_column("created_by")
    # an agreement whose first account was never approved has none to go back to
    op.execute("DELETE FROM dealer_agreements WHERE account_enc IS NULL")
    with op.batch_alter_table("dealer_agreements", schema=None) as batch_op:
        for name, type_ in ACCOUNT_COLUMNS:
            batch_op.alter_column(name, existing_type=type_, nullable=False)
    op.drop_index("uq_dealer_account_changes_pending", table_name="dealer_account_changes",
                  sqlite_where=PENDING, postgresql_where=PENDING)
    op.drop_index(op.f("ix_dealer_account_changes_dealer_id"),
                  table_name="dealer_account_changes")
    op.drop_table("dealer_account_changes")
