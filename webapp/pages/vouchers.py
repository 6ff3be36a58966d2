"""Voucher lookup: by number for the back office, and the dealer's number + code check
(through `vouchers.verify`, like ``POST /vouchers/verify``). The code itself is never shown."""

from __future__ import annotations

from flask import g, render_template, request

from decisioning.origination import vouchers
from webapp import database
from webapp.pages import bp
from webapp.pages.session import REVIEWS, page_user, roles


@bp.route("/vouchers", methods=["GET", "POST"])
@roles(*REVIEWS)
def voucher_lookup():
    session = database.session()
    number = (request.values.get("number") or "").strip()[:64]
    checked = None
    voucher = vouchers.find(session=session, number=number) if number else None
    if request.method == "POST" and number:
        code = request.form.get("verification_code", "").strip()[:32]
        checked = vouchers.verify(session=session, number=number, code=code,
                                  user=page_user()) is not None
        g.voucher_mismatch = not checked  # counted by the page's limit (`webapp.limits`)
    info = vouchers.lookup_view(session=session, voucher=voucher) if voucher else None
    return render_template("pages/vouchers.html", number=number, info=info, checked=checked,
                           searched=bool(number))
