"""collection cases: a loan in collection is a state (one open case per loan)

Revision ID: 0007_collection_cases
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_collection_cases"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collection_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=64), nullable=False),
        sa.Column("agency", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("reconciled", sa.Boolean(), nullable=False),
        sa.Column("dpd", sa.Integer(), nullable=False),
        sa.Column("overdue_amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("synced_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("close_reason", sa.String(length=16), nullable=True),
        sa.Column("sync_error", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"],
                                name=op.f("fk_collection_cases_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_cases")),
    )
    op.create_index(op.f("ix_collection_cases_loan_id"), "collection_cases", ["loan_id"])
    op.create_index("uq_collection_cases_open_loan", "collection_cases", ["loan_id"],
                    unique=True, sqlite_where=sa.text("status = 'open'"),
                    postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_index("uq_collection_cases_open_loan", table_name="collection_cases")
    op.drop_index(op.f("ix_collection_cases_loan_id"), table_name="collection_cases")
    op.drop_table("collection_cases")
