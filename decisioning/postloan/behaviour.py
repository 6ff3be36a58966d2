"""The behaviour score in the nightly inspection: every active loan scored by the behaviour
champion on tonight's post-loan features, stored per loan per night, and what the runs page
shows of it.

Why a second model: the application score is fixed at the decision, so a loan's score never
moved while its days past due ran 0–70. The behaviour champion (registry purpose `behaviour`,
trained on `featurestore.snapshots` loan-month frames) reads the same loan features the rules
read — computed by the same code as its training rows — and re-estimates each night the
probability of reaching 60+ DPD within 6 months.

No behaviour champion: the columns are missing (NaN), so the rules reading `behaviour_*` do not
fire (a comparison on a missing feature is false) and the report says so. The application
score is never put under the behaviour name.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, aliased

from chedaitong.db.behaviour import BehaviourScore
from chedaitong.db.servicing import Loan, PostloanAction
from servicing.batch import decimals_from_cents, ppm_of_cents

GRADES = ("A", "B", "C", "D", "E")
N_REASONS = 3
NO_CHAMPION = "no behaviour champion: behaviour rules did not fire, no behaviour scores stored"
COLUMNS = ["behaviour_pd", "behaviour_score", "behaviour_grade", "behaviour_reasons",
           "behaviour_version"]


@lru_cache(maxsize=8)
def _model(model_root: str | None, alias: str, generation: tuple | None) -> Any:
    from models.registry import Registry
    from models.scoring import ScoringModel

    reg = Registry(model_root, "behaviour")
    if reg.aliases().get(alias) is None:
        return None
    return ScoringModel.from_version(reg.load(alias))


def champion(model_root: str | None) -> Any:
    """The behaviour champion of the registry at ``model_root``, or None when none is set;
    loaded again after a promotion (the cache is keyed by the registry's alias generation),
    so a long-lived nightly worker follows the registry as the decision service does."""
    return _model(model_root, "champion", _generation(model_root))


def challenger(model_root: str | None) -> Any:
    """The behaviour challenger (same cache and generation), or None."""
    return _model(model_root, "challenger", _generation(model_root))


def _generation(model_root: str | None) -> tuple | None:
    from models.registry import Registry

    return Registry(model_root, "behaviour").generation()


def score(features: pd.DataFrame, model: Any, threads: int = 2) -> pd.DataFrame:
    """`COLUMNS` for each row of ``features`` (index kept); all missing without a model."""
    n = len(features)
    if model is None or n == 0:
        return pd.DataFrame({
            "behaviour_pd": np.full(n, np.nan), "behaviour_score": np.full(n, np.nan),
            "behaviour_grade": pd.Categorical([None] * n, categories=GRADES),
            "behaviour_reasons": _no_reasons(n),
            "behaviour_version": [None] * n,
        }, index=features.index)
    frame = features.reindex(columns=list(model.feature_names))
    s = model.score_frame(frame, num_threads=threads)
    return pd.DataFrame({
        "behaviour_pd": s["model_pd"].to_numpy(),
        "behaviour_score": s["model_score"].to_numpy(dtype="float64"),
        "behaviour_grade": pd.Categorical(s["risk_grade"].astype(str), categories=GRADES),
        "behaviour_reasons": _no_reasons(n),
        "behaviour_version": model.version,
    }, index=features.index)


def _no_reasons(n: int) -> np.ndarray:
    """n empty reason lists as one shared empty tuple: a fresh list per loan was 100k
    objects per partition for the garbage collector to walk (~0.7 s)."""
    out = np.empty(n, dtype=object)
    out.fill(())
    return out


def reasons(features: pd.DataFrame, model: Any, rows: np.ndarray, threads: int = 2
            ) -> np.ndarray:
    """The `N_REASONS` features that raised each row's behaviour PD most — for the ``rows``
    (boolean mask) only: exact contributions cost ~0.2 ms a loan, so the nightly job explains
    the loans someone will act on tonight (those with an action), not the whole book."""
    out = _no_reasons(len(features))
    if model is None or not rows.any():
        return out
    picked = features[rows].reindex(columns=list(model.feature_names))
    names = model.reason_names(model.encode(picked), N_REASONS, num_threads=threads)
    for i, row in zip(np.flatnonzero(rows), names, strict=True):
        out[i] = [r for r in row if r]
    return out


def exposure_cents(loans: pd.DataFrame, installments: pd.DataFrame) -> np.ndarray:
    """Outstanding principal per loan (int64 cents, `loans` order): the read's
    ``exposure_cents`` when it summed the whole schedule, else from `installments`."""
    if "exposure_cents" in loans.columns:
        return loans["exposure_cents"].to_numpy(np.int64)
    ids = pd.Index(loans["loan_id"].to_numpy())
    principal = installments["unpaid_principal"]
    if ids.is_unique and pd.api.types.is_integer_dtype(principal.dtype):
        # integer sums by each line's loan row: a groupby hashed and sorted every line
        pos = ids.get_indexer(installments["loan_id"].to_numpy())
        hit = pos >= 0
        out = np.zeros(len(ids), np.int64)
        np.add.at(out, pos[hit], principal.to_numpy(np.int64)[hit])
        return out
    owed = installments.groupby("loan_id")["unpaid_principal"].sum()
    return owed.reindex(loans["loan_id"].to_numpy(), fill_value=0).to_numpy(np.int64)


def frame(loans: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """`behaviour_scores` rows of one partition's result (only loans that were scored).

    Expected loss is `to_cents(Decimal(repr(pd)) * exposure)` with pd as stored (6 places),
    in integers for the whole partition (`servicing.batch.ppm_of_cents`): the same cents,
    not one Decimal product per loan."""
    scored = loans[loans["behaviour_version"].notna()]
    stored = [round(float(x), 6) for x in scored["behaviour_pd"]]  # reproducible as stored
    micro = np.rint(np.asarray(stored, np.float64) * 1e6).astype(np.int64)
    exposure = scored["exposure_cents"].to_numpy(np.int64)
    loss = ppm_of_cents(np.maximum(exposure, 0), micro)  # an over-paid schedule owes nothing
    routing = (scored["behaviour_routing"].tolist() if "behaviour_routing" in scored.columns
               else [None] * len(scored))  # decisioning.behaviour_routing
    return pd.DataFrame({
        "loan_id": scored["loan_id"].astype(np.int64).tolist(), "as_of": as_of,
        "model_version": scored["behaviour_version"].tolist(), "pd": stored,
        "score": scored["behaviour_score"].astype(np.int64).tolist(),
        "grade": scored["behaviour_grade"].astype(str).tolist(),
        "reasons": [list(r) for r in scored["behaviour_reasons"]],
        "exposure": decimals_from_cents(exposure), "expected_loss": decimals_from_cents(loss),
        "routing": routing,
    })


def persist(session: Session, loans: pd.DataFrame, as_of: date) -> None:
    """Insert the night's behaviour scores of one partition (the caller's transaction)."""
    data = frame(loans, as_of)
    if len(data):
        session.execute(insert(BehaviourScore), data.to_dict("records"))


def work_queue(session: Session, as_of: date, action: str) -> list[PostloanAction]:
    """A night's actions of one kind (`phone_task`, `outsourced_collection`, …), largest
    expected loss (behaviour PD × exposure) first; loans without a behaviour score last, by
    days past due."""
    b = BehaviourScore
    stmt = (select(PostloanAction)
            .outerjoin(b, (b.loan_id == PostloanAction.loan_id) & (b.as_of == PostloanAction.as_of))
            .where(PostloanAction.as_of == as_of, PostloanAction.action == action)
            .order_by(func.coalesce(b.expected_loss, -1).desc(), PostloanAction.dpd.desc(),
                      PostloanAction.id))
    return list(session.scalars(stmt))


# ---- the report and the runs page -------------------------------------------------------
def report(session: Session, as_of: date) -> dict[str, Any]:
    """The night's behaviour-score section of the run report (read back from what is stored,
    so a resumed run reports the same as a clean one)."""
    b = BehaviourScore
    # counted in SQL: a few hundred rows, not one a loan; the PDs (stored to 6 places) summed
    # as whole millionths, so the mean does not depend on the order the rows are summed in
    got = pd.DataFrame(session.execute(
        select(b.model_version, b.score, b.grade, func.count(),
               func.sum(func.round(b.pd * 1_000_000)))
        .where(b.as_of == as_of).group_by(b.model_version, b.score, b.grade)).all(),
        columns=["version", "score", "grade", "n", "pd_micro"])
    active = session.scalar(select(func.count()).select_from(Loan)
                            .where(Loan.status == "active")) or 0
    if got.empty:
        return {"champion": None, "scored": 0, "note": NO_CHAMPION}
    n = got["n"].to_numpy(np.int64)
    scores = pd.Series(np.repeat(got["score"].to_numpy(float), n))
    by_grade = got.groupby("grade")["n"].sum()
    return {
        "champion": sorted(set(got["version"]))[-1],
        "scored": int(n.sum()),
        "active_loans": int(active),
        "distinct_scores": int(got["score"].nunique()),
        "pd_mean": round(float(got["pd_micro"].astype(float).sum()) / 1e6 / int(n.sum()), 6),
        "score": {"mean": round(float(scores.mean()), 2),
                  **{f"p{q}": round(float(scores.quantile(q / 100)), 1) for q in (10, 50, 90)}},
        "by_grade": {g: int(by_grade.get(g, 0)) for g in GRADES},
    }


def grade_migration(session: Session, before: date, after: date) -> dict[str, dict[str, int]]:
    """Loans per (grade on ``before``, grade on ``after``): the transition matrix."""
    b1, b2 = aliased(BehaviourScore), aliased(BehaviourScore)
    found = session.execute(
        select(b1.grade, b2.grade, func.count()).join(b2, b2.loan_id == b1.loan_id)
        .where(b1.as_of == before, b2.as_of == after).group_by(b1.grade, b2.grade)).all()
    counts = Counter({(f, t): n for f, t, n in found})
    return {f: {t: counts.get((f, t), 0) for t in GRADES} for f in GRADES}
