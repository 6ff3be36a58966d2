"""Benchmark the world generator: 100k customers with every raw signal.

Budget (issue 3): <= 2 minutes wall time and <= 4 GB peak RSS on the 2-core dev machine.
Output goes to var/bench/ (git-ignored scratch space).

    .venv/bin/python bench/bench_worldgen.py [--customers 100000] [--seed 7]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chedaitong_sim.worldgen.generate import generate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "world")
    args = ap.parse_args()

    t0 = time.perf_counter()
    m = generate(args.out, args.customers, args.seed, overwrite=True)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    size_mb = sum(p.stat().st_size for p in args.out.iterdir()) / 1e6

    print(f"customers={args.customers} seed={args.seed} out={args.out}")
    print(f"wall_s={wall:.1f} peak_rss_mb={peak_mb:.0f} disk_mb={size_mb:.1f}")
    for table, rows in m["row_counts"].items():
        print(f"  {table:18s} {rows:>12,d}")
    print(f"oracle_auc={m['oracle_auc']} bad_rate={m['bad_rate']}")
    ok = wall <= 120 and peak_mb <= 4096
    print("within budget" if ok else "OVER BUDGET (120 s / 4096 MB)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
