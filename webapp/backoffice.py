"""Back office: the manual review queue, voucher checks, staff accounts and rule reloads."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select
from werkzeug.exceptions import UnprocessableEntity

from chedaitong.db import Application, Dealer, Role
from ruleengine.errors import ReloadError
from webapp import access, database, flows, workflow
from webapp.applications import _summary
from webapp.auth import BEARER, current_user, roles_required
from webapp.idempotency import idempotent
from webapp.schemas import (
    QueueArgs,
    QueueItem,
    ReviewIn,
    ReviewOut,
    RulesOut,
    StaffIn,
    TokenOut,
    VoucherCheckIn,
    VoucherCheckOut,
)
from webapp.services import services

blp = Blueprint("backoffice", __name__, description="Back office: reviews, vouchers, admin")
QUEUES = {workflow.REFERRED: "credit", workflow.DISBURSEMENT_REVIEW: "disbursement"}


@blp.route("/reviews")
@roles_required(Role.REVIEWER, Role.ADMIN)
@blp.arguments(QueueArgs, location="query")
@blp.response(200, QueueItem(many=True))
@blp.doc(security=[BEARER])
def queue(args):
    """Referred applications (credit) and disbursement reviews, oldest first."""
    states = [s for s, k in QUEUES.items() if args.get("kind") in (None, k)]
    session = database.session()
    rows = session.scalars(select(Application).where(Application.state.in_(states))
                           .order_by(Application.submitted_at, Application.id).limit(200))
    items = []
    for app in rows:
        record = flows.latest_decision(session, app.id)
        items.append({**_summary(app), "queue": QUEUES[app.state],
                      "outcome": record.outcome if record else None})
    return items


@blp.route("/reviews/<int:application_id>", methods=["POST"])
@roles_required(Role.REVIEWER, Role.ADMIN)
@blp.arguments(ReviewIn)
@blp.response(201, ReviewOut)
@blp.doc(security=[BEARER])
def review(body, application_id: int):
    """Approve or reject (with notes). Approving a disbursement issues the voucher; a second
    concurrent approval gets 409 and no voucher."""
    app = access.application(application_id, current_user())
    offer = None
    if "annual_rate" in body:
        offer = {"annual_rate": body["annual_rate"],
                 "repayment_method": body.get("repayment_method", "equal_installment")}
    row, voucher = flows.review(database.session(), application=app, reviewer=current_user(),
                                decision=body["decision"], notes=body["notes"], offer=offer)
    return {"id": row.id, "application_id": app.id, "kind": row.kind, "decision": row.decision,
            "notes": row.notes, "at": row.at, "state": app.state,
            "voucher_number": voucher.number if voucher else None}


@blp.route("/vouchers/verify", methods=["POST"])
@roles_required(Role.CONSULTANT, Role.REVIEWER, Role.ADMIN)
@blp.arguments(VoucherCheckIn)
@blp.response(200, VoucherCheckOut)
@blp.doc(security=[BEARER])
def verify_voucher(body):
    """A dealer checks a voucher: valid only with the right code (and for their own dealer)."""
    session = database.session()
    voucher = flows.verify_voucher(session, number=body["number"],
                                   code=body["verification_code"], user=current_user())
    if voucher is None:
        return {"valid": False}
    app = session.get(Application, voucher.application_id)
    dealer = session.get(Dealer, voucher.dealer_id)
    return {"valid": True, "application_ref": app.ref, "amount": voucher.amount,
            "dealer_code": dealer.code, "issued_at": voucher.issued_at}


@blp.route("/admin/users", methods=["POST"])
@roles_required(Role.ADMIN)
@idempotent
@blp.arguments(StaffIn)
@blp.response(201, TokenOut)
@blp.doc(security=[BEARER])
def create_staff(body):
    """A staff account (consultants name their dealer) with its first token."""
    session = database.session()
    dealer_id = None
    if body["role"] == "consultant":
        dealer_id = session.scalar(select(Dealer.id).where(Dealer.code == body["dealer_code"]))
        if dealer_id is None:
            err = UnprocessableEntity("dealer_code: a consultant needs an existing dealer")
            err.data = {"messages": {"json": {"dealer_code": ["no such dealer"]}}}
            raise err
    user, token = flows.register_user(session, username=body["username"],
                                      display_name=body["display_name"],
                                      role=Role(body["role"]), dealer_id=dealer_id)
    return {"user_id": user.id, "role": user.role.value, "token": token}


@blp.route("/admin/rules/versions")
@roles_required(Role.ADMIN, Role.ANALYST)
@blp.response(200, RulesOut)
@blp.doc(security=[BEARER])
def rules_versions():
    return {"versions": services().rulebook().current_versions()}


@blp.route("/admin/rules/reload", methods=["POST"])
@roles_required(Role.ADMIN, Role.ANALYST)
@blp.response(200, RulesOut)
@blp.alt_response(422, description="The new rules are invalid; the old version keeps serving")
@blp.doc(security=[BEARER])
def rules_reload():
    """Hot-reload the rule files; on error the previous version keeps serving."""
    rules = services().rulebook()
    try:
        rules.reload()
    except ReloadError as exc:
        err = UnprocessableEntity(str(exc))
        err.data = {"extra": {"serving": rules.current_versions()}}
        raise err from None
    return {"versions": rules.current_versions()}
