"""Benchmark: re-apply guidance for one refused application (target ≤ 50 ms).

    .venv/bin/python bench/bench_guidance.py [--customers 200] [--repeat 3]

Loads part of the sample world (dealers with their stock) into a SQLite file under
var/bench/guidance/, trains (or reuses) a champion, decides every application, then times
`guidance.guide` on each declined or referred application whose blocking rules a
re-application can change (the others are answered without a search, in microseconds), with
the dealer's stock (cheaper cars on sale) read beforehand. The floor, measured in the same
run on the same features, is one `policy.decide` (score + reasons + durable rules + products
+ pricing): guidance searches a whole grid and confirms up to three options through that
path. Also prints the share of refusals with an option. ``--profile N`` prints the N
costliest functions of one more (untimed) pass under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _world import MODEL_KEYS, bench_world  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from chedaitong.db import Application  # noqa: E402
from decisioning import guidance  # noqa: E402
from decisioning.policy import decide  # noqa: E402

OUT = ROOT / "var" / "bench" / "guidance"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after timing, print the N costliest functions of guide() "
                             "(cProfile over one more pass; not part of the figures)")
    args = parser.parse_args()
    world = bench_world(OUT, "guidance.db")
    service, book, model = world.service, world.book, world.model

    cases = []
    with Session(world.engine) as s:
        world.load(s, args.customers)
        s.commit()
        records = [(a, service.decide(s, a, as_of=world.as_of(a.ref)))
                   for a in s.scalars(select(Application).order_by(Application.id)).all()]
        s.commit()
        for a, r in records:
            if r.outcome != "approve":
                vehicle = {"vehicle_brand": a.vehicle_brand, "vehicle_model": a.vehicle_model}
                cases.append((r, vehicle, guidance.dealer_stock(s, a)))
    refused = len(cases)
    declined = [r for r, _, _ in cases if r.outcome == "decline"]
    helped = sum(1 for r, _, _ in cases if r.guidance["options"])
    searched = [(r, v, st) for r, v, st in cases if guidance.fixable(r.features, r.fired_rules,
                                                                     book)]
    guide_ms, floor_ms, grid = [], [], []
    for _ in range(args.repeat):
        for r, vehicle, stock in searched:
            base = {k: v for k, v in r.features.items() if k not in MODEL_KEYS}
            t0 = time.perf_counter()
            g = guidance.guide(r.features, book, model, fired=r.fired_rules, vehicle=vehicle,
                               stock=stock)
            t1 = time.perf_counter()
            decide(base, book, model)
            t2 = time.perf_counter()
            guide_ms.append((t1 - t0) * 1e3)
            floor_ms.append((t2 - t1) * 1e3)
            grid.append(g.searched)
    load = os.getloadavg()
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for r, vehicle, stock in searched:
            guidance.guide(r.features, book, model, fired=r.fired_rules, vehicle=vehicle,
                           stock=stock)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
    print(f"{len(records)} applications: {refused} refused ({len(declined)} declined); "
          f"{helped} refusals with at least one option ({helped / refused:.0%}), of the "
          f"declines {sum(1 for r in declined if r.guidance['options'])}/{len(declined)}; "
          f"{len(searched)} searched (the rest blocked by facts nobody can change)")
    print(f"{'path':58} {'p50 ms':>8} {'p99 ms':>8}")
    for name, xs in [("guidance.guide(): grid → vector search → ≤3 confirmed", guide_ms),
                     ("floor: one policy.decide() on the same features", floor_ms)]:
        print(f"{name:58} {statistics.median(xs):8.3f} {np.percentile(xs, 99):8.3f}")
    print(f"ratio guide p50 / decide p50 = "
          f"{statistics.median(guide_ms) / statistics.median(floor_ms):.1f}x; "
          f"candidates per search p50 {statistics.median(grid):.0f} (n={len(guide_ms)}); "
          f"load average {load[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
