"""Backtest a candidate rule set against a baseline on historical applications.

Both sides run through the vector executor (the same compiled meaning as online). "Approved"
means the underwriting outcome ``pass``. The report gives, per side, the pass / refer / decline
rates and the bad rate among approved; per rule, its hit rate (fires) and unique hit rate
(the only rule firing); and the swap set — applications whose decision changes — with bad rates.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ruleengine.compiler import compile_ruleset
from ruleengine.errors import RuleEngineError, RuleFileError
from ruleengine.loader import load_dir, parse_texts
from ruleengine.rulesets import DECISION, RuleSet

OUTCOMES = ("pass", "refer", "decline")
REQUIRED = ("application_id", "bad_12m")


class BacktestError(RuleEngineError):
    """Bad input for a backtest (data file, revision, ruleset)."""


# -- inputs ---------------------------------------------------------------------------------
def read_data(path: Path | str) -> pd.DataFrame:
    """A historical feature frame from Parquet (or CSV), checked for the outcome columns."""
    p = Path(path)
    if not p.is_file():
        raise BacktestError(f"data file {p} not found")
    try:
        df = pd.read_csv(p) if p.suffix == ".csv" else pd.read_parquet(p)
    except Exception as exc:  # pyarrow / parser errors: report, don't trace
        raise BacktestError(f"cannot read {p}: {exc}") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise BacktestError(f"{p} lacks column(s) {', '.join(missing)}")
    return df


def _git(repo: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    except OSError as exc:
        raise BacktestError(f"git not available: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise BacktestError(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return done.stdout


def rules_at_revision(
    rev: str, rules_dir: Path | str, catalog: Mapping[str, Any]
) -> dict[str, RuleSet]:
    """The rule files of ``rules_dir`` as committed at ``rev`` (read with ``git show``)."""
    d = Path(rules_dir).resolve()
    probe = d if d.is_dir() else Path.cwd()
    top = Path(_git(probe, "rev-parse", "--show-toplevel").decode().strip())
    try:
        rel = d.relative_to(top).as_posix()
    except ValueError:
        rel = "rules"
    listing = _git(top, "ls-tree", "--name-only", rev, "--", f"{rel}/").decode().splitlines()
    names = [n for n in listing if n.endswith((".yaml", ".yml")) and "/" not in n[len(rel) + 1 :]]
    if not names:
        raise BacktestError(f"no rule files under {rel}/ at {rev}")
    files = {f"{rev}:{n}": _git(top, "show", f"{rev}:{n}") for n in names}
    rulesets, issues = parse_texts(files, catalog)
    if issues:
        raise RuleFileError(issues)
    return rulesets


def load_side(
    spec: str | Path, candidate_dir: Path, catalog: Mapping[str, Any]
) -> dict[str, RuleSet]:
    """A directory of rule files, or else a git revision of the candidate's directory."""
    if Path(spec).is_dir():
        return load_dir(spec, catalog)
    return rules_at_revision(str(spec), candidate_dir, catalog)


