"""Days past due and delinquency buckets.

DPD at an as-of date = days since the due date of the oldest installment whose principal or
interest is still unpaid and whose due date is before the as-of date; 0 when none is (an
installment due *today* is not late yet). Unpaid penalty alone does not make a loan
delinquent, and grace periods do not change DPD (grace only waives penalty).

Buckets by DPD, upper bounds inclusive and configurable: M0 = 0 (current), M1 = 1–30,
M2 = 31–60, M3 = 61–90, M3+ = over 90.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import pairwise


@dataclass(frozen=True, slots=True)
class Buckets:
    upper_bounds: tuple[int, ...] = (0, 30, 60, 90)  # inclusive; beyond the last: last label
    labels: tuple[str, ...] = ("M0", "M1", "M2", "M3", "M3+")

    def __post_init__(self) -> None:
        bounds = self.upper_bounds
        if not bounds or bounds[0] < 0 or any(b >= c for b, c in pairwise(bounds)):
            raise ValueError(f"upper_bounds must be non-negative and increasing: {bounds!r}")
        if len(self.labels) != len(bounds) + 1:
            raise ValueError("need exactly one more label than upper bounds")

    def label(self, dpd: int) -> str:
        if dpd < 0:
            raise ValueError("dpd must not be negative")
        return self.labels[bisect_left(self.upper_bounds, dpd)]


DEFAULT_BUCKETS = Buckets()


def days_past_due(unpaid_due_dates: Iterable[date], as_of: date) -> int:
    """DPD from the due dates of the installments with principal or interest still unpaid."""
    late = [due for due in unpaid_due_dates if due < as_of]
    return (as_of - min(late)).days if late else 0


def bucket(dpd: int, buckets: Buckets = DEFAULT_BUCKETS) -> str:
    return buckets.label(dpd)
