"""Model quality on one labelled frame: discrimination, calibration, stability, segments,
feature importance, each compared with the WOE scorecard baseline and (on synthetic data) the
oracle PD. Returns JSON-ready numbers; ``models.report`` renders them.

Conventions: PD is the probability of ``bad`` (target = 1); AUC/KS are computed on PD;
deciles are score deciles, riskiest (lowest score) first; ECE uses 10 equal-frequency bins of
predicted PD: ECE = Σ_b (n_b / N) · |mean PD_b − bad rate_b|; PSI = Σ (a − e) · ln(a / e) over
bins fixed on the training part (shares floored at 1e-4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.data import naive_utc
from models.features import FeatureSpec

if TYPE_CHECKING:
    from models.scoring import ScoringModel
    from models.woe import WoeScorecard

SEGMENTS = ("lease_type", "dealer_channel", "province", "region")
_FLOOR = 1e-4


def auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the ROC curve; None when ``y`` has one class."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    if y.min() == y.max():
        return None
    return float(roc_auc_score(y, p))


def ks(y: np.ndarray, p: np.ndarray) -> float | None:
    """Kolmogorov–Smirnov: max distance between the bads' and goods' PD distributions."""
    from sklearn.metrics import roc_curve

    y = np.asarray(y)
    if y.min() == y.max():
        return None
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, float) - np.asarray(y, float)) ** 2))


def logloss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(np.asarray(p, float), 1e-12, 1 - 1e-12)
    y = np.asarray(y, float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _equal_freq_bins(p: np.ndarray, bins: int) -> np.ndarray:
    order = np.argsort(p, kind="stable")
    labels = np.empty(len(p), np.intp)
    labels[order] = (np.arange(len(p)) * bins) // max(len(p), 1)
    return labels


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Per equal-frequency PD bin: rows, mean predicted PD, observed bad rate."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    lab = _equal_freq_bins(p, bins)
    out = []
    for b in range(bins):
        m = lab == b
        if m.any():
            out.append({"bin": b + 1, "rows": int(m.sum()), "mean_pd": float(p[m].mean()),
                        "bad_rate": float(y[m].mean())})
    return out


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-frequency bins (see module docstring)."""
    table = calibration_table(y, p, bins)
    n = sum(r["rows"] for r in table)
    return float(sum(r["rows"] / n * abs(r["mean_pd"] - r["bad_rate"]) for r in table))


def decile_table(y: np.ndarray, score: np.ndarray, n: int = 10) -> list[dict[str, Any]]:
    """Score deciles, riskiest first: rows, bads, bad rate, score range, cumulative share of
    bads captured and lift (decile bad rate / overall bad rate)."""
    y = np.asarray(y, float)
    lab = _equal_freq_bins(np.asarray(score, float), n)
    total_bads, overall = max(y.sum(), 1e-12), max(y.mean(), 1e-12)
    out, cum = [], 0.0
    for d in range(n):
        m = lab == d
        if not m.any():
            continue
        bads = float(y[m].sum())
        cum += bads
        out.append({
            "decile": d + 1, "rows": int(m.sum()), "bads": int(bads),
            "bad_rate": float(y[m].mean()), "min_score": int(np.min(score[m])),
            "max_score": int(np.max(score[m])), "cum_bad_share": cum / total_bads,
            "lift": float(y[m].mean()) / overall,
        })
    return out


