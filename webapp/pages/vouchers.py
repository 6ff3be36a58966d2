"""Voucher lookup: by number for the back office, and the dealer's number + code check
(through `flows.verify_voucher`, like ``POST /vouchers/verify``). The code itself is never shown."""

from __future__ import annotations

from flask import render_template, request

from chedaitong.db import Application, Dealer, User
from chedaitong.db.origination import Voucher
from webapp import database, flows
from webapp.pages import bp
from webapp.pages.session import REVIEWS, page_user, roles


@bp.route("/vouchers", methods=["GET", "POST"])
@roles(*REVIEWS)
def voucher_lookup():
    session = database.session()
    number = (request.values.get("number") or "").strip()[:64]
    checked = None
    voucher = None
    if number:
        voucher = session.query(Voucher).filter(Voucher.number == number).one_or_none()
    if request.method == "POST" and number:
        code = request.form.get("verification_code", "").strip()[:32]
        checked = flows.verify_voucher(session, number=number, code=code,
                                       user=page_user()) is not None
    info = None
    if voucher is not None:
        app = session.get(Application, voucher.application_id)
        dealer = session.get(Dealer, voucher.dealer_id)
        issuer = session.get(User, voucher.issued_by)
        info = {"number": voucher.number, "amount": voucher.amount, "issued_at": voucher.issued_at,
                "application_ref": app.ref, "application_id": app.id, "state": app.state,
                "dealer": f"{dealer.name} ({dealer.code})",
                "issued_by": issuer.display_name if issuer else voucher.issued_by}
    return render_template("pages/vouchers.html", number=number, info=info, checked=checked,
                           searched=bool(number))
