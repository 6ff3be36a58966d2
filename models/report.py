"""Render an ``Evaluation`` as ``report.md`` + ``report.json`` + PNG charts (matplotlib, Agg).

The JSON holds every number; the Markdown is for people (tables + the charts beside it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from models.evaluate import Evaluation

CHARTS = ("roc.png", "score_distribution.png", "calibration.png", "deciles.png")


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _table(rows: list[dict[str, Any]], cols: list[str], digits: int = 4) -> str:
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join(
        "| " + " | ".join(_fmt(r.get(c), digits) for c in cols) + " |\n" for r in rows
    )


def write_report(ev: Evaluation, out_dir: str | Path, *, title: str = "",
                 extra: dict[str, Any] | None = None) -> list[Path]:
    """Write the report files into ``out_dir`` (created); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {**ev.summary, **(extra or {})}
    paths = _charts(ev, out)
    summary["charts"] = [p.name for p in paths]
    (out / "report.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False,
                                                default=_json_default), encoding="utf-8")
    (out / "report.md").write_text(_markdown(summary, title), encoding="utf-8")
    return [out / "report.md", out / "report.json", *paths]


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


FAMILY_NAMES = {"lightgbm": "LightGBM", "scorecard": "WOE scorecard",
                "blend": "LightGBM + WOE scorecard blend"}


def _markdown(s: dict[str, Any], title: str) -> str:
    d = s["data"]
    name = FAMILY_NAMES.get(s.get("family", "lightgbm"), "model")
    lines = [f"# {title or 'Model report'} — {s['version']}", ""]
    period = f", {d['from']} → {d['to']}" if "from" in d else ""
    lines.append(f"Data: {d.get('label') or 'frame'} — {d['rows']:,} rows, {d['bads']:,} bads "
                 f"(bad rate {d['bad_rate']:.2%}){period}.")
    if d.get("rows_trained_on"):
        lines.append(f"\n> **Warning:** {d['rows_trained_on']:,} of {d['rows']:,} rows "
                     f"({d['rows_trained_on'] / d['rows']:.0%}) were in the model's training "
                     "data (matched by row fingerprint), so these metrics are optimistic.")
    if d.get("rows_before_oot"):
        lines.append(f"\n> **Warning:** {d['rows_before_oot']:,} rows fall before the model's "
                     f"out-of-time cut-off ({d['oot_from']}): they were used in training, so "
                     "these metrics are optimistic.")
    if "split" in s:
        sp = s["split"]
        kind = sp.get("kind", "out-of-time")
        lines += ["", f"## Split ({sp['method']}; {kind} test part)", ""]
        if kind == "hold-out":
            lines.append("No time column: the test part is the last rows in file order — a "
                         "hold-out, not an out-of-time test.\n")
        lines.append(_table([{"part": "fitted" if k == "train" else k, **sp[k]}
                             for k in ("train", "test")],
                            ["part", "rows", "bads", "bad_rate", "from", "to"]))
    if s.get("cv"):
        from models.train import setting

        cv = s["cv"]
        lines += ["", f"## Model family by cross-validation ({cv['method']})", ""]
        rows = [{"family": k, "chosen": "✓" if k == cv["chosen"] else "",
                 "mean fold AUC": r["auc_mean"], "sd": r["auc_sd"],
                 "setting": setting(r)}
                for k, r in cv["families"].items()]
        lines.append(_table(rows, ["family", "chosen", "mean fold AUC", "sd", "setting"]))
        lines.append("Same folds for every family; a blend must beat both by 0.001 (it chose "
                     "its weight on these folds). The chosen family was refitted on the whole "
                     "fitted part; its calibrator and grade bands were fitted on the "
                     "out-of-fold predictions.")
    if s.get("tuning"):
        t = s["tuning"]
        lines.append(f"\nTuning ({t['library']}, budget {t['budget_seconds']:g} s): "
                     f"{t['trials']} trials, mean fold AUC {t['default_auc']:.4f} → "
                     f"{t['best_auc']:.4f}; best {t['best']}.")
    lines += ["", "## Discrimination and calibration", ""]
    rows = [{"model": f"{name} (calibrated)", **s["model"]},
            {"model": f"{name} (uncalibrated)", **s["model_uncalibrated"]}]
    if "baseline" in s:
        rows.append({"model": "WOE logistic scorecard (baseline)", **s["baseline"]})
    if "oracle" in s:
        rows.append({"model": "Oracle (true PD)", **s["oracle"]})
    lines.append(_table(rows, ["model", "auc", "gini", "ks", "brier", "ece", "logloss", "mean_pd"]))
    lines += ["![ROC](roc.png) ![Calibration](calibration.png)", "",
              "## Calibration table (equal-frequency PD bins)", ""]
    lines.append(_table(s["calibration"], ["bin", "rows", "mean_pd", "bad_rate"]))
    lines += ["", "## Score deciles (riskiest first)", ""]
    lines.append(_table(s["deciles"], ["decile", "rows", "bads", "bad_rate", "min_score",
                                       "max_score", "cum_bad_share", "lift"], 3))
    lines += ["![Deciles](deciles.png) ![Scores](score_distribution.png)", "",
              "## Risk grades", ""]
    g = s.get("grading") or {}
    if g:
        how = (f"PD cut-offs {', '.join(f'{c:.2%}' for c in g['cutoffs'])}"
               if g.get("method") == "pd" else
               f"score quantiles at {', '.join(f'{c:.0%}' for c in g['cumulative_shares'])} "
               "of the training applicants")
        lines.append(f"Bands: {how}" + (f" — {g['why']}" if g.get("why") else "") + ".\n")
    lines.append(_table(s["grades"], ["grade", "min_score", "max_score", "pd_from", "pd_to",
                                      "rows", "share", "mean_pd", "bad_rate"]))
    if s.get("points"):
        pts = s["points"]
        lines += ["", f"## Scorecard points (base {pts['base_points']:g}; the score is the base "
                  "plus one row per feature)", ""]
        lines.append(_table(pts["bins"], ["feature", "bin", "rows", "bad_rate", "woe",
                                          "points"], 3))
    if "psi" in s:
        psi = s["psi"]
        lines += ["", f"## Stability (PSI vs training part): score PSI = {psi['score']:.4f}", ""]
        top = sorted(psi["features"].items(), key=lambda kv: -kv[1])[:15]
        lines.append(_table([{"feature": k, "psi": v} for k, v in top], ["feature", "psi"]))
        lines.append("PSI < 0.1 stable, 0.1–0.25 watch, > 0.25 shifted.")
    for seg, rows_ in s.get("segments", {}).items():
        lines += ["", f"## AUC by {seg}", ""]
        lines.append(_table(rows_, ["segment", "rows", "bads", "bad_rate", "auc"]))
    imp = s["importance"]
    lines += ["", "## Top features", ""]
    merged = [{"rank": i + 1, "by gain": g["feature"], "gain share": g["share"],
               "by mean abs SHAP": h["feature"], "SHAP share": h["share"]}
              for i, (g, h) in enumerate(zip(imp["gain"][:15], imp["shap"][:15], strict=False))]
    lines.append(_table(merged, ["rank", "by gain", "gain share", "by mean abs SHAP",
                                 "SHAP share"], 3))
    lines += ["", "Definitions: ECE over 10 equal-frequency PD bins; PSI over training-part "
              "deciles with a missing bin; deciles by score, lowest score first.", ""]
    return "\n".join(lines)


