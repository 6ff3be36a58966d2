"""Back-office pages for dealers (onboarding, suspension, consultants), the payouts to them and
the collector's worklist — over the same domain functions as the API, audited the same way."""

from __future__ import annotations

from datetime import date

from flask import Response, abort, flash, redirect, render_template, request, url_for

from chedaitong.db import Role
from chedaitong.db.base import MAX_ID
from chedaitong.errors import DomainError
from chedaitong.numbers import decimal_text
from decisioning import collections
from decisioning.origination import dealers, payouts, staff
from webapp import database
from webapp.pages import bp
from webapp.pages.session import REVIEWS, check_csrf, page_user, roles
from webapp.partner_schemas import ACCOUNT
from webapp.services import services

ADMIN = (Role.ADMIN,)
COLLECTIONS = (Role.COLLECTOR, Role.ADMIN)


def _date(name: str, required: bool = True) -> date | None:
    raw = (request.form.get(name) or "").strip()
    if not raw and not required:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise DomainError(f"{name}: a date YYYY-MM-DD is required") from None


def _account_number() -> str:
    """The form's payout account number, checked as the API checks it (`ACCOUNT`)."""
    account = _text("account_number", 30)
    if not ACCOUNT.regex.match(account):
        raise DomainError("account_number: 8-30 digits")
    return account


def _form_id(name: str) -> int:
    """A row id from the form (a hidden field): digits within the ids' range, else an error
    to flash — never an overflow in the database driver."""
    raw = (request.form.get(name) or "").strip()
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_ID):
        raise DomainError(f"{name}: not a known id")
    return int(raw)


def _text(name: str, max_len: int = 200) -> str:
    value = (request.form.get(name) or "").strip()
    if not value or len(value) > max_len:
        raise DomainError(f"{name}: required, at most {max_len} characters")
    return value


# ---- dealers ------------------------------------------------------------------------------
@bp.route("/dealers", methods=["GET", "POST"])
@roles(*REVIEWS)
def dealer_list():
    session = database.session()
    if request.method == "POST":
        check_csrf()
        if page_user().role is not Role.ADMIN:
            abort(403, "only an admin onboards dealers")
        try:
            account = _account_number()
            dealer = dealers.onboard(session=session, cipher=services().store.cipher,
                                     actor=page_user(), data={
                "code": _text("code", 32).upper(), "name": _text("name"),
                "city": _text("city", 64), "province": _text("province", 64),
                "agreement_ref": _text("agreement_ref", 64),
                "effective_from": _date("effective_from"),
                "effective_to": _date("effective_to", required=False),
                "bank_name": _text("bank_name", 100), "account_name": _text("account_name"),
                "account_number": account})
        except DomainError as exc:
            session.rollback()
            flash(exc.message, "error")
        else:
            flash(f"已签约 Dealer {dealer.code} onboarded", "ok")
            return redirect(url_for("pages.dealer_detail", dealer_id=dealer.id))
    rows = [dealers.view(session, d) for d in dealers.listing(session)]
    return render_template("pages/dealers.html", dealers=rows,
                           can_edit=page_user().role is Role.ADMIN)


