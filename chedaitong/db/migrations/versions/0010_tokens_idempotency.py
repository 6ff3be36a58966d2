"""tokens expire and record their last use; idempotency keys are reserved before the work,
scoped per user and endpoint, and expire

Revision ID: 0010_tokens_idempotency
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_tokens_idempotency"
down_revision = "0009_consent_identity_exposure"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True),
                                      nullable=True))
    # a reservation (status NULL) is written before the view runs; old keys cannot be replayed
    # under the new scope, and are at most a day's worth: drop them
    op.execute("DELETE FROM idempotency_keys")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_constraint("uq_idempotency_keys_user_key", type_="unique")
        batch_op.add_column(sa.Column("endpoint", sa.String(length=128), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("status_code", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("response_json", existing_type=sa.JSON(), nullable=True)
        batch_op.create_unique_constraint("uq_idempotency_keys_user_endpoint_key",
                                          ["user_id", "endpoint", "key"])


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_constraint("uq_idempotency_keys_user_endpoint_key", type_="unique")
        batch_op.alter_column("response_json", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("status_code", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("expires_at")
        batch_op.drop_column("endpoint")
        batch_op.create_unique_constraint("uq_idempotency_keys_user_key", ["user_id", "key"])
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("expires_at")
