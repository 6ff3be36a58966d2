"""Segment monitoring: who gets approved, and how their loans pay, watched day by day.

The daily job (`chedaitong segments run`, from cron like the post-loan inspection: one run
per as-of day, a second run of the same day changes nothing, one run at a time) looks at the
decisions of the last ``window_days`` and, for every segment of each dimension (channel,
dealer, province, lease type, age band), computes the approval rate (Wilson interval), the
PSI of the deciding model's scores against that model's training reference
(`models.evaluate.psi`), the override rate (reviewers approving the machine's referrals),
the early bad rate of the segment's recent loans (first-payment default) and its vintages,
and the adverse-impact ratio (approval rate over the best-approved segment's of the same
dimension). Thresholds are data (``rules/monitoring/segments.yaml``); each breach is an
alert naming the rule, the segment and the day.
"""

from __future__ import annotations

import logging
import operator
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Dealer, DecisionRecord
from chedaitong.db.base import as_utc
from chedaitong.db.monitoring import SegmentMonitorRun
from chedaitong.db.origination import Review
from decisioning.arms import _early_delinquency, proportion
from ruleengine.yaml_lines import LineDict, LineList, load_yaml

log = logging.getLogger(__name__)
DIMENSIONS = ("channel", "dealer", "province", "lease_type", "age_band")
METRICS = ("decisions", "approval_rate", "score_psi", "adverse_impact_ratio", "override_rate",
           "early_bad_rate")
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
AGE_BANDS = ((22, 29), (30, 39), (40, 49), (50, 60))
LOAN_LOOKBACK = (31, 90)  # loans disbursed this many days before the day: first payment seen
LOCK_NAME = "segments"


def default_thresholds_path() -> Path:
    return Path(__file__).resolve().parents[1] / "rules" / "monitoring" / "segments.yaml"


@dataclass(frozen=True)
class AlertRule:
    id: str
    metric: str
    op: str
    value: float
    message_en: str = ""
    message_zh: str = ""
    min_loans: int = 0
    min_decisions: int | None = None  # overrides the file's for this alert
    significance: float | None = None  # also require p < this (score_psi, adverse impact)


@dataclass(frozen=True)
class Thresholds:
    version: str
    window_days: int = 30
    min_decisions: int = 20
    monitor_gender: bool = False
    alerts: tuple[AlertRule, ...] = field(default=())


def load_thresholds(path: Path | str | None = None) -> Thresholds:
    """The thresholds file, checked: any problem (YAML syntax, an unknown metric or operator,
    a missing or non-numeric field) is ValueError ``file:line: message``."""
    path = Path(path) if path is not None else default_thresholds_path()
    raw, issues = load_yaml(path.read_text(encoding="utf-8"), str(path))
    if issues:
        raise ValueError(str(issues[0]))
    if raw is None:
        raw = LineDict()
    if not isinstance(raw, LineDict):
        raise ValueError(f"{path}:1: expected a mapping of version, window_days, "
                         "min_decisions and alerts")
    alerts = raw.get("alerts", LineList())
    if not isinstance(alerts, LineList):
        raise ValueError(f"{path}:{raw.line_of('alerts')}: alerts must be a list")
    rules = [_alert(path, i, a, alerts.line_of(i)) for i, a in enumerate(alerts)]
    if raw.get("monitor_gender"):
        raise ValueError(f"{path}:{raw.line_of('monitor_gender')}: gender monitoring needs the "
                         "lawful-basis review and a gender source; neither is configured")
    return Thresholds(version=str(raw.get("version", "unversioned")),
                      window_days=_number(path, raw, "window_days", int, 30),
                      min_decisions=_number(path, raw, "min_decisions", int, 20),
                      monitor_gender=False, alerts=tuple(rules))


def _number(path: Path, doc: LineDict, key: str, kind: type, default: Any = None) -> Any:
    """``doc[key]`` as ``kind`` (``default`` when absent); ValueError with its line when it
    is not a number."""
    if key not in doc:
        return default
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{path}:{doc.line_of(key)}: {key} must be a number, got {value!r}")
    return kind(value)


