"""Merge the servicing (0004) and origination (0005) branches, both made off 0003.

Revision ID: 0006
Revises: 0004, 0005
"""

revision = "0006"
down_revision = ("0004", "0005")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
