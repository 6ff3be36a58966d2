"""dealer_vehicles (a dealer's stock, for re-apply guidance); behaviour_scores.routing (the
champion/challenger arm of each nightly behaviour score)

Revision ID: 0017_dealer_stock
Revises: 0016_attempts_contract_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_dealer_stock"
down_revision = "0016_attempts_contract_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dealer_vehicles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.Column("vehicle_brand", sa.String(length=64), nullable=False),
        sa.Column("vehicle_model", sa.String(length=64), nullable=False),
        sa.Column("price", sa.Numeric(14, 2), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealers.id"],
                                name=op.f("fk_dealer_vehicles_dealer_id_dealers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dealer_vehicles")),
        sa.UniqueConstraint("dealer_id", "vehicle_brand", "vehicle_model",
                            name=op.f("uq_dealer_vehicles_dealer_id")),
    )
    op.create_index(op.f("ix_dealer_vehicles_dealer_id"), "dealer_vehicles", ["dealer_id"])
    with op.batch_alter_table("behaviour_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("routing", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("behaviour_scores", schema=None) as batch_op:
        batch_op.drop_column("routing")
    op.drop_index(op.f("ix_dealer_vehicles_dealer_id"), table_name="dealer_vehicles")
    op.drop_table("dealer_vehicles")
