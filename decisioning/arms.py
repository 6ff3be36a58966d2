"""The champion/challenger comparison: how the two arms of a routing policy decided and how
their loans are paying, with 95 % confidence intervals.

Per arm: decisions, approval rate (Wilson interval), mean PD of the deciding model (t
interval), offers (per approval, recommended rate and amount), and early delinquency of the
booked loans — first-payment default (the first installment still unpaid 30 days after it
fell due) and 30+ days past due on one of the first three installments — counted only on
loans old enough to show it. Also the observed challenger share among the customers the
policy could route, with its exact binomial interval, to check the split itself.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import DecisionRecord
from chedaitong.db.servicing import Loan, ScheduledInstallment
from decisioning.routing import CHALLENGER, CHAMPION, DEFAULT_PURPOSE

ARMS = (CHAMPION, CHALLENGER)
LATE_DAYS = 30
CONFIDENCE = 0.95


def proportion(k: int, n: int) -> dict[str, Any]:
    """k of n with its Wilson interval (None when n is 0)."""
    if n == 0:
        return {"k": 0, "n": 0, "rate": None, "low": None, "high": None}
    ci = stats.binomtest(k, n).proportion_ci(CONFIDENCE, method="wilson")
    return {"k": k, "n": n, "rate": k / n, "low": float(ci.low), "high": float(ci.high)}


def mean_interval(values: Iterable[float]) -> dict[str, Any]:
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if len(x) == 0:
        return {"n": 0, "mean": None, "low": None, "high": None}
    m = float(x.mean())
    if len(x) < 2:
        return {"n": len(x), "mean": m, "low": None, "high": None}
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(x) - 1) * x.std(ddof=1)
                 / math.sqrt(len(x)))
    return {"n": len(x), "mean": m, "low": m - half, "high": m + half}


def _difference(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    """Challenger − champion rate, normal interval (None without both)."""
    if not a["n"] or not b["n"]:
        return None
    d = b["rate"] - a["rate"]
    se = math.sqrt(a["rate"] * (1 - a["rate"]) / a["n"] + b["rate"] * (1 - b["rate"]) / b["n"])
    z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
    return {"diff": d, "low": d - z * se, "high": d + z * se}


def _early_delinquency(session: Session, application_ids: list[int], as_of: date
                       ) -> dict[int, dict[str, bool | None]]:
    """Per application with a loan: fpd and 30+ in the first three installments (None while
    the loan is too young to tell)."""
    if not application_ids:
        return {}
    out: dict[int, dict[str, bool | None]] = {}
    rows = session.execute(
        select(Loan.application_id, ScheduledInstallment.number, ScheduledInstallment.due_date,
               ScheduledInstallment.settled_on)
        .join(ScheduledInstallment, ScheduledInstallment.loan_id == Loan.id)
        .where(Loan.application_id.in_(application_ids), ScheduledInstallment.number <= 3)
    ).all()
    by_app: dict[int, dict[int, tuple[date, date | None]]] = defaultdict(dict)
    for app_id, number, due, settled in rows:
        by_app[app_id][number] = (due, settled)

    def late(due: date, settled: date | None) -> bool | None:
        seen_until = due + timedelta(days=LATE_DAYS)
        if settled is not None and settled <= seen_until:
            return False
        return True if seen_until <= as_of else None

    for app_id, inst in by_app.items():
        first = late(*inst[1]) if 1 in inst else None
        three = [late(*inst[n]) for n in (1, 2, 3) if n in inst]
        dpd30 = True if any(x is True for x in three) else (
            False if len(three) == 3 and all(x is False for x in three) else None)
        out[app_id] = {"fpd": first, "dpd30_3m": dpd30}
    return out


def compare_arms(session: Session, *, purpose: str = DEFAULT_PURPOSE, as_of: date | None = None,
                 since: date | None = None) -> dict[str, Any]:
    """The comparison report of the decisions routed under ``purpose`` (optionally since a
    date), loans observed as of ``as_of`` (default today)."""
    as_of = as_of or date.today()
    q = select(DecisionRecord.id, DecisionRecord.application_id, DecisionRecord.outcome,
               DecisionRecord.model, DecisionRecord.offers, DecisionRecord.routing,
               DecisionRecord.decided_at)
    rows = [r for r in session.execute(q).all()
            if isinstance(r.routing, dict) and r.routing.get("purpose") == purpose
            and (since is None or r.decided_at.date() >= since)]
    arms: dict[str, list] = {a: [] for a in ARMS}
    eligible = routed = 0
    percents: set[float] = set()
    versions: dict[str, set[str]] = {a: set() for a in ARMS}
    for r in rows:
        arm = r.routing.get("arm", CHAMPION)
        arms.setdefault(arm, []).append(r)
        if r.routing.get("decided_by"):
            versions.setdefault(arm, set()).add(r.routing["decided_by"])
        if r.routing.get("in_segment") and r.routing.get("challenger_percent"):
            eligible += 1
            routed += arm == CHALLENGER
            percents.add(float(r.routing["challenger_percent"]))
    delinquency = _early_delinquency(
        session, [r.application_id for r in rows if r.outcome == "approve"], as_of)
    report: dict[str, Any] = {"purpose": purpose, "as_of": as_of.isoformat(),
                              "decisions": len(rows), "arms": {}}
    for arm, rs in arms.items():
        approved = [r for r in rs if r.outcome == "approve"]
        recommended = [next((o for o in r.offers if o.get("recommended")), r.offers[0])
                       for r in approved if r.offers]
        loans = [delinquency[r.application_id] for r in approved
                 if r.application_id in delinquency]
        fpd = [x["fpd"] for x in loans if x["fpd"] is not None]
        dpd30 = [x["dpd30_3m"] for x in loans if x["dpd30_3m"] is not None]
        report["arms"][arm] = {
            "versions": sorted(versions.get(arm, ())),
            "decisions": len(rs),
            "approval": proportion(len(approved), len(rs)),
            "refer_rate": proportion(sum(r.outcome == "refer" for r in rs), len(rs)),
            "mean_pd": mean_interval((r.model or {}).get("pd") for r in rs),
            "offers_per_approval": mean_interval(len(r.offers) for r in approved),
            "recommended_rate": mean_interval(float(Decimal(o["annual_rate"]))
                                              for o in recommended if o.get("annual_rate")),
            "recommended_amount": mean_interval(float(Decimal(o["financed_amount"]))
                                                for o in recommended
                                                if o.get("financed_amount")),
            "loans": len(loans),
            "fpd": proportion(sum(fpd), len(fpd)),
            "dpd30_3m": proportion(sum(dpd30), len(dpd30)),
        }
    champ, chall = report["arms"][CHAMPION], report["arms"][CHALLENGER]
    report["difference"] = {k: _difference(champ[k], chall[k])
                            for k in ("approval", "fpd", "dpd30_3m")}
    expected = percents.pop() / 100.0 if len(percents) == 1 else None
    share = proportion(routed, eligible)
    if expected is not None and eligible:
        ci = stats.binomtest(routed, eligible, expected).proportion_ci(CONFIDENCE, "exact")
        share.update(expected=expected, exact_low=float(ci.low), exact_high=float(ci.high),
                     p_value=float(stats.binomtest(routed, eligible, expected).pvalue))
    report["split"] = share
    return report
