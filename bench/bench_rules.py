"""Benchmark the rule engine: online (durable-rules through the RuleBook) and batch
(numpy vector executor), on the starter underwriting rules and synthetic applications.

    .venv/bin/python bench/bench_rules.py [--online 20000] [--batch 1000000] [--repeat 3]

Targets: online p99 <= 1 ms per application; batch 1,000,000 rows <= 5 s.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from chedaitong_sim.synthetic import rule_frames  # noqa: E402
from featurestore import catalog  # noqa: E402
from ruleengine.rulebook import RuleBook  # noqa: E402


@functools.cache
def _book() -> RuleBook:
    return RuleBook(ROOT / "rules", catalog=catalog())


def _rows(n: int, seed: int) -> list[dict]:
    frame = rule_frames.applications(n, catalog(), seed=seed)
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def online(n: int) -> dict[str, float]:
    rows = _rows(n, seed=1)
    for row in rows[:500]:  # warm-up
        _book().evaluate(row)
    timings = []
    clock = time.perf_counter_ns
    for row in rows:
        start = clock()
        _book().evaluate(row)
        timings.append(clock() - start)
    timings.sort()
    many_start = clock()
    _book().evaluate_many(rows[:5000])
    many = (clock() - many_start) / 5000
    return {
        "p50_us": timings[len(timings) // 2] / 1e3,
        "p90_us": timings[int(len(timings) * 0.9)] / 1e3,
        "p99_us": timings[int(len(timings) * 0.99)] / 1e3,
        "max_us": timings[-1] / 1e3,
        "mean_us": statistics.fmean(timings) / 1e3,
        "batched_online_us": many / 1e3,
    }


def batch(n: int, repeat: int) -> dict[str, float]:
    frame = rule_frames.applications(n, catalog(), seed=2)
    compiled = _book().compiled("underwriting")
    totals, matrices = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        matrix = compiled.vector.fire_matrix(frame)
        mid = time.perf_counter()
        result = compiled.vector.results(matrix, frame.index)
        end = time.perf_counter()
        matrices.append(mid - start)
        totals.append(end - start)
    assert len(result) == n
    return {"total_s": statistics.median(totals), "masks_s": statistics.median(matrices)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--online", type=int, default=20_000, help="distinct rows, one by one")
    parser.add_argument("--batch", type=int, default=1_000_000, help="rows in one frame")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    versions = _book().current_versions()
    rules = len(_book().compiled("underwriting").ruleset.rules)
    print(f"underwriting {versions['underwriting']}: {rules} rules")

    o = online(args.online)
    print(
        f"online  {args.online:>9,} rows  p50 {o['p50_us']:7.1f} µs  p90 {o['p90_us']:7.1f} µs  "
        f"p99 {o['p99_us']:7.1f} µs  max {o['max_us']:8.1f} µs  (target p99 <= 1000 µs)"
    )
    many = o["batched_online_us"]
    print(f"        evaluate_many (one engine trip per 5,000 rows): {many:.1f} µs/row")

    b = batch(args.batch, args.repeat)
    print(
        f"batch   {args.batch:>9,} rows  {b['total_s']:.2f} s median of {args.repeat} "
        f"(masks {b['masks_s']:.2f} s, results {b['total_s'] - b['masks_s']:.2f} s; target <= 5 s)"
    )
    per_row_batch_us = b["total_s"] / args.batch * 1e6
    print(
        f"ratio   batch {per_row_batch_us:.2f} µs/row vs durable p50 {o['p50_us']:.1f} µs/row: "
        f"batch is {o['p50_us'] / per_row_batch_us:,.0f}x cheaper per row"
    )


if __name__ == "__main__":
    main()
