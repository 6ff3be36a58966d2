"""Origination: an application's life from the customer's first sign-up to a booked loan.

Below Flask: the API, the pages, a CLI, a worker or a test drive the same functions, which take
the session (and the process's `decisioning.container.Services`) as keyword arguments and raise
`chedaitong.errors` (never HTTP errors). Tables live in `chedaitong.db` (one schema for the API
and cron).

| module | what |
|---|---|
| `state_machine` | the state machine: the only place an application's state changes |
| `access` | who may see which application |
| `accounts` | users and API tokens |
| `customers` | personal information (encrypted), the masked view, device uploads |
| `identity` | ID card, four-element and liveness checks with the vendors |
| `consent` | consents on file (the credit-inquiry authorisation) |
| `applications` | filing, views, documents, offers, history, the review queue |
| `flows` | steps with side effects: submit + decide, plan, contract, liveness, review, booking |
| `vouchers` | the disbursement voucher: issue, verify |
| `documents` | contract and voucher text from `templates/` |
| `outbox` | vendor sends owed by a step, written in its transaction, delivered after |
| `files` | content-addressed storage of uploaded files |
"""
