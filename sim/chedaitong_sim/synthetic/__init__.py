"""Synthetic frames for tests and benchmarks: credit-model frames with a known PD, rule
engine frames with boundary values."""