@bp.route("/dealers/<int:dealer_id>", methods=["GET", "POST"])
@roles(*REVIEWS)
def dealer_detail(dealer_id: int):
    session = database.session()
    dealer = dealers.get(session, dealer_id)
    first_token = None  # an invited consultant's, shown once
    if request.method == "POST":
        check_csrf()
        if page_user().role is not Role.ADMIN:
            abort(403, "only an admin changes dealers")
        action = request.form.get("action", "")
        try:
            if action in ("suspend", "activate"):
                dealers.update(session=session, cipher=services().store.cipher,
                               actor=page_user(), dealer=dealer, data={
                                   "status": "suspended" if action == "suspend" else "active",
                                   "reason": (request.form.get("reason") or "")[:500]})
            elif action == "agreement":  # a dealer from before onboarding, or a new account
                data = {"effective_from": _date("effective_from"),
                        "effective_to": _date("effective_to", required=False),
                        "bank_name": _text("bank_name", 100),
                        "account_name": _text("account_name"),
                        "account_number": _account_number()}
                if dealers.agreement_of(session, dealer.id) is None:
                    data["agreement_ref"] = _text("agreement_ref", 64)
                dealers.update(session=session, cipher=services().store.cipher,
                               actor=page_user(), dealer=dealer, data=data)
                flash("协议已保存 Agreement saved" + (
                    "; 收款账户待另一位管理员复核 the payout account awaits another admin's "
                    "approval" if dealers.pending_change(session, dealer.id) else ""), "ok")
            elif action in ("account_approve", "account_reject"):
                change = dealers.decide_account_change(
                    session=session, cipher=services().store.cipher, actor=page_user(),
                    dealer=dealer, change_id=_form_id("change_id"),
                    decision=action.removeprefix("account_"),
                    note=(request.form.get("note") or "")[:500])
                flash(f"收款账户 Payout account {change.account_masked}: {change.status}", "ok")
            elif action == "invite":  # the token is shown in this answer, never flashed:
                _, first_token = dealers.invite_consultant(  # flashes ride in the cookie
                    session=session, actor=page_user(), dealer=dealer,
                    username=_text("username", 64), display_name=_text("display_name", 100))
            elif action in ("deactivate", "reactivate"):
                dealers.set_consultant_active(
                    session=session, actor=page_user(),
                    user_id=_form_id("user_id"),
                    active=action == "reactivate")
            else:
                raise DomainError("unknown action")
        except (DomainError, ValueError) as exc:
            session.rollback()
            flash(getattr(exc, "message", str(exc)), "error")
        if first_token is None:
            return redirect(url_for("pages.dealer_detail", dealer_id=dealer.id))
    trail = dealers.audit_trail(session, kind="dealer", target_id=dealer.id, limit=50)
    page = render_template("pages/dealer.html", dealer=dealers.view(session, dealer),
                           trail=trail, can_edit=page_user().role is Role.ADMIN,
                           first_token=first_token)
    return page, 200, {"Cache-Control": "no-store"} if first_token else {}


# ---- payouts ------------------------------------------------------------------------------
# ---- staff accounts -----------------------------------------------------------------------
STAFF_ROLES = ("reviewer", "analyst", "collector", "admin", "consultant", "payment_channel",
               "vehicle_tracker")


@bp.route("/staff", methods=["GET", "POST"])
@roles(*ADMIN)
def staff_accounts():
    """Request staff accounts; activate or reject those another admin requested (the first
    token is shown in this answer to the activating admin, once — never flashed)."""
    session = database.session()
    first_token = None
    if request.method == "POST":
        check_csrf()
        action = request.form.get("action", "")
        try:
            if action == "request":
                role = request.form.get("role", "")
                if role not in STAFF_ROLES:
                    raise DomainError("role: not a staff role")
                user = staff.request_account(
                    session=session, actor=page_user(), username=_text("username", 64),
                    display_name=_text("display_name", 100), role=Role(role),
                    dealer_code=(request.form.get("dealer_code") or "").strip() or None)
                flash(f"账户 {user.username} 待另一位管理员激活 awaits another admin's "
                      "activation", "ok")
            elif action in ("approve", "reject"):
                user, first_token = staff.decide_activation(
                    session=session, actor=page_user(), user_id=_form_id("user_id"),
                    decision=action, note=(request.form.get("note") or "")[:500])
                if first_token is None:
                    flash(f"账户 {user.username}: {user.activation}", "ok")
            else:
                raise DomainError("unknown action")
        except DomainError as exc:
            session.rollback()
            flash(exc.message, "error")
        if first_token is None:
            return redirect(url_for("pages.staff_accounts"))
    rows = [staff.view(session, u) for u in staff.pending_accounts(session)]
    page = render_template("pages/staff.html", pending=rows, roles=STAFF_ROLES,
                           first_token=first_token)
    return page, 200, {"Cache-Control": "no-store"} if first_token else {}