def _charts(ev: Evaluation, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    c, s = ev.curves, ev.summary
    y = c["y"]
    paths = []
    if y.min() != y.max():
        fig, ax = plt.subplots(figsize=(5, 5), dpi=80)
        model_name = FAMILY_NAMES.get(s.get("family", "lightgbm"), "model")
        for key, name in (("pd", model_name), ("baseline_pd", "WOE baseline"),
                          ("oracle_pd", "oracle")):
            if key in c:
                fpr, tpr, _ = roc_curve(y, c[key])
                a = s["model" if key == "pd" else key.removesuffix("_pd")]["auc"]
                ax.plot(fpr, tpr, label=f"{name} (AUC {a:.3f})")
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
        ax.legend(loc="lower right")
        paths.append(_save(fig, out / "roc.png"))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=80)
    bins = np.linspace(c["score"].min(), c["score"].max() + 1, 40)
    ax.hist(c["score"][y == 0], bins=bins, alpha=0.6, density=True, label="good")
    ax.hist(c["score"][y == 1], bins=bins, alpha=0.6, density=True, label="bad")
    ax.set(xlabel="score (points)", ylabel="density", title="Score distribution")
    ax.legend()
    paths.append(_save(fig, out / "score_distribution.png"))
    fig, ax = plt.subplots(figsize=(5, 5), dpi=80)
    for key, name in (("pd", "calibrated"), ("pd_raw", "uncalibrated"),
                      ("baseline_pd", "WOE scorecard")):
        if key in c:
            from models.evaluate import calibration_table

            t = calibration_table(y, c[key])
            ax.plot([r["mean_pd"] for r in t], [r["bad_rate"] for r in t], "o-", label=name)
    lo = float(max(np.quantile(c["pd"], 0.01), 1e-4))
    hi = float(min(max(np.quantile(c["pd"], 0.999), y.mean() * 2), 1.0))
    ax.plot([lo, hi], [lo, hi], "k:", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")  # PDs span two decades; bins with no bads are not drawn
    ax.set(xlabel="mean predicted PD", ylabel="observed bad rate", title="Calibration (log-log)")
    ax.legend()
    paths.append(_save(fig, out / "calibration.png"))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=80)
    dec = s["deciles"]
    ax.bar([r["decile"] for r in dec], [r["bad_rate"] for r in dec])
    ax.axhline(y.mean(), color="k", ls=":", lw=0.8)
    ax.set(xlabel="score decile (1 = riskiest)", ylabel="bad rate", title="Bad rate by decile")
    paths.append(_save(fig, out / "deciles.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    # fixed margins: tight_layout costs more than drawing the chart itself
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.13, top=0.91)
    fig.savefig(path)
    plt.close(fig)
    return path
