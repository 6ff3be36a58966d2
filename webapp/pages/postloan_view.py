"""Post-loan runs for collectors and analysts: counts by bucket and action per run, and the
delinquency roll rate, over `decisioning.postloan.monitoring`."""

from __future__ import annotations

from flask import Response, render_template

from decisioning.postloan.behaviour import GRADES
from decisioning.postloan.monitoring import (
    BUCKETS,
    action_totals,
    bucket_transitions,
    recent_runs,
    roll_rates,
)
from webapp import database
from webapp.pages import bp, charts
from webapp.pages.session import POSTLOAN, roles


def _png(data: bytes) -> Response:
    return Response(data, mimetype="image/png", headers={"Cache-Control": "no-store"})


@bp.route("/postloan")
@roles(*POSTLOAN)
def postloan():
    runs = recent_runs(session=database.session())
    rows = [{"as_of": r.as_of, "engine": r.engine, "loans": r.report.get("loans"),
             "by_bucket": r.report.get("by_bucket") or {}, "by_action": action_totals(r.report),
             "psi": (r.report.get("shift") or {}).get("psi"), "counts": r.counts or {},
             "behaviour": r.report.get("behaviour")}
            for r in reversed(runs)]
    actions = sorted({a for row in rows for a in row["by_action"]})
    latest = (rows[0]["behaviour"] if rows else None) or {}
    return render_template("pages/postloan.html", rows=rows, buckets=BUCKETS, actions=actions,
                           behaviour=latest, grades=GRADES)


@bp.route("/postloan/behaviour.png")
@roles(*POSTLOAN)
def postloan_behaviour_chart():
    """Behaviour-score grades per night (the distribution the nightly rescoring produced)."""
    runs = recent_runs(session=database.session())
    x = [r.as_of.isoformat() for r in runs]
    series = {g: [int(((r.report.get("behaviour") or {}).get("by_grade") or {}).get(g, 0))
                  for r in runs] for g in GRADES}
    return _png(charts.stacked_bars("Loans by behaviour grade", x, series, "loans"))


@bp.route("/postloan/buckets.png")
@roles(*POSTLOAN)
def postloan_buckets_chart():
    runs = recent_runs(session=database.session())
    x = [r.as_of.isoformat() for r in runs]
    series = {b: [int((r.report.get("by_bucket") or {}).get(b, 0)) for r in runs]
              for b in BUCKETS}
    return _png(charts.stacked_bars("Loans by delinquency bucket", x, series, "loans"))


@bp.route("/postloan/actions.png")
@roles(*POSTLOAN)
def postloan_actions_chart():
    runs = recent_runs(session=database.session())
    totals = [action_totals(r.report) for r in runs]
    names = sorted({a for t in totals for a in t})
    series = {a: [t.get(a, 0) for t in totals] for a in names}
    return _png(charts.lines("Post-loan actions per run", [r.as_of.isoformat() for r in runs],
                             series, "actions"))


@bp.route("/postloan/rollrate.png")
@roles(*POSTLOAN)
def postloan_rollrate_chart():
    runs = recent_runs(session=database.session())
    transitions = (bucket_transitions(session=database.session(), dates=[r.as_of for r in runs])
                   if len(runs) > 1 else [])
    x = [b.isoformat() for b, _ in transitions]
    return _png(charts.lines("Roll rate to a worse bucket between runs", x,
                             roll_rates(transitions) if x else {}, "share of loans",
                             percent=True))
