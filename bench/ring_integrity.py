"""The fraud ring of a generated world, before and after the #14 underwriting rules.

Point-in-time features of every world application (the offline store), the champion's PD
(trained on the same world, or ``--model-dir``), and the platform's own books computed from
the world's application history as they stood at each application time (what
`decisioning.origination.exposure` reads online). Both rule versions are evaluated by the
vectorised executor; an application counts as approved when underwriting passes and a product
matches (what `decisioning.policy` does). Prints the share of ring applications approved and the
approval rate of the others, before and after.

    .venv/bin/python bench/ring_integrity.py --world /tmp/world --baseline main
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from chedaitong.crypto import DataCipher
from featurestore import catalog, offline
from models.registry import Registry
from models.scoring import load_champion
from models.train import train_and_register
from ruleengine.rulebook import RuleBook

ROOT = Path(__file__).resolve().parents[1]
DAY = pd.Timedelta(days=1)
OFFER_VALID = 30 * DAY  # an approved, unbooked application is open this long


def platform_books(apps: pd.DataFrame) -> pd.DataFrame:
    """Per application, the customer's other applications and loans before it (index =
    application_id); the offline mirror of `origination.exposure.features` (no VINs in the
    world, so `vehicle_financed_elsewhere` stays missing). An application replaced by a
    re-application is not counted (slightly early: from its own time, not the re-application's).
    """
    a = apps[["application_id", "customer_id", "applied_at", "term_months", "loan_amount",
              "booked", "decision"]].copy()
    a["loan_amount"] = a["loan_amount"].astype(float)
    a["ends"] = a["applied_at"] + pd.to_timedelta(a["term_months"] * 30, unit="D")
    a["superseded"] = a["application_id"].isin(set(apps["previous_application_id"].dropna()))
    pairs = a.merge(a, on="customer_id", suffixes=("", "_o"))
    pairs = pairs[(pairs["applied_at_o"] < pairs["applied_at"])]
    age = pairs["applied_at"] - pairs["applied_at_o"]
    active = pairs["booked_o"].astype(bool) & (pairs["ends_o"] > pairs["applied_at"])
    open_ = ((pairs["decision_o"] == "approved") & ~pairs["booked_o"].astype(bool)
             & (age < OFFER_VALID) & ~pairs["superseded_o"])
    counted = ~pairs["superseded_o"]
    cols = pd.DataFrame({
        "application_id": pairs["application_id"],
        "platform_open_applications": open_.astype(int),
        "platform_active_loans": active.astype(int),
        "platform_exposure_amount": pairs["loan_amount_o"].where(active | open_, 0.0),
        **{f"platform_applications_{d}d": (counted & (age <= d * DAY)).astype(int)
           for d in (30, 90, 180)},
    })
    books = cols.groupby("application_id").sum()
    books = books.reindex(a["application_id"], fill_value=0)
    books["platform_exposure_with_this"] = (books["platform_exposure_amount"]
                                            + a.set_index("application_id")["loan_amount"])
    return books


def approvals(book: RuleBook, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    uw = book.evaluate_frame(frame, "underwriting")
    products = book.evaluate_frame(frame, "products")
    has_product = products["eligible_products"].map(len) > 0
    return (uw["outcome"] == "pass") & has_product, uw["fired_rules"]


def rules_at(revision: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", revision, "rules/"],
                           cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    for name in names:
        target = out / Path(name).relative_to("rules")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(subprocess.run(["git", "show", f"{revision}:{name}"], cwd=ROOT,
                                          check=True, capture_output=True).stdout)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", type=Path, required=True)
    ap.add_argument("--baseline", default="main", help="git revision of the rules before")
    ap.add_argument("--model-dir", type=Path, help="registry with a champion (else trained)")
    args = ap.parse_args()
    started = time.perf_counter()
    cipher = DataCipher(bytes(32))
    facts = offline.world_facts(args.world, cipher.blind_index)
    entities = offline.application_entities(args.world)
    frame = offline.historical_applications(Path("-"), entities, facts=facts)
    frame["application_id"] = entities["application_id"].to_numpy()
    t_frame = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="ring-"))
    root = args.model_dir
    if root is None:
        root = tmp / "models"
        registry = Registry(root)
        version, _ = train_and_register(frame.drop(columns=["application_id"]), registry,
                                        report=False, source=str(args.world))
        registry.promote(version, "champion")
    model = load_champion(root)
    scored = model.score_frame(frame)
    t_model = time.perf_counter()
    apps = offline.read_world_table(args.world, "applications")
    books = platform_books(apps)
    full = pd.concat([frame.reset_index(drop=True),
                      scored[["model_pd", "model_score", "risk_grade"]].reset_index(drop=True)],
                     axis=1)
    full = full.join(books, on="application_id")
    before_book = RuleBook(rules_at(args.baseline, tmp / "before"), catalog=catalog())
    after_book = RuleBook(ROOT / "rules", catalog=catalog())
    before, _ = approvals(before_book, full)
    # every world application had consent; the world has no VINs
    after_frame = full.assign(consent_valid=True, vehicle_financed_elsewhere=np.nan)
    after, fired = approvals(after_book, after_frame)
    ring = full["fraud_ring"].astype(bool).to_numpy()
    new_rules = {"UW_EXPOSURE_SECOND_LOAN_LIMIT", "UW_EXPOSURE_TOO_MANY",
                 "UW_OPEN_APPLICATION_DUPLICATE", "UW_APPLICATION_VELOCITY"}
    out = {
        "world": str(args.world), "applications": len(full), "ring_applications": int(ring.sum()),
        "ring_customers": int(full.loc[ring, "customer_id"].nunique()),
        "ring_approved_before": float(before[ring].mean()) if ring.any() else None,
        "ring_approved_after": float(after[ring].mean()) if ring.any() else None,
        "non_ring_approved_before": float(before[~ring].mean()),
        "non_ring_approved_after": float(after[~ring].mean()),
        "approved_before_only": int((before & ~after).sum()),
        "new_rules_fired": {r: int(fired.map(lambda f, r=r: r in f).sum()) for r in new_rules},
        "ring_rules_fired": pd.Series([r for f in fired[ring] for r in f]).value_counts()
        .head(8).to_dict(),
        "customers_with_exposure": int((full["platform_active_loans"]
                                        + full["platform_open_applications"] > 0).sum()),
        "model_version": model.version, "baseline_rules": args.baseline,
        "seconds": {"frame": round(t_frame - started, 1), "model": round(t_model - t_frame, 1),
                    "total": round(time.perf_counter() - started, 1)},
    }
    before_book.close()
    after_book.close()
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
