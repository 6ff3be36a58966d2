"""The reviewer's queue: referred applications and disbursement reviews, worked through the
same `flows.review` as ``POST /reviews/{id}`` so the state machine and the single voucher hold."""

from __future__ import annotations

from decimal import Decimal

from flask import flash, redirect, render_template, request, url_for

from chedaitong.db import Application
from chedaitong.errors import DomainError
from chedaitong.numbers import decimal_text
from decisioning.origination import access, applications, audiences, flows
from webapp import database
from webapp.pages import bp
from webapp.pages.present import model_summary, safe_features
from webapp.pages.session import REVIEWS, page_user, roles
from webapp.services import services


@bp.route("/reviews")
@roles(*REVIEWS)
def review_queue():
    items = [{"app": i["application"], "queue": i["queue"],
              "masked_id": i["customer_id_number_masked"], "outcome": i["outcome"]}
             for i in applications.review_queue(session=database.session())]
    return render_template("pages/reviews.html", items=items)


@bp.route("/reviews/<int:application_id>", methods=["GET", "POST"])
@roles(*REVIEWS)
def review_case(application_id: int):
    session = database.session()
    app = access.application(session=session, application_id=application_id,
                             user=page_user())
    if request.method == "POST":
        outcome = _submit(app)
        if outcome is not None:
            return outcome
    case = applications.review_case(session=session, application=app)
    record = case["record"]
    return render_template(
        "pages/review.html", app=app, queue=case["queue"], record=record,
        customer=case["customer"], dealer=case["dealer"],
        features=safe_features(audiences.staff_features(record.features) if record else None),
        reasons=audiences.staff_reasons(record) if record else [],
        model=model_summary(record.model if record else None),
        offers=case["offers"], history=case["reviews"], needs_rate=case["needs_rate"],
    ), 200 if request.method == "GET" else 422


def _submit(app: Application):
    """Validate the form like `ReviewIn`, run the flow; a redirect on success, else None
    (the page re-renders with the flashed error)."""
    decision = request.form.get("decision", "")
    notes = request.form.get("notes", "").strip()
    rate_text = request.form.get("annual_rate", "").strip()
    if decision not in ("approve", "reject"):
        flash("请选择批准或拒绝 / Choose approve or reject", "error")
        return None
    if not 1 <= len(notes) <= 2000:
        flash("请填写审核意见 / Notes are required (up to 2000 characters)", "error")
        return None
    offer = None
    if rate_text:
        try:  # ASCII digits, at most 4 places: nothing rounded away on the way in
            rate = decimal_text(rate_text, 4)
        except ValueError:
            rate = Decimal(-1)
        if not Decimal(0) <= rate <= Decimal("0.36"):
            flash("年利率须在 0 与 0.36 之间 / Annual rate must be between 0 and 0.36", "error")
            return None
        offer = {"annual_rate": str(rate.quantize(Decimal("0.0001"))),
                 "repayment_method": "equal_installment"}
    try:
        row, voucher = flows.review(session=database.session(), application=app,
                                    reviewer=page_user(), decision=decision, notes=notes,
                                    offer=offer,
                                    separate_duties=services().settings.separation_of_duties)
    except DomainError as exc:
        database.session().rollback()
        flash(f"未能提交 / Not saved: {exc.message}", "error")
        return None
    if voucher is not None:
        flash(f"放款凭证已签发 / Voucher issued: {voucher.number}", "ok")
        return redirect(url_for("pages.voucher_lookup", number=voucher.number))
    flash(f"{app.ref}: {row.kind} review {row.decision} → {app.state}", "ok")
    return redirect(url_for("pages.review_queue"))
