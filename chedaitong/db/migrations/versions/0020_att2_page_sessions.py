"""page_sessions: a back-office page session is a row the signed cookie names, so signing out
ends it on the server (a copy of the cookie stopped working only when its 8 hours ran out)

Page sessions signed in before this have no row and end: their users sign in again.

Revision ID: 0020_att2_page_sessions
Revises: 0019_duties_four_eyes
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_att2_page_sessions"
down_revision = "0019_duties_four_eyes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "page_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"],
                                name=op.f("fk_page_sessions_token_id_api_tokens")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_page_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_sessions")),
    )
    op.create_index(op.f("ix_page_sessions_user_id"), "page_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_page_sessions_user_id"), table_name="page_sessions")
    op.drop_table("page_sessions")
