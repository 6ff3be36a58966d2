"""decision_records.guidance and .routing (re-apply guidance, champion/challenger arm);
segment_monitor_runs (the daily segment monitoring job)

Revision ID: 0013_routing_segments
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_routing_segments"
down_revision = "0012_dealers_payouts_collections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decision_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guidance", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("routing", sa.JSON(), nullable=True))
    op.create_table(
        "segment_monitor_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("alerts", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_monitor_runs")),
        sa.UniqueConstraint("as_of", name=op.f("uq_segment_monitor_runs_as_of")),
    )


def downgrade() -> None:
    op.drop_table("segment_monitor_runs")
    with op.batch_alter_table("decision_records", schema=None) as batch_op:
        batch_op.drop_column("routing")
        batch_op.drop_column("guidance")
