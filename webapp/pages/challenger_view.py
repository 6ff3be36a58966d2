"""Champion vs challenger for analysts: the live split's comparison report (over
`decisioning.arms`), the routing policy, and promoting the challenger from here."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from decisioning.arms import compare_arms
from decisioning.routing import DEFAULT_PURPOSE, RoutingPolicy, RoutingStore
from webapp import database
from webapp.pages import bp
from webapp.pages.session import ANALYSIS, check_csrf, page_user, roles
from webapp.services import services

METRICS = (("approval", "Approval rate 通过率"), ("refer_rate", "Referral rate 转人工"),
           ("fpd", "First-payment default 首期逾期"), ("dpd30_3m", "30+ in 3 months 3期内30+"))
MEANS = (("mean_pd", "Mean PD 平均违约概率"), ("offers_per_approval", "Offers per approval"),
         ("recommended_rate", "Recommended rate 推荐利率"),
         ("recommended_amount", "Recommended amount 推荐金额"))


def _store() -> RoutingStore:
    return RoutingStore(current_app.config["CHEDAITONG"].model_dir)


@bp.route("/challenger")
@roles(*ANALYSIS)
def challenger():
    from models.registry import Registry

    purpose = request.args.get("purpose", DEFAULT_PURPOSE)
    report = compare_arms(database.session(), purpose=purpose)
    aliases = Registry(current_app.config["CHEDAITONG"].model_dir).aliases()
    policy = _store().policy(purpose) or RoutingPolicy(purpose=purpose)
    return render_template("pages/challenger.html", report=report, policy=policy,
                           aliases=aliases, metrics=METRICS, means=MEANS)


@bp.route("/challenger/policy", methods=["POST"])
@roles(*ANALYSIS)
def challenger_policy():
    check_csrf()
    purpose = request.form.get("purpose", DEFAULT_PURPOSE)
    try:
        percent = float(request.form.get("challenger_percent", ""))
        segment = {}
        feature, values = request.form.get("segment_feature", ""), request.form.get(
            "segment_values", "")
        if feature.strip():
            segment = {feature.strip(): [v.strip() for v in values.split(",") if v.strip()]}
        old = _store().policy(purpose) or RoutingPolicy(purpose=purpose)
        policy = RoutingPolicy(purpose=purpose, challenger_percent=percent, salt=old.salt,
                               segment=segment)
    except ValueError as exc:
        flash(f"未保存 / Not saved: {exc}", "error")
        return redirect(url_for("pages.challenger", purpose=purpose))
    _store().save(policy, who=page_user().username)
    flash(f"{purpose}: challenger decides {policy.challenger_percent:g}% "
          f"{'in ' + str(segment) if segment else 'of all customers'}", "ok")
    return redirect(url_for("pages.challenger", purpose=purpose))


@bp.route("/challenger/promote", methods=["POST"])
@roles(*ANALYSIS)
def challenger_promote():
    """The challenger becomes champion; its share goes back to 0 %. This process rebuilds
    its decision service now; every other serving process (gunicorn workers, decision
    workers) sees the registry's aliases change and reloads at its next decision
    (`DecisionService.refresh_models`)."""
    from models.errors import RegistryError
    from models.registry import Registry

    check_csrf()
    purpose = request.form.get("purpose", DEFAULT_PURPOSE)
    registry = Registry(current_app.config["CHEDAITONG"].model_dir)
    version = registry.aliases().get("challenger")
    if version is None:
        flash("没有挑战者模型 / There is no challenger to promote", "error")
        return redirect(url_for("pages.challenger", purpose=purpose))
    who = page_user().username
    try:
        registry.promote(version, "champion", who=who, force=request.form.get("force") == "1",
                         note="promoted from the champion/challenger report")
    except RegistryError as exc:
        flash(f"未晋升 / Not promoted: {exc}", "error")
        return redirect(url_for("pages.challenger", purpose=purpose))
    old = _store().policy(purpose) or RoutingPolicy(purpose=purpose)
    _store().save(RoutingPolicy(purpose=purpose, challenger_percent=0.0, salt=old.salt,
                                segment=old.segment), who=who)
    svc = services()
    with svc._lock:
        svc.decisions = None  # rebuilt with the new champion on the next decision
    flash(f"{version} is now champion; the challenger share is back to 0%", "ok")
    return redirect(url_for("pages.challenger", purpose=purpose))
