"""Benchmark of the credit-model lifecycle: training time and quality, single-row latency,
reason-code agreement and batch throughput.

    .venv/bin/python bench/bench_models.py                   # synthetic 100,000-row frame
    .venv/bin/python bench/bench_models.py --frame hist.parquet   # a real historical frame

Targets: training ≤ 60 s on 2 cores; single-row score + calibration + reasons p99 ≤ 1 ms
(distinct rows, one thread); batch scoring of 1,000,000 rows reported.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chedaitong_sim.synthetic.credit_frames import synthetic_frame  # noqa: E402
from models.data import SplitSpec, prepare, read_table, split_frame  # noqa: E402
from models.reasons import top_k_indices  # noqa: E402
from models.registry import Registry  # noqa: E402
from models.scoring import load_model  # noqa: E402
from models.train import TrainConfig, describe, fit  # noqa: E402


def _pct(xs: list[float]) -> str:
    a = np.asarray(xs) * 1e6
    return f"p50 {np.percentile(a, 50):7.1f} µs   p99 {np.percentile(a, 99):7.1f} µs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="synthetic training rows")
    ap.add_argument("--frame", type=Path, default=None, help="use this historical frame instead")
    ap.add_argument("--target", default="bad_12m")
    ap.add_argument("--single", type=int, default=5_000, help="distinct rows for latency")
    ap.add_argument("--batch", type=int, default=1_000_000, help="rows for batch scoring")
    ap.add_argument("--agree", type=int, default=5_000, help="rows for the reason agreement check")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--family", default="auto", help="auto | lightgbm | scorecard | blend")
    ap.add_argument("--registry", type=Path, default=None, help="default: a temporary folder")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--passes", type=int, default=3, help="latency passes (the machine is shared)")
    ap.add_argument("--reuse", default=None, metavar="VERSION",
                    help="skip training: measure VERSION of --registry (same data options)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    if args.frame:
        frame = read_table(args.frame)
        source = str(args.frame)
    else:
        frame = synthetic_frame(args.rows, seed=args.seed)
        source = f"synthetic_frame({args.rows}, seed={args.seed})"
    print(f"data: {source}: {len(frame):,} rows ({time.perf_counter() - t0:.1f} s)")

    config = TrainConfig(num_threads=args.threads, seed=args.seed, family=args.family)
    t0 = time.perf_counter()
    prepared = prepare(frame, target=args.target)
    split = split_frame(prepared, SplitSpec())
    t_prep = time.perf_counter() - t0
    root = args.registry or Path(tempfile.mkdtemp(prefix="bench-models-"))
    registry = Registry(root)
    oot = prepared.frame.iloc[split.test].reset_index(drop=True)
    if args.reuse:
        version = registry.resolve(args.reuse)
        print(f"reusing {version} from {root}: {registry.load(version).metrics['oot']}")
    else:
        version = _train(args, prepared, split, config, registry, source, t_prep)
    _latency(args, load_model(version, root), oot)
    print(f"registry: {root}")


def _train(args, prepared, split, config, registry, source, t_prep) -> str:
    t0 = time.perf_counter()
    trained = fit(prepared, split, config)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    version = registry.register(trained, info={"target": prepared.target, "time": prepared.time,
                                               "source": source})
    t_reg = time.perf_counter() - t0
    sec = trained.metrics["seconds"]
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in sec.items() if k != "total")
    print(f"train: checks+split {t_prep:.1f} s, fit {t_fit:.1f} s ({parts}), "
          f"register+report {t_reg:.1f} s (total {t_prep + t_fit + t_reg:.1f} s; "
          "target ≤ 60 s)")
    for line in describe(version, registry.root / version, trained):
        print("  " + line)
    return version


def _latency(args, model, oot) -> None:
    # -- single-row latency on distinct OOT rows -------------------------------------------
    t0 = time.perf_counter()
    _ = model.explainer
    print(f"reason tables: built in {time.perf_counter() - t0:.2f} s, "
          f"{model.explainer._table.size * 8 / 1e6:.1f} MB" if model.explainer else
          f"reason tables: none ({model.family}: linear contributions or pred_contrib)")
    cols = list(model.feature_names)
    rows = oot[cols].head(args.single)
    records = []
    for rec in rows.to_dict("records"):  # plain Python values, as the decision service sends
        records.append({k: (None if isinstance(v, float) and v != v else v)
                        for k, v in rec.items()})
    for r in records[:200]:  # warm-up
        model.score(r)
    gc.disable()
    passes = []
    for _ in range(args.passes):
        lat, cpu = [], []
        for r in records:
            t, c = time.perf_counter(), time.thread_time()
            model.score(r)
            cpu.append(time.thread_time() - c)
            lat.append(time.perf_counter() - t)
        passes.append((lat, cpu))
    lat_nor, lat_enc, lat_pred, lat_why = [], [], [], []
    for r in records:
        t = time.perf_counter()
        model.score(r, n_reasons=0)
        lat_nor.append(time.perf_counter() - t)
    for r in records:
        t = time.perf_counter()
        x = model.encode_row(r)
        t1 = time.perf_counter()
        model.margins(x, num_threads=1)
        t2 = time.perf_counter()
        model.contributions(x)
        t3 = time.perf_counter()
        lat_enc.append(t1 - t)
        lat_pred.append(t2 - t1)
        lat_why.append(t3 - t2)
    t_contrib = []
    for r in records[:500] if model.booster is not None else []:
        x = model.encode_row(r)
        t = time.perf_counter()
        model.booster.predict(x, pred_contrib=True, num_threads=1)
        t_contrib.append(time.perf_counter() - t)
    gc.enable()
    print(f"single row ({len(records):,} distinct rows, 1 thread):")
    print("  score + calibration + 4 reasons (target p99 ≤ 1000 µs); wall time, and this "
          "thread's CPU time (excludes preemption by other processes):")
    for i, (lat, cpu) in enumerate(passes, 1):
        print(f"    pass {i}: wall {_pct(lat)} | CPU {_pct(cpu)}")
    print(f"  score + calibration, no reasons   {_pct(lat_nor)}")
    print(f"  parts: encode {_pct(lat_enc)}")
    print(f"         predict {_pct(lat_pred)}")
    print(f"         contributions ({model.family}) {_pct(lat_why)}")
    if model.booster is None:  # a scorecard: no trees to compare with pred_contrib
        _batch(args, model, cols)
        return
    print(f"  (LightGBM pred_contrib for one row: {_pct(t_contrib)})")

    # -- reason agreement with pred_contrib ------------------------------------------------
    X = model.encode(oot.head(args.agree))
    exact = model.engine.contributions(X, num_threads=args.threads)
    fast = np.array([model.contributions(x) for x in X])
    diff = float(np.abs(fast - exact).max())
    agree = {k: float((top_k_indices(fast, k) == top_k_indices(exact, k)).all(axis=1).mean())
             for k in (1, 3, 4)}
    print(f"reasons vs pred_contrib on {len(X):,} rows: max |Δ| {diff:.2e}; top-k identical: "
          + ", ".join(f"k={k} {v:.2%}" for k, v in agree.items()))

    _batch(args, model, cols)


def _batch(args, model, cols) -> None:
    if args.batch:
        t0 = time.perf_counter()
        big = synthetic_frame(args.batch, seed=args.seed + 7)[cols]
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = model.score_frame(big, num_threads=args.threads)
        t_batch = time.perf_counter() - t0
        print(f"batch: {len(out):,} rows scored in {t_batch:.1f} s "
              f"({len(out) / t_batch:,.0f} rows/s, {args.threads} threads; data generated in "
              f"{t_gen:.1f} s); grades: "
              + ", ".join(f"{g} {s:.1%}" for g, s in
                          out["risk_grade"].value_counts(normalize=True).sort_index().items()))


if __name__ == "__main__":
    main()