# -- computation ----------------------------------------------------------------------------
def _rate(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def _bad_labels(data: pd.DataFrame) -> np.ndarray:
    """``bad_12m`` as booleans, refused unless every row is 0 or 1: read as text, one
    'maybe' made every "0" a non-empty string, true — a 100 % bad rate in the report — and a
    missing label counted as bad (NaN is true)."""
    labels = pd.to_numeric(data["bad_12m"], errors="coerce")
    wrong = ~labels.isin([0, 1]).to_numpy()
    if wrong.any():
        rows = [int(i) + 1 for i in np.flatnonzero(wrong)[:3]]
        found = sorted({str(v) for v in data["bad_12m"][wrong]})[:3]
        raise BacktestError(f"column bad_12m must be 0 or 1 (1 = bad) on every row; found "
                            f"{found} at row(s) {rows} (counted from 1 after the header)")
    return labels.to_numpy(dtype=bool)


def _bad_rate(bad: np.ndarray, mask: np.ndarray) -> float | None:
    return float(bad[mask].mean()) if mask.any() else None


def _side(label: str, ruleset: RuleSet, df: pd.DataFrame, catalog: Mapping[str, Any]) -> dict:
    plan = compile_ruleset(ruleset, catalog).vector
    matrix = plan.fire_matrix(df)
    outcomes = plan.results(matrix, df.index)["outcome"].astype(str).to_numpy()
    return {"label": label, "ruleset": ruleset, "matrix": matrix, "outcomes": outcomes}


def _summary(side: dict, bad: np.ndarray, true_pd: np.ndarray | None) -> dict[str, Any]:
    outcomes = side["outcomes"]
    approved = outcomes == "pass"
    out: dict[str, Any] = {
        "label": side["label"],
        "version": side["ruleset"].version,
        "counts": {o: int((outcomes == o).sum()) for o in OUTCOMES},
        "rates": {o: _rate(outcomes == o) for o in OUTCOMES},
        "approved_bad_rate": _bad_rate(bad, approved),
    }
    if true_pd is not None:
        out["approved_mean_true_pd"] = float(true_pd[approved].mean()) if approved.any() else None
    return out


def _rule_stats(side: dict, bad: np.ndarray) -> dict[str, dict[str, Any]]:
    matrix = side["matrix"]
    alone = matrix & (matrix.sum(axis=1) == 1)[:, None]
    stats = {}
    for j, rule in enumerate(side["ruleset"].rules):
        hits = matrix[:, j]
        stats[rule.id] = {
            "outcome": rule.outcome,
            "priority": rule.priority,
            "hits": int(hits.sum()),
            "hit_rate": _rate(hits),
            "unique_hit_rate": _rate(alone[:, j]),
            "bad_rate_among_hits": _bad_rate(bad, hits),
        }
    return stats


def run_backtest(
    candidate: Mapping[str, RuleSet],
    baseline: Mapping[str, RuleSet],
    data: pd.DataFrame,
    catalog: Mapping[str, Any],
    *,
    ruleset: str = "underwriting",
    labels: tuple[str, str] = ("baseline", "candidate"),
) -> dict[str, Any]:
    """The backtest report as plain data (what ``report.json`` holds)."""
    for name, side in (("candidate", candidate), ("baseline", baseline)):
        if ruleset not in side:
            raise BacktestError(f"{name} has no ruleset {ruleset!r}")
        if side[ruleset].kind != DECISION:
            raise BacktestError(f"ruleset {ruleset!r} is not a decline/refer/pass ruleset")
    bad = _bad_labels(data)
    true_pd = data["true_pd"].to_numpy(dtype=float) if "true_pd" in data else None
    base = _side(labels[0], baseline[ruleset], data, catalog)
    cand = _side(labels[1], candidate[ruleset], data, catalog)
    report: dict[str, Any] = {
        "ruleset": ruleset,
        "rows": int(len(data)),
        "bad_rate": float(bad.mean()) if len(bad) else None,
        "baseline": _summary(base, bad, true_pd),
        "candidate": _summary(cand, bad, true_pd),
    }
    if "applied_at" in data and len(data):
        applied = pd.to_datetime(data["applied_at"])
        report["applied_from"] = str(applied.min().date())
        report["applied_to"] = str(applied.max().date())
    base_stats, cand_stats = _rule_stats(base, bad), _rule_stats(cand, bad)
    rules = []
    for rid in sorted(set(base_stats) | set(cand_stats)):
        b, c = base_stats.get(rid), cand_stats.get(rid)
        meta = c or b
        assert meta is not None
        rules.append(
            {
                "id": rid,
                "outcome": meta["outcome"],
                "priority": meta["priority"],
                "in": "both" if b and c else "candidate" if c else "baseline",
                "baseline": b,
                "candidate": c,
            }
        )
    rules.sort(key=lambda r: (r["priority"], r["id"]))
    report["rules"] = rules
    report["swap"] = _swap(base["outcomes"], cand["outcomes"], bad)
    return report


def _swap(before: np.ndarray, after: np.ndarray, bad: np.ndarray) -> dict[str, Any]:
    n = len(before)
    matrix = {}
    for b in OUTCOMES:
        matrix[b] = {}
        for a in OUTCOMES:
            mask = (before == b) & (after == a)
            matrix[b][a] = {"count": int(mask.sum()), "bad_rate": _bad_rate(bad, mask)}
    was, now = before == "pass", after == "pass"
    groups = {
        "newly_approved": ~was & now,
        "newly_declined_or_referred": was & ~now,
        "approved_by_both": was & now,
        "not_approved_by_either": ~was & ~now,
    }
    out: dict[str, Any] = {"matrix": matrix}
    for name, mask in groups.items():
        out[name] = {
            "count": int(mask.sum()),
            "share": float(mask.sum() / n) if n else 0.0,
            "bad_rate": _bad_rate(bad, mask),
        }
    return out


# -- output ---------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.2%}"


def _delta(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None else f"{(b - a) * 100:+.2f} pt"


def markdown(report: dict[str, Any], chart: str = "chart.svg") -> str:
    b, c = report["baseline"], report["candidate"]
    lines = [
        f"# Rules backtest: {report['ruleset']}",
        "",
        f"- applications: {report['rows']:,}"
        + (
            f" (applied {report['applied_from']} to {report['applied_to']})"
            if "applied_from" in report
            else ""
        ),
        f"- overall bad rate (bad_12m): {_pct(report['bad_rate'])}",
        f"- baseline: `{b['label']}` version `{b['version']}`",
        f"- candidate: `{c['label']}` version `{c['version']}`",
        "",
        f"![decision rates]({chart})",
        "",
        "## Decisions",
        "",
        "| | baseline | candidate | change |",
        "|---|---:|---:|---:|",
    ]
    for o in OUTCOMES:
        lines.append(
            f"| {o} rate | {_pct(b['rates'][o])} | {_pct(c['rates'][o])} | "
            f"{_delta(b['rates'][o], c['rates'][o])} |"
        )
    lines.append(
        f"| bad rate among approved | {_pct(b['approved_bad_rate'])} | "
        f"{_pct(c['approved_bad_rate'])} | "
        f"{_delta(b['approved_bad_rate'], c['approved_bad_rate'])} |"
    )
    if "approved_mean_true_pd" in b:
        bp, cp = b["approved_mean_true_pd"], c["approved_mean_true_pd"]
        lines.append(
            f"| mean true PD among approved | {_pct(bp)} | {_pct(cp)} | {_delta(bp, cp)} |"
        )
    swap = report["swap"]
    lines += [
        "",
        "## Swap set",
        "",
        "| group | applications | share | bad rate |",
        "|---|---:|---:|---:|",
    ]
    for key in (
        "newly_approved",
        "newly_declined_or_referred",
        "approved_by_both",
        "not_approved_by_either",
    ):
        g = swap[key]
        lines.append(
            f"| {key.replace('_', ' ')} | {g['count']:,} | {_pct(g['share'])} | "
            f"{_pct(g['bad_rate'])} |"
        )
    lines += [
        "",
        "Baseline (rows) × candidate (columns): applications (bad rate).",
        "",
        "| baseline \\ candidate | " + " | ".join(OUTCOMES) + " |",
        "|---|" + "---:|" * len(OUTCOMES),
    ]
    for bo in OUTCOMES:
        cells = [
            f"{swap['matrix'][bo][co]['count']:,} ({_pct(swap['matrix'][bo][co]['bad_rate'])})"
            for co in OUTCOMES
        ]
        lines.append(f"| {bo} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Rules",
        "",
        "Hit rate: share of applications the rule fires on. Unique: the only rule firing.",
        "",
        "| rule | outcome | in | baseline hit | baseline unique | candidate hit | "
        "candidate unique | bad rate among candidate hits |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["rules"]:
        rb, rc = r["baseline"] or {}, r["candidate"] or {}
        lines.append(
            f"| {r['id']} | {r['outcome']} | {r['in']} | {_pct(rb.get('hit_rate'))} | "
            f"{_pct(rb.get('unique_hit_rate'))} | {_pct(rc.get('hit_rate'))} | "
            f"{_pct(rc.get('unique_hit_rate'))} | {_pct(rc.get('bad_rate_among_hits'))} |"
        )
    return "\n".join(lines) + "\n"


def chart(report: dict[str, Any]) -> str:
    b, c = report["baseline"], report["candidate"]
    groups = [*OUTCOMES, "bad rate | approved"]
    series = [
        (f"baseline {b['version']}", [*(b["rates"][o] for o in OUTCOMES), b["approved_bad_rate"]]),
        (f"candidate {c['version']}", [*(c["rates"][o] for o in OUTCOMES), c["approved_bad_rate"]]),
    ]
    return grouped_bars(f"{report['ruleset']}: decision rates", groups, series)


def grouped_bars(title: str, groups: Sequence[str],
                 series: Sequence[tuple[str, Sequence[float | None]]]) -> str:
    """An SVG bar chart of shares (0..1) per group and series, by matplotlib's object API
    (its own Figure, no pyplot state: safe beside other threads), text kept as text."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.subplots()
    width = 0.8 / max(len(series), 1)
    for s, (name, values) in enumerate(series):
        xs = [g + (s - (len(series) - 1) / 2) * width for g in range(len(groups))]
        heights = [float("nan") if v is None else v for v in values]
        bars = ax.bar(xs, heights, width * 0.92, label=name)
        ax.bar_label(bars, labels=["" if v is None else f"{v:.1%}" for v in values],
                     fontsize=7)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title(title)
    ax.legend(fontsize=8)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "chedaitong"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()


def write_report(report: dict[str, Any], out_dir: Path | str) -> dict[str, Path]:
    """Write ``report.md``, ``report.json`` and ``chart.svg`` into ``out_dir``."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": d / "report.md", "json": d / "report.json", "chart": d / "chart.svg"}
    paths["chart"].write_text(chart(report), encoding="utf-8")
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    paths["json"].write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return paths
