"""bench_api's p99 verdicts rest on enough samples: each p99 comes with its distribution-free
95 % interval, which says when a run had too few decisions to bound it."""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.bench_api import quantile_ci, stats  # noqa: E402


def test_eighty_samples_cannot_bound_a_p99_and_six_hundred_forty_can():
    rng = random.Random(19)
    few = [rng.expovariate(1 / 50) for _ in range(80)]
    lo, hi = quantile_ci(few)
    assert lo is not None and hi is None  # the old runs' 80 decisions: no upper bound
    many = [rng.expovariate(1 / 50) for _ in range(640)]
    lo, hi = quantile_ci(many)
    assert lo is not None and hi is not None and lo <= sorted(many)[633] <= hi


def test_the_interval_covers_the_true_p99_about_as_often_as_it_says():
    true_p99 = 4.60517  # of an exponential with mean 1: -ln(0.01)
    rng = random.Random(7)
    covered = 0
    for _ in range(200):
        lo, hi = quantile_ci([rng.expovariate(1) for _ in range(700)])
        covered += lo <= true_p99 <= hi
    assert covered >= 180  # 95 % nominal (at least that: order statistics are conservative)


def test_stats_reports_the_interval_with_the_count():
    s = stats([float(x) for x in range(1000)])
    assert s["n"] == 1000 and s["p99"] == 989.0
    lo, hi = s["p99_ci95"]
    assert lo < 989.0 < hi
