"""applications.decision_attempts (a decision that keeps failing is referred, not retried
forever)

Revision ID: 0016_decision_attempts
Revises: 0013_routing_segments
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_decision_attempts"
down_revision = "0013_routing_segments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decision_attempts", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_column("decision_attempts")
