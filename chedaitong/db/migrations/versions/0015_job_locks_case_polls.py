"""drop job_locks: the nightly job's lock is a PostgreSQL advisory lock or an OS file lock
(decisioning/postloan/lock.py) — a table row checked by PID outlived SIGTERM and recycled PIDs;
collection_cases.polled_on: when the agency was last asked a case's status (cases it closes)

Revision ID: 0015_job_locks_case_polls
Revises: 0013_routing_segments
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_job_locks_case_polls"
down_revision = "0013_routing_segments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("job_locks")
    with op.batch_alter_table("collection_cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("polled_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("collection_cases", schema=None) as batch_op:
        batch_op.drop_column("polled_on")
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_locks")),
    )