def _alert(path: Path, i: int, a: Any, line: int) -> AlertRule:
    if not isinstance(a, LineDict):
        raise ValueError(f"{path}:{line}: alert {i} must be a mapping of id, metric, op, value")
    for key in ("id", "value"):
        if key not in a:
            raise ValueError(f"{path}:{a.line}: alert {i} needs {key}")
    if a.get("metric") not in METRICS:
        raise ValueError(f"{path}:{a.line_of('metric')}: alert {i} metric must be one of "
                         f"{METRICS}")
    if a.get("op") not in OPS:
        raise ValueError(f"{path}:{a.line_of('op')}: alert {i} op must be one of "
                         f"{tuple(OPS)}")
    return AlertRule(id=str(a["id"]), metric=a["metric"], op=a["op"],
                     value=_number(path, a, "value", float),
                     message_en=str(a.get("message_en", "")),
                     message_zh=str(a.get("message_zh", "")),
                     min_loans=_number(path, a, "min_loans", int, 0),
                     min_decisions=_number(path, a, "min_decisions", int),
                     significance=_number(path, a, "significance", float))


def age_band(age: Any) -> str:
    if age is None:
        return "(missing)"
    for lo, hi in AGE_BANDS:
        if lo <= age <= hi:
            return f"{lo}-{hi}"
    return "other"


def _day_end(d: date) -> datetime:
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=UTC)


