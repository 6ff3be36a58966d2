"""Loan servicing tables: loans, schedules, repayments, penalty accruals, post-loan runs."""