@bp.route("/payouts", methods=["GET", "POST"])
@roles(*REVIEWS)
def payout_list():
    session = database.session()
    if request.method == "POST":
        check_csrf()
        if page_user().role is not Role.ADMIN:
            abort(403, "only an admin exports or reconciles payouts")
        action = request.form.get("action", "")
        if action == "export":
            out = payouts.export_file(session=session, cipher=services().store.cipher,
                                      actor_id=page_user().id)
            return Response(out.content, mimetype="text/csv", headers={
                "Content-Disposition": f"attachment; filename={out.batch_ref}.csv",
                "Cache-Control": "no-store"})
        if action == "reconcile":
            upload = request.files.get("file")
            raw = upload.stream.read(5 * 1024 * 1024 + 1) if upload else b""
            try:
                if not raw or len(raw) > 5 * 1024 * 1024:
                    raise DomainError("file: a non-empty CSV of at most 5 MB is required")
                r = payouts.reconcile(session=session, content=raw.decode("utf-8"))
                flash(f"对账 Reconciled: {r.paid} paid, {r.failed} failed, {r.unchanged} "
                      f"unchanged, {len(r.errors)} errors", "error" if r.errors else "ok")
            except (DomainError, UnicodeDecodeError) as exc:
                session.rollback()
                flash(getattr(exc, "message", "the file must be UTF-8 CSV"), "error")
        elif action in ("send", "sync"):
            run = (payouts.send if action == "send" else payouts.sync)(
                session=session, services=services())
            flash(f"支付通道 Payment service: {run.sent} sent, {run.paid} paid, {run.failed} "
                  f"failed, {len(run.errors)} errors", "error" if run.errors else "ok")
        elif action == "retry":
            try:
                payouts.retry(session=session, actor=page_user(),
                              payout=payouts.get(session, _form_id("payout_id")))
            except (DomainError, ValueError) as exc:
                session.rollback()
                flash(getattr(exc, "message", str(exc)), "error")
        return redirect(url_for("pages.payout_list"))
    status = request.args.get("status")
    status = status if status in payouts.STATUSES else None
    rows = [payouts.view(session, p) for p in payouts.listing(session, status)]
    return render_template("pages/payouts.html", payouts=rows, counts=payouts.counts(session),
                           status=status, can_edit=page_user().role is Role.ADMIN)


# ---- collections --------------------------------------------------------------------------
@bp.route("/collections")
@roles(*COLLECTIONS)
def collection_worklist():
    return render_template("pages/collections.html",
                           items=collections.worklist(session=database.session()))


@bp.route("/collections/<int:loan_id>", methods=["GET", "POST"])
@roles(*COLLECTIONS)
def collection_case(loan_id: int):
    session = database.session()
    loan = collections.loan_of(session, loan_id)
    if request.method == "POST":
        check_csrf()
        try:
            if request.form.get("action") == "call":
                c = collections.place_call(session=session, services=services(), loan=loan,
                                           collector=page_user())
                flash(f"外呼 Call: {c.outcome}", "ok")
            else:
                amount = (request.form.get("promise_amount") or "").strip()
                try:
                    promised = decimal_text(amount, 2) if amount else None
                except ValueError as exc:
                    raise DomainError(f"promise_amount: {exc}") from None
                collections.record_outcome(
                    session=session, loan=loan, collector=page_user(),
                    outcome=request.form.get("outcome", ""),
                    note=(request.form.get("note") or "")[:500],
                    promise_date=_date("promise_date", required=False),
                    promise_amount=promised)
                flash("已记录 Outcome recorded", "ok")
        except DomainError as exc:
            session.rollback()
            flash(exc.message, "error")
        return redirect(url_for("pages.collection_case", loan_id=loan.id))
    return render_template("pages/collection_case.html",
                           case=collections.case(session=session, services=services(),
                                                 loan=loan),
                           outcomes=collections.OUTCOMES)