def _decisions(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The latest decision of each application decided in [start, end), with its segments."""
    rows = session.execute(
        select(DecisionRecord.id, DecisionRecord.application_id, DecisionRecord.as_of,
               DecisionRecord.outcome, DecisionRecord.model_version, DecisionRecord.model,
               DecisionRecord.features, Dealer.code, Dealer.province, Dealer.channel)
        .join(Application, Application.id == DecisionRecord.application_id)
        .join(Dealer, Dealer.id == Application.dealer_id)
        .where(DecisionRecord.as_of >= start, DecisionRecord.as_of < end)
        .order_by(DecisionRecord.id)).all()
    latest: dict[int, dict[str, Any]] = {}
    for r in rows:
        f = r.features or {}
        latest[r.application_id] = {
            "application_id": r.application_id, "as_of": as_utc(r.as_of), "outcome": r.outcome,
            "model_version": r.model_version, "score": (r.model or {}).get("score"),
            "segments": {"channel": f.get("dealer_channel") or r.channel, "dealer": r.code,
                         "province": r.province, "lease_type": f.get("lease_type"),
                         "age_band": age_band(f.get("age_at_application"))}}
    return list(latest.values())


def _overrides(session: Session, application_ids: list[int]) -> dict[int, bool]:
    """Per reviewed application: whether a reviewer approved it (the last credit review)."""
    if not application_ids:
        return {}
    out: dict[int, bool] = {}
    for app_id, decision in session.execute(
            select(Review.application_id, Review.decision)
            .where(Review.kind == "credit", Review.application_id.in_(application_ids))
            .order_by(Review.id)):
        out[app_id] = decision == "approve"
    return out


def _loan_dates(session: Session, application_ids: list[int]) -> dict[int, date]:
    from chedaitong.db.servicing import Loan

    if not application_ids:
        return {}
    return dict(session.execute(select(Loan.application_id, Loan.disbursed_on)
                                .where(Loan.application_id.in_(application_ids))).all())


class References:
    """Each model version's training score reference (bins and shares), loaded once."""

    def __init__(self, model_root: Path | str | None):
        self.root = model_root
        self._cache: dict[str, dict[str, Any] | None] = {}

    def score(self, version: str | None) -> dict[str, Any] | None:
        if version is None or self.root is None:
            return None
        if version not in self._cache:
            from models.errors import ModelError
            from models.registry import Registry

            try:
                ref = Registry(self.root).load(version).read_json("reference.json")
                self._cache[version] = ref.get("score")
            except (ModelError, OSError, ValueError, KeyError) as exc:
                log.warning("no score reference for model %s: %s", version, exc)
                self._cache[version] = None
        return self._cache[version]


def score_psi(scores: list[tuple[str | None, float]], refs: References
              ) -> tuple[float | None, float | None]:
    """(PSI, chi-square p-value) of the scores of the segment's most common deciding model
    against its training reference. PSI alone grows as a segment shrinks (a few dozen
    scores in ten bins never match the shares exactly), so the p-value says whether the
    difference is more than sampling noise."""
    from models.evaluate import _numeric_shares, psi

    versions = Counter(v for v, s in scores if s is not None)
    if not versions:
        return None, None
    version = versions.most_common(1)[0][0]
    ref = refs.score(version)
    if not ref or not ref.get("edges"):
        return None, None
    x = np.asarray([s for v, s in scores if v == version and s is not None], dtype=float)
    actual = _numeric_shares(x, ref["edges"])
    expected = np.maximum(np.asarray(ref["shares"], float), 1e-4)
    expected = expected / expected.sum() * len(x)
    p = float(stats.chisquare(actual * len(x), expected).pvalue)
    return psi(ref["shares"], actual), p


def compute(session: Session, as_of: date, thresholds: Thresholds,
            refs: References) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(metrics by dimension and segment, alerts) for the day ``as_of``."""
    end = _day_end(as_of)
    start = end - timedelta(days=thresholds.window_days)
    loan_start = end - timedelta(days=LOAN_LOOKBACK[1])
    everything = _decisions(session, min(start, loan_start), end)
    window = [d for d in everything if d["as_of"] >= start]
    reviewed = _overrides(session, [d["application_id"] for d in window
                                    if d["outcome"] == "refer"])
    approved = [d["application_id"] for d in everything if d["outcome"] == "approve"]
    disbursed = _loan_dates(session, approved)
    seen = {a: d for a, d in disbursed.items()
            if loan_start.date() <= d <= (end - timedelta(days=LOAN_LOOKBACK[0])).date()}
    fpd = _early_delinquency(session, list(seen), as_of)
    metrics: dict[str, Any] = {"window": [start.date().isoformat(), as_of.isoformat()],
                               "thresholds_version": thresholds.version,
                               "decisions": len(window), "dimensions": {}}
    alerts: list[dict[str, Any]] = []
    for dim in DIMENSIONS:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        loan_groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in window:
            groups[str(d["segments"][dim])].append(d)
        for d in everything:
            if d["application_id"] in seen:
                loan_groups[str(d["segments"][dim])].append(d)
        rows = []
        for seg in sorted(set(groups) | set(loan_groups)):
            ds = groups.get(seg, [])
            appr = proportion(sum(d["outcome"] == "approve" for d in ds), len(ds))
            refs_ = [d for d in ds if d["application_id"] in reviewed]
            over = proportion(sum(reviewed[d["application_id"]] for d in refs_), len(refs_))
            loans = [fpd.get(d["application_id"], {}).get("fpd") for d in loan_groups.get(seg, [])]
            loans = [x for x in loans if x is not None]
            vintages: dict[str, list[bool]] = defaultdict(list)
            for d in loan_groups.get(seg, []):
                x = fpd.get(d["application_id"], {}).get("fpd")
                if x is not None:
                    vintages[seen[d["application_id"]].strftime("%Y-%m")].append(x)
            psi_value, psi_p = score_psi([(d["model_version"], d["score"]) for d in ds], refs)
            rows.append({
                "segment": seg, "decisions": len(ds), "approved": appr["k"],
                "approval_rate": appr["rate"],
                "approval_low": appr["low"], "approval_high": appr["high"],
                "score_psi": psi_value, "score_psi_p": psi_p,
                "override_rate": over["rate"], "reviews": over["n"],
                "loans": len(loans), "early_bad_rate": (sum(loans) / len(loans)) if loans
                else None,
                "vintages": {v: {"loans": len(x), "fpd_rate": sum(x) / len(x)}
                             for v, x in sorted(vintages.items())},
            })
        eligible = [r for r in rows if r["decisions"] >= thresholds.min_decisions
                    and r["approval_rate"] is not None]
        top = max(eligible, key=lambda r: r["approval_rate"], default=None)
        for r in rows:
            r["adverse_impact_ratio"] = r["adverse_impact_ratio_p"] = None
            if top is not None and top["approval_rate"] and r in eligible:
                r["adverse_impact_ratio"] = r["approval_rate"] / top["approval_rate"]
                table = [[r["approved"], r["decisions"] - r["approved"]],
                         [top["approved"], top["decisions"] - top["approved"]]]
                r["adverse_impact_ratio_p"] = float(stats.fisher_exact(table).pvalue)
        metrics["dimensions"][dim] = rows
        for r in rows:
            for rule in thresholds.alerts:
                value = r.get(rule.metric)
                least = (rule.min_decisions if rule.min_decisions is not None
                         else thresholds.min_decisions)
                enough = (r["loans"] >= rule.min_loans if rule.metric == "early_bad_rate"
                          else r["decisions"] >= least)
                if value is None or not enough or not OPS[rule.op](value, rule.value):
                    continue
                p = r.get(f"{rule.metric}_p")
                if rule.significance is not None and (p is None or p >= rule.significance):
                    continue  # within what sampling noise gives
                alerts.append({"rule": rule.id, "as_of": as_of.isoformat(), "dimension": dim,
                               "segment": r["segment"], "metric": rule.metric,
                               "value": round(float(value), 6), "op": rule.op,
                               "threshold": rule.value, "decisions": r["decisions"],
                               "loans": r["loans"], "message_en": rule.message_en,
                               "message_zh": rule.message_zh})
    return metrics, alerts


def run_day(engine: Engine, as_of: date, *, thresholds: Thresholds | None = None,
            model_root: Path | str | None = None, refs: References | None = None
            ) -> SegmentMonitorRun:
    """Monitor one day, once: a finished run of ``as_of`` is returned as it is."""
    from decisioning.postloan import lock

    thresholds = thresholds or load_thresholds()
    refs = refs or References(model_root)
    holder = lock.acquire(engine, LOCK_NAME)
    try:
        with Session(engine, expire_on_commit=False) as session:
            existing = session.scalar(select(SegmentMonitorRun).where(
                SegmentMonitorRun.as_of == as_of))
            if existing is not None and existing.status == "finished":
                return existing
            run = existing or SegmentMonitorRun(as_of=as_of, status="running", metrics={},
                                                alerts=[])
            session.add(run)
            session.commit()
            previous = session.scalar(
                select(SegmentMonitorRun).where(SegmentMonitorRun.as_of < as_of,
                                                SegmentMonitorRun.status == "finished")
                .order_by(SegmentMonitorRun.as_of.desc()).limit(1))
            try:
                metrics, alerts = compute(session, as_of, thresholds, refs)
            except Exception:
                run.status = "failed"
                session.commit()
                raise
            before = {(a["rule"], a["dimension"], a["segment"])
                      for a in (previous.alerts if previous else [])}
            for a in alerts:  # new: not raised by the previous run (what to notify about)
                a["new"] = (a["rule"], a["dimension"], a["segment"]) not in before
            run.metrics, run.alerts, run.status = metrics, alerts, "finished"
            run.finished_at = datetime.now(UTC)
            session.commit()
            for a in (a for a in alerts if a["new"]):
                log.warning("segment alert %s on %s: %s=%s %s (%s %s %s)", a["rule"], as_of,
                            a["dimension"], a["segment"], a["message_en"], a["metric"],
                            a["op"], a["threshold"])
            return run
    finally:
        lock.release(holder)


def recent_runs(session: Session, limit: int = 90) -> list[SegmentMonitorRun]:
    """The last finished runs, oldest first."""
    rows = session.scalars(select(SegmentMonitorRun).where(
        SegmentMonitorRun.status == "finished").order_by(SegmentMonitorRun.as_of.desc())
        .limit(limit)).all()
    return list(reversed(rows))
