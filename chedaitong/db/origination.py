"""Origination workflow tables (tokens, reviews, contracts, vouchers, documents, idempotency)."""
