"""vendor_claims: one row per vendor-call intent (a liveness check, a signature, an ID check,
a phone call), claimed in a short transaction before the call, so a step no longer holds the
application's row (on SQLite the database's write lock) while the vendor answers

Revision ID: 0021_sec3_vendor_claims
Revises: 0020_att2_page_sessions
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_sec3_vendor_claims"
down_revision = "0020_att2_page_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vendor_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intent", sa.String(length=96), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=32), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("busy_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor_claims")),
        sa.UniqueConstraint("intent", name=op.f("uq_vendor_claims_intent")),
    )


def downgrade() -> None:
    op.drop_table("vendor_claims")
