"""behaviour scores: one row per active loan per night (issue #16)

Revision ID: 0008_behaviour_scores
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_behaviour_scores"
down_revision = "0007_collection_cases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('behaviour_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('model_version', sa.String(length=32), nullable=False),
    sa.Column('pd', sa.Double(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('exposure', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('expected_loss', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'],
                            name=op.f('fk_behaviour_scores_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_behaviour_scores')),
    sa.UniqueConstraint('loan_id', 'as_of', name=op.f('uq_behaviour_scores_loan_id'))
    )
    with op.batch_alter_table('behaviour_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_behaviour_scores_as_of'), ['as_of'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('behaviour_scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_behaviour_scores_as_of'))
    op.drop_table('behaviour_scores')
