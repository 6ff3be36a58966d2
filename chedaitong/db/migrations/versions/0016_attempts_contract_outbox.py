"""applications.decision_attempts (a decision that keeps failing is referred, not retried
forever); loan_contracts.vendor_contract_id nullable (the contract is created at the
e-signature vendor by an outbox delivery, after the state step commits)

Revision ID: 0016_attempts_contract_outbox
Revises: 0015_job_locks_case_polls
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_attempts_contract_outbox"
down_revision = "0015_job_locks_case_polls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decision_attempts", sa.Integer(), nullable=False,
                                      server_default="0"))
    with op.batch_alter_table("loan_contracts", schema=None) as batch_op:
        batch_op.alter_column("vendor_contract_id", existing_type=sa.String(length=64),
                              nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("loan_contracts", schema=None) as batch_op:
        batch_op.alter_column("vendor_contract_id", existing_type=sa.String(length=64),
                              nullable=False)
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_column("decision_attempts")
