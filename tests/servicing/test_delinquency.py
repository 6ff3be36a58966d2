"""Days past due and buckets, at the edges."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from servicing.delinquency import DEFAULT_BUCKETS, Buckets, bucket, days_past_due

DUE = date(2027, 3, 15)


@pytest.mark.parametrize(
    ("dpd", "label"),
    [
        (0, "M0"),
        (1, "M1"),
        (30, "M1"),
        (31, "M2"),
        (60, "M2"),
        (61, "M3"),
        (90, "M3"),
        (91, "M3+"),
        (1000, "M3+"),
    ],
)
def test_bucket_edges(dpd, label):
    assert days_past_due([DUE], DUE + timedelta(days=dpd)) == dpd
    assert bucket(dpd) == label == DEFAULT_BUCKETS.label(dpd)


def test_dpd_counts_from_the_oldest_unpaid_installment():
    dues = [date(2027, 4, 15), date(2027, 3, 15), date(2027, 5, 15)]
    assert days_past_due(dues, date(2027, 5, 16)) == 62
    assert days_past_due([], date(2027, 5, 16)) == 0
    assert days_past_due(dues, date(2027, 3, 15)) == 0  # due today is not late
    assert days_past_due(dues, date(2027, 1, 1)) == 0


def test_custom_bucket_edges():
    b = Buckets(upper_bounds=(0, 7, 30), labels=("current", "early", "late", "default"))
    assert [b.label(d) for d in (0, 1, 7, 8, 30, 31)] == [
        "current",
        "early",
        "early",
        "late",
        "late",
        "default",
    ]
    assert bucket(8, b) == "late"


def test_invalid_buckets():
    with pytest.raises(ValueError):
        Buckets(upper_bounds=(0, 30, 30, 90))
    with pytest.raises(ValueError):
        Buckets(upper_bounds=(0, 30), labels=("M0", "M1"))
    with pytest.raises(ValueError):
        Buckets(upper_bounds=())
    with pytest.raises(ValueError):
        bucket(-1)
