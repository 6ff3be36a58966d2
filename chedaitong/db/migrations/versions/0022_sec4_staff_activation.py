"""four eyes on staff accounts: an account an admin creates in the app waits for a second admin

- ``users.activation``: NULL for accounts that need no activation (made from the command line
  or by demo seeding, self-registered customers, invited consultants, every account already on
  file); ``pending`` for a staff account an admin created in the app (inactive, no token yet)
  until another admin activates (``activated``) or rejects (``rejected``) it.
- ``users.activated_by`` / ``users.activated_at``: the second admin, who is handed the first
  token at activation (so the four-eyes checks count their hands too).

Revision ID: 0022_sec4_staff_activation
Revises: 0021_sec3_vendor_claims
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_sec4_staff_activation"
down_revision = "0021_sec3_vendor_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activation", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("activated_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("activated_at", sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.create_foreign_key(op.f("fk_users_activated_by_users"), "users",
                                    ["activated_by"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_users_activated_by_users"), type_="foreignkey")
        batch_op.drop_column("activated_at")
        batch_op.drop_column("activated_by")
        batch_op.drop_column("activation")