def summarize(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, KS, Gini, Brier, log-loss, ECE, mean PD and bad rate of one prediction vector."""
    a = auc(y, p)
    return {
        "rows": int(len(y)), "bads": int(np.sum(y)), "bad_rate": float(np.mean(y)),
        "mean_pd": float(np.mean(p)), "auc": a, "gini": None if a is None else 2 * a - 1,
        "ks": ks(y, p), "brier": brier(y, p), "logloss": logloss(y, p), "ece": ece(y, p),
    }


# -- stability ----------------------------------------------------------------------------
def _numeric_edges(x: np.ndarray) -> list[float]:
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return []
    return np.unique(np.quantile(x, np.linspace(0.1, 0.9, 9))).tolist()


def _numeric_shares(x: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    missing = np.isnan(x)
    idx = np.searchsorted(np.asarray(edges, float), x[~missing], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, missing.sum())
    return counts / max(len(x), 1)


def _category_shares(codes: np.ndarray, n_levels: int) -> np.ndarray:
    missing = np.isnan(codes)
    counts = np.bincount(codes[~missing].astype(np.intp), minlength=n_levels)[:n_levels]
    return np.append(counts.astype(float), missing.sum()) / max(len(codes), 1)


def reference_distribution(
    scores: np.ndarray, X: np.ndarray, specs: Sequence[FeatureSpec]
) -> dict[str, Any]:
    """Bins and shares of the training part's scores and features, stored with the model so
    PSI can be computed later without the training data. ``X``: encoded (rows, n_features)."""
    s = np.asarray(scores, float)
    ref: dict[str, Any] = {"score": {"edges": _numeric_edges(s)}, "features": {}}
    ref["score"]["shares"] = _numeric_shares(s, ref["score"]["edges"]).tolist()
    for j, spec in enumerate(specs):
        if spec.dtype == "category":
            shares = _category_shares(X[:, j], len(spec.categories))
            ref["features"][spec.name] = {"kind": "category", "shares": shares.tolist()}
        else:
            edges = _numeric_edges(X[:, j])
            shares = _numeric_shares(X[:, j], edges).tolist()
            ref["features"][spec.name] = {"kind": "numeric", "edges": edges, "shares": shares}
    return ref


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index Σ (a − e)·ln(a / e) between two share vectors; each share
    is floored at 1e-4, so an empty bin counts heavily instead of being infinite."""
    e = np.maximum(np.asarray(expected, float), _FLOOR)
    a = np.maximum(np.asarray(actual, float), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_against(
    reference: dict[str, Any], scores: np.ndarray, X: np.ndarray, specs: Sequence[FeatureSpec]
) -> dict[str, Any]:
    """PSI of ``scores`` and of each feature against the stored reference."""
    s = np.asarray(scores, float)
    out = {"score": psi(reference["score"]["shares"],
                        _numeric_shares(s, reference["score"]["edges"])), "features": {}}
    for j, spec in enumerate(specs):
        ref = reference["features"].get(spec.name)
        if ref is None:
            continue
        if ref["kind"] == "category":
            act = _category_shares(X[:, j], len(ref["shares"]) - 1)
        else:
            act = _numeric_shares(X[:, j], ref["edges"])
        out["features"][spec.name] = psi(ref["shares"], act)
    return out


def segment_auc(
    y: np.ndarray, p: np.ndarray, values: pd.Series, min_rows: int = 200
) -> list[dict[str, Any]]:
    """AUC per segment value (largest first); segments below ``min_rows`` or with one class
    report ``auc: null``."""
    out = []
    vals = values.astype("string").fillna("(missing)").to_numpy()
    for v, n in pd.Series(vals).value_counts().items():
        m = vals == v
        ym = y[m]
        a = auc(ym, p[m]) if n >= min_rows else None
        out.append({"segment": str(v), "rows": int(n), "bads": int(ym.sum()),
                    "bad_rate": float(ym.mean()), "auc": a})
    return out


# -- the whole evaluation -----------------------------------------------------------------
@dataclass
class Evaluation:
    """``summary``: JSON-ready numbers; ``curves``: arrays for the charts."""

    summary: dict[str, Any]
    curves: dict[str, np.ndarray] = field(default_factory=dict)


def evaluate(
    model: ScoringModel,
    frame: pd.DataFrame,
    *,
    target: str,
    baseline: WoeScorecard | None = None,
    reference: dict[str, Any] | None = None,
    time: str | None = None,
    oot_from: str | None = None,
    train_rows: np.ndarray | None = None,
    label: str = "",
    shap_rows: int = 2000,
    num_threads: int = 2,
) -> Evaluation:
    """Evaluate ``model`` on ``frame`` (feature columns by spec name, 0/1 ``target``; optional
    ``true_pd`` and segment columns). Rows the model was trained on make the metrics
    optimistic and are counted: by ``train_rows`` (the version's sorted row hashes) in
    ``data.rows_trained_on``, and by the out-of-time cut-off ``oot_from`` (rows before it) in
    ``data.rows_before_oot``."""
    y = frame[target].to_numpy(dtype=float)
    X = model.encode(frame)
    margin = model.margins(X, num_threads=num_threads)
    p_raw = 1.0 / (1.0 + np.exp(-margin))
    p = model.calibrator.predict(margin)
    score = model.scorecard.points_from_logit(np.asarray(model.calibrator.logit(margin), float))
    data: dict[str, Any] = {"label": label, "rows": int(len(y)), "bads": int(y.sum()),
                            "bad_rate": float(y.mean())}
    if train_rows is not None:
        from models.train import row_hashes

        h = row_hashes(X)
        pos = np.searchsorted(train_rows, h).clip(0, max(len(train_rows) - 1, 0))
        seen = (train_rows[pos] == h) if len(train_rows) else np.zeros(len(h), bool)
        data["rows_trained_on"] = int(seen.sum())
    if time and time in frame.columns:
        ts = naive_utc(pd.to_datetime(frame[time]))
        data.update({"time_column": time, "from": str(ts.min()), "to": str(ts.max())})
        if oot_from:
            data["oot_from"] = oot_from
            data["rows_before_oot"] = int((ts < naive_utc(pd.Timestamp(oot_from))).sum())
    summary: dict[str, Any] = {
        "version": model.version,
        "family": model.family,
        "data": data,
        "model": summarize(y, p),
        "model_uncalibrated": summarize(y, p_raw),
        "calibration": calibration_table(y, p),
        "deciles": decile_table(y, score),
        "grades": _grade_table(y, p, model.scorecard.grades(score), model.scorecard),
        "grading": model.scorecard.grading,
    }
    if model.family == "scorecard":
        summary["points"] = scorecard_points(model)
    curves: dict[str, np.ndarray] = {"y": y, "pd": p, "pd_raw": p_raw, "score": score}
    if baseline is not None:
        pb = baseline.predict_proba(frame)
        summary["baseline"] = {"kind": "WOE-binned logistic scorecard (optbinning)",
                               **summarize(y, pb)}
        curves["baseline_pd"] = pb
    if "true_pd" in frame.columns and frame["true_pd"].notna().all():
        po = frame["true_pd"].to_numpy(dtype=float)
        summary["oracle"] = {"kind": "true PD of the synthetic world", **summarize(y, po)}
        curves["oracle_pd"] = po
    if reference is not None:
        summary["psi"] = psi_against(reference, score, X, model.specs)
    summary["segments"] = {
        seg: segment_auc(y, p, frame[seg]) for seg in SEGMENTS if seg in frame.columns
    }
    summary["importance"] = importance(model, X, shap_rows=shap_rows, num_threads=num_threads)
    return Evaluation(summary, curves)


def _grade_table(y: np.ndarray, p: np.ndarray, grades: np.ndarray, card: Any
                 ) -> list[dict[str, Any]]:
    out = []
    for band in card.band_table():
        g = band["grade"]
        m = grades == g
        out.append({**band, "rows": int(m.sum()), "share": float(m.mean()),
                    "mean_pd": float(p[m].mean()) if m.any() else None,
                    "bad_rate": float(y[m].mean()) if m.any() else None})
    return out


def scorecard_points(model: ScoringModel) -> dict[str, Any] | None:
    """The scorecard as lenders deploy it: base points plus points per feature bin, whose sum
    is the applicant's score (before rounding and clipping). Needs Platt calibration (the
    points are linear in the margin); None otherwise."""
    cal = model.calibrator
    if model.family != "scorecard" or getattr(cal, "kind", "") != "platt":
        return None
    woe = model.engine.woe  # type: ignore[union-attr]
    card = model.scorecard
    base = card.offset - card.factor * (cal.a * woe.intercept_ + cal.b)  # type: ignore[union-attr]
    rows = [{**r, "points": round(-card.factor * cal.a * r["logit"], 1)}  # type: ignore[union-attr]
            for r in woe.bin_table()]
    return {"base_points": round(base, 1), "bins": rows}


def importance(
    model: ScoringModel, X: np.ndarray, *, shap_rows: int = 2000, num_threads: int = 2
) -> dict[str, list[dict[str, Any]]]:
    """Features ranked by gain (LightGBM: total split gain; scorecard: |coefficient| × WoE
    spread) and by mean |contribution| (exact SHAP on an evenly spaced sample of ``shap_rows``
    rows), each with its share of the total."""
    gain = model.engine.gain()
    rows = X[np.linspace(0, len(X) - 1, min(shap_rows, len(X))).astype(int)]
    contrib = model.engine.contributions(rows, num_threads=num_threads)
    mabs = np.abs(contrib).mean(axis=0)

    def ranked(v: np.ndarray, key: str) -> list[dict[str, Any]]:
        tot = max(float(v.sum()), 1e-12)
        order = np.argsort(-v, kind="stable")
        return [{"feature": model.feature_names[j], key: float(v[j]), "share": float(v[j]) / tot}
                for j in order]

    return {"gain": ranked(gain, "gain"), "shap": ranked(mabs, "mean_abs_shap")}


def evaluate_version(
    registry: Any,
    ref: str,
    frame: pd.DataFrame,
    out_dir: str | Any,
    *,
    label: str = "",
    since: str | None = None,
    num_threads: int = 2,
) -> tuple[dict[str, Any], list[Any]]:
    """Evaluate a registered version (or alias) on a labelled ``frame`` and write the report
    into ``out_dir``. Columns are matched as at training (mapped source columns are renamed);
    the version's stored baseline, training reference (PSI), fitted-row hashes and test cut-off
    are used."""
    from models.data import prepare
    from models.features import ColumnMapping
    from models.report import write_report
    from models.scoring import ScoringModel
    from models.woe import WoeScorecard

    mv = registry.load(ref)
    model = ScoringModel.from_version(mv)
    feats = mv.read_json("features.json")
    target, time = feats.get("target") or "bad_12m", feats.get("time")
    columns = {}
    for s in model.specs:
        col = s.source_column if s.source_column and s.source_column in frame.columns else s.name
        columns[col] = replace(s, source_column=col)
    mapping = ColumnMapping(columns=columns)
    if since and time and time in frame.columns:
        frame = frame[naive_utc(pd.to_datetime(frame[time])) >= naive_utc(pd.Timestamp(since))]
    prepared = prepare(frame, target=target, mapping=mapping, time=time or "",
                       bad=feats.get("bad"), min_rows=1, min_per_class=1)
    baseline = None
    if "baseline.json" in mv.manifest["files"]:
        baseline = WoeScorecard.from_dict(mv.read_json("baseline.json"), model.specs)
    ev = evaluate(model, prepared.frame, target=target, baseline=baseline,
                  reference=mv.read_json("reference.json"), time=prepared.time,
                  oot_from=mv.metrics.get("split", {}).get("test_from"),
                  train_rows=mv.train_rows(), label=label, num_threads=num_threads)
    paths = write_report(ev, out_dir, title=f"Evaluation of {mv.version}")
    return ev.summary, paths
