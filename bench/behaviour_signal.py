"""Where the behaviour score loses signal: the world's own knowledge against the features.

    .venv/bin/python bench/behaviour_quality.py --world W --work D     # writes D/snapshots.parquet
    .venv/bin/python bench/behaviour_signal.py --world W --work D

The generator knows, per loan, whether and when it defaults and its stress window (the
months of late-in-grace payments, trips, other lenders' SMS; `worldgen/postloan.py`). It is
rebuilt in memory from the manifest's size and seed (`World.loan_truth`, nothing written) and
joined to the bench's snapshots, on the same out-of-time split:

- **latent oracle**: a small LightGBM on what a perfect monitor could know at the snapshot —
  the application's true PD, months on book, in a stress window or not and for how long —
  never on the future (default day, window end). The ceiling for any behaviour score; with
  the stress's kind as well (deepening or a hardship that passes: which traces it leaves,
  `worldgen/postloan.py`), the ceiling for a score that reads every trace perfectly.
- **visibility of the stress**: how well each feature family tells a stressed loan from a
  calm one at the snapshot (AUC for the latent "in stress" flag), and the share of the
  current bads that were warned at all;
- **families**: one LightGBM (fixed parameters) per feature family and cumulatively, OOT AUC on
  all and on current snapshots — which evidence carries the score.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from featurestore.behaviour import BEHAVIOUR_COLUMNS
from featurestore.definitions import catalog
from models.evaluate import auc

FAMILIES = {  # catalog source → family
    "repayments": "repayment", "vehicle_gps": "gps", "app_events": "app",
    "device_uploads": "app", "device_sms": "sms", "bureau_pboc": "bureau",
    "decision_records": "application score", "collections": "repayment",
}
ORDER = ["repayment", "gps", "app", "sms", "bureau", "application score"]


def loan_truth(world: Path) -> pd.DataFrame:
    from chedaitong_sim.worldgen import world as wg

    manifest = json.loads((world / "manifest.json").read_text())
    w = wg.build(int(manifest["sizes"]["customers"]), int(manifest["seed"]))
    truth = pd.DataFrame(w.loan_truth)
    if len(truth) != manifest["row_counts"]["loans"]:
        raise SystemExit("the rebuilt world does not match the manifest (another generator?)")
    truth["loan_id"] = [f"LN{i:08d}" for i in range(1, len(truth) + 1)]
    apps = pd.read_parquet(world / "applications.parquet", columns=["application_id", "true_pd"])
    loans = pd.read_parquet(world / "loans.parquet", columns=["loan_id", "application_id"])
    return truth.merge(loans, on="loan_id").merge(apps, on="application_id")


def fit_auc(X: pd.DataFrame, y: np.ndarray, train: np.ndarray, masks: dict[str, np.ndarray],
            monotone: list[int] | None = None) -> dict[str, float]:
    import lightgbm as lgb

    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15,
              "min_data_in_leaf": 100, "lambda_l2": 5.0, "feature_fraction": 0.8,
              "bagging_fraction": 0.8, "bagging_freq": 1, "verbosity": -1, "seed": 1,
              "num_threads": 2, "deterministic": True, "force_col_wise": True}
    if monotone:
        params["monotone_constraints"] = monotone
    booster = lgb.train(params, lgb.Dataset(X[train].to_numpy(float), y[train]),
                        num_boost_round=300)
    p = booster.predict(X.to_numpy(float))
    return {k: round(auc(y[m], p[m]), 4) for k, m in masks.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    frame = pd.read_parquet(args.work / "snapshots.parquet")
    result = json.loads((args.work / "behaviour_quality.json").read_text())
    test_from = pd.Timestamp(result["split"]["test_from"], tz="UTC")
    target = next(c for c in frame.columns if c.startswith("bad_"))
    frame = frame[frame[target].notna()].reset_index(drop=True)
    truth = loan_truth(args.world).set_index("loan_id")
    t = truth.loc[frame["loan_id"].astype(str)].reset_index(drop=True)
    day = ((frame["snapshot_at"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(days=1)).to_numpy()
    onset, end = t["stress_onset"].to_numpy(), t["stress_end"].to_numpy()
    in_stress = (onset >= 0) & (day >= onset) & (day < end)
    y = frame[target].to_numpy(float)
    train = (frame["snapshot_at"] < test_from).to_numpy()
    test = ~train
    current = frame["days_past_due"].to_numpy() == 0
    masks = {"all": test, "current": test & current}

    latent = pd.DataFrame({"true_pd": t["true_pd"], "months_on_book": frame["months_on_book"],
                           "in_stress": in_stress * 1.0,
                           "days_in_stress": np.where(in_stress, day - onset, np.nan)})
    out: dict = {"rows": {k: int(m.sum()) for k, m in masks.items()},
                 "bads": {k: int(y[m].sum()) for k, m in masks.items()}}
    out["latent_oracle"] = fit_auc(latent, y, train, masks)
    if "stress_deepens" in t.columns:  # the stress's kind drives which traces it leaves
        deep = in_stress & t["stress_deepens"].to_numpy(bool)
        out["latent_oracle_with_kind"] = fit_auc(latent.assign(deepens=deep * 1.0), y, train,
                                                 masks)
    out["latent_oracle_without_stress"] = fit_auc(latent[["true_pd", "months_on_book"]], y,
                                                  train, masks)
    cur_bad = masks["current"] & (y == 1)
    out["current_bads_in_stress_share"] = round(float(in_stress[cur_bad].mean()), 3)
    out["current_goods_in_stress_share"] = round(
        float(in_stress[masks["current"] & (y == 0)].mean()), 3)

    cat = catalog()
    names = [f.name for f in cat.for_entity("loan") if f.name in frame.columns]
    family = {n: FAMILIES.get(cat[n].source, "other") for n in names}
    direction = {n: int(cat[n].direction) for n in names}
    stress_masks = {"all": test, "current": test & current}
    out["stress_visibility"] = {}
    out["families"] = {}
    out["cumulative"] = {}
    used: list[str] = []
    for fam in ORDER:
        cols = [n for n in names if family[n] == fam]
        if not cols:
            continue
        X = frame[cols]
        out["stress_visibility"][fam] = fit_auc(X, in_stress * 1.0, train, stress_masks)
        out["families"][fam] = fit_auc(X, y, train, masks, [direction[c] for c in cols])
        used += cols
        out["cumulative"][f"+ {fam}"] = fit_auc(frame[used], y, train, masks,
                                                [direction[c] for c in used])
    new = [c for c in BEHAVIOUR_COLUMNS if c in frame.columns]
    out["single_feature_auc_current"] = {
        c: round(auc(y[masks["current"]], np.nan_to_num(
            frame[c].to_numpy(float)[masks["current"]] * (direction[c] or 1), nan=-1e9)), 4)
        for c in names if c in new or c in ("months_on_book", "missed_payments_3m")}
    print(json.dumps(out, indent=2))
    (args.work / "behaviour_signal.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
