"""servicing: loans, schedules, repayments, penalty accruals, delinquency, post-loan runs

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_locks',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_locks'))
    )
    op.create_table('postloan_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('engine', sa.String(length=16), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_postloan_runs')),
    sa.UniqueConstraint('as_of', name=op.f('uq_postloan_runs_as_of'))
    )
    op.create_table('loans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=32), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.String(length=64), nullable=True),
    sa.Column('principal', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('annual_rate', sa.Numeric(precision=9, scale=6), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('repayment_method', sa.String(length=24), nullable=False),
    sa.Column('penalty_multiplier', sa.Numeric(precision=6, scale=3), nullable=False),
    sa.Column('penalty_grace_days', sa.Integer(), nullable=False),
    sa.Column('penalty_include_interest', sa.Boolean(), nullable=False),
    sa.Column('penalty_day_basis', sa.Integer(), nullable=False),
    sa.Column('disbursed_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('last_closed_date', sa.Date(), nullable=False),
    sa.Column('accrued_through', sa.Date(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('unapplied', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_loans_application_id_applications')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_loans_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loans')),
    sa.UniqueConstraint('ref', name=op.f('uq_loans_ref'))
    )
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loans_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_loans_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_loans_status_last_closed_date', ['status', 'last_closed_date'], unique=False)

    op.create_table('delinquency_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=8), nullable=False),
    sa.Column('model_score', sa.Integer(), nullable=True),
    sa.Column('model_pd', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_delinquency_history_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delinquency_history')),
    sa.UniqueConstraint('loan_id', 'as_of', name=op.f('uq_delinquency_history_loan_id'))
    )
    with op.batch_alter_table('delinquency_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delinquency_history_as_of'), ['as_of'], unique=False)

    op.create_table('loan_installments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('principal_due', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('interest_due', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('principal_paid', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('interest_paid', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('penalty_charged', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('penalty_paid', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('penalty_through', sa.Date(), nullable=True),
    sa.Column('settled_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_loan_installments_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_installments')),
    sa.UniqueConstraint('loan_id', 'number', name=op.f('uq_loan_installments_loan_id'))
    )
    with op.batch_alter_table('loan_installments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loan_installments_due_date'), ['due_date'], unique=False)

    op.create_table('loan_repayments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('external_ref', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('unapplied', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('allocation', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_loan_repayments_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_repayments')),
    sa.UniqueConstraint('source', 'external_ref', name=op.f('uq_loan_repayments_source'))
    )
    with op.batch_alter_table('loan_repayments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loan_repayments_loan_id'), ['loan_id'], unique=False)

    op.create_table('penalty_accruals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('installment_no', sa.Integer(), nullable=False),
    sa.Column('accrual_date', sa.Date(), nullable=False),
    sa.Column('base', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_penalty_accruals_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_penalty_accruals')),
    sa.UniqueConstraint('loan_id', 'installment_no', 'accrual_date', name=op.f('uq_penalty_accruals_loan_id'))
    )
    op.create_table('postloan_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('rule_ids', sa.JSON(), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('vendor_ref', sa.String(length=64), nullable=True),
    sa.Column('error', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_postloan_actions_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_postloan_actions')),
    sa.UniqueConstraint('loan_id', 'as_of', 'action', name=op.f('uq_postloan_actions_loan_id'))
    )
    with op.batch_alter_table('postloan_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_postloan_actions_as_of'), ['as_of'], unique=False)
        batch_op.create_index(batch_op.f('ix_postloan_actions_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('postloan_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_postloan_actions_status'))
        batch_op.drop_index(batch_op.f('ix_postloan_actions_as_of'))

    op.drop_table('postloan_actions')
    op.drop_table('penalty_accruals')
    with op.batch_alter_table('loan_repayments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loan_repayments_loan_id'))

    op.drop_table('loan_repayments')
    with op.batch_alter_table('loan_installments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loan_installments_due_date'))

    op.drop_table('loan_installments')
    with op.batch_alter_table('delinquency_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delinquency_history_as_of'))

    op.drop_table('delinquency_history')
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_index('ix_loans_status_last_closed_date')
        batch_op.drop_index(batch_op.f('ix_loans_customer_id'))
        batch_op.drop_index(batch_op.f('ix_loans_application_id'))

    op.drop_table('loans')
    op.drop_table('postloan_runs')
    op.drop_table('job_locks')
