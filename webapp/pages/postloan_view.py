"""Post-loan runs for collectors and analysts: counts by bucket and action per run, and the
delinquency roll rate (share of loans moving to a worse bucket between consecutive runs).
An empty state, not an error, when servicing has not run (or its tables are missing)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

from flask import Response, render_template
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from webapp import database
from webapp.pages import bp, charts
from webapp.pages.session import POSTLOAN, roles

BUCKETS = ("M0", "M1", "M2", "M3", "M3+")
MAX_RUNS = 30


def recent_runs() -> list[Any]:
    """The last finished runs, oldest first ([] when the servicing tables are not there)."""
    try:
        from chedaitong.db.servicing import PostloanRun
    except ImportError:
        return []
    session = database.session()
    try:
        rows = session.scalars(select(PostloanRun).where(PostloanRun.status == "finished")
                               .order_by(PostloanRun.as_of.desc()).limit(MAX_RUNS)).all()
    except SQLAlchemyError:
        session.rollback()
        return []
    return list(reversed(rows))


def action_totals(report: dict[str, Any]) -> dict[str, int]:
    """{action: count over every send status} from a run report's ``by_action``."""
    return {a: sum(int(n) for n in (by or {}).values())
            for a, by in sorted((report.get("by_action") or {}).items())}


def roll_rates(transitions: Sequence[tuple[date, Counter]],
               labels: Sequence[str] = BUCKETS) -> dict[str, list[float | None]]:
    """Per starting bucket (but the worst), the share of its loans that are in a worse bucket
    at the next run; ``transitions`` is [(to-date, Counter({(from, to): loans}))]."""
    rank = {b: i for i, b in enumerate(labels)}
    out: dict[str, list[float | None]] = {}
    for start in labels[:-1]:
        series = []
        for _, counts in transitions:
            base = sum(n for (f, _), n in counts.items() if f == start)
            worse = sum(n for (f, t), n in counts.items()
                        if f == start and rank.get(t, -1) > rank[start])
            series.append(worse / base if base else None)
        out[f"{start}→worse"] = series
    return out


def _transitions(dates: Sequence[date]) -> list[tuple[date, Counter]]:
    from chedaitong.db.servicing import DelinquencySnapshot as D

    session = database.session()
    d1, d2 = aliased(D), aliased(D)
    out = []
    try:
        for a, b in zip(dates, dates[1:], strict=False):
            rows = session.execute(
                select(d1.bucket, d2.bucket, func.count())
                .join(d2, d2.loan_id == d1.loan_id)
                .where(d1.as_of == a, d2.as_of == b).group_by(d1.bucket, d2.bucket)).all()
            out.append((b, Counter({(f, t): n for f, t, n in rows})))
    except SQLAlchemyError:
        session.rollback()
        return []
    return out


def _png(data: bytes) -> Response:
    return Response(data, mimetype="image/png", headers={"Cache-Control": "no-store"})


@bp.route("/postloan")
@roles(*POSTLOAN)
def postloan():
    runs = recent_runs()
    rows = [{"as_of": r.as_of, "engine": r.engine, "loans": r.report.get("loans"),
             "by_bucket": r.report.get("by_bucket") or {}, "by_action": action_totals(r.report),
             "psi": (r.report.get("shift") or {}).get("psi"), "counts": r.counts or {}}
            for r in reversed(runs)]
    actions = sorted({a for row in rows for a in row["by_action"]})
    return render_template("pages/postloan.html", rows=rows, buckets=BUCKETS, actions=actions)


@bp.route("/postloan/buckets.png")
@roles(*POSTLOAN)
def postloan_buckets_chart():
    runs = recent_runs()
    x = [r.as_of.isoformat() for r in runs]
    series = {b: [int((r.report.get("by_bucket") or {}).get(b, 0)) for r in runs]
              for b in BUCKETS}
    return _png(charts.stacked_bars("Loans by delinquency bucket", x, series, "loans"))


@bp.route("/postloan/actions.png")
@roles(*POSTLOAN)
def postloan_actions_chart():
    runs = recent_runs()
    totals = [action_totals(r.report) for r in runs]
    names = sorted({a for t in totals for a in t})
    series = {a: [t.get(a, 0) for t in totals] for a in names}
    return _png(charts.lines("Post-loan actions per run", [r.as_of.isoformat() for r in runs],
                             series, "actions"))


@bp.route("/postloan/rollrate.png")
@roles(*POSTLOAN)
def postloan_rollrate_chart():
    runs = recent_runs()
    transitions = _transitions([r.as_of for r in runs]) if len(runs) > 1 else []
    x = [b.isoformat() for b, _ in transitions]
    return _png(charts.lines("Roll rate to a worse bucket between runs", x,
                             roll_rates(transitions) if x else {}, "share of loans",
                             percent=True))
