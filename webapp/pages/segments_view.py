"""Segment monitoring for analysts: the latest day's metrics by dimension and segment, the
alerts of recent days, and trend charts from consecutive runs (`decisioning.segments`)."""

from __future__ import annotations

from flask import Response, abort, render_template, request

from decisioning.segments import DIMENSIONS, recent_runs
from webapp import database
from webapp.pages import bp, charts
from webapp.pages.session import ANALYSIS, roles

TRENDS = {"approval": ("approval_rate", "Approval rate by {dim}", "approval rate", True),
          "psi": ("score_psi", "Score PSI against the model reference by {dim}", "PSI", False),
          "early_bad": ("early_bad_rate", "Early bad rate (first payment) by {dim}",
                        "first-payment default", True)}
MAX_SERIES = 8  # a chart with every dealer is unreadable: the largest segments are drawn


def _dimension() -> str:
    dim = request.args.get("dimension", "channel")
    if dim not in DIMENSIONS:
        abort(404, f"no dimension {dim!r}")
    return dim


@bp.route("/segments")
@roles(*ANALYSIS)
def segments():
    dim = _dimension()
    runs = recent_runs(database.session())
    latest = runs[-1] if runs else None
    alerts = [a for r in reversed(runs) for a in r.alerts if a.get("new")][:50]
    rows = (latest.metrics.get("dimensions", {}).get(dim, []) if latest else [])
    return render_template("pages/segments.html", latest=latest, rows=rows, dim=dim,
                           dimensions=DIMENSIONS, alerts=alerts,
                           current=latest.alerts if latest else [], trends=list(TRENDS))


@bp.route("/segments/<trend>.png")
@roles(*ANALYSIS)
def segments_chart(trend: str):
    if trend not in TRENDS:
        abort(404)
    dim = _dimension()
    metric, title, ylabel, percent = TRENDS[trend]
    runs = recent_runs(database.session())
    size: dict[str, int] = {}
    for r in runs:
        for row in r.metrics.get("dimensions", {}).get(dim, []):
            size[row["segment"]] = size.get(row["segment"], 0) + row["decisions"]
    shown = sorted(size, key=lambda s: -size[s])[:MAX_SERIES]
    series = {s: [] for s in shown}
    for r in runs:
        by = {row["segment"]: row for row in r.metrics.get("dimensions", {}).get(dim, [])}
        for s in shown:
            series[s].append((by.get(s) or {}).get(metric))
    png = charts.lines(title.format(dim=dim), [r.as_of.isoformat() for r in runs], series,
                       ylabel, percent=percent)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})
