"""Back office: the manual review queue, voucher checks, staff accounts and rule reloads."""

from __future__ import annotations

from flask_smorest import Blueprint

from chedaitong.db import Role
from decisioning.origination import access, applications, flows, staff, vouchers
from webapp import database
from webapp.auth import BEARER, current_user, roles_required
from webapp.idempotency import idempotent
from webapp.schemas import (
    ActivationIn,
    ActivationOut,
    QueueArgs,
    QueueItem,
    ReviewIn,
    ReviewOut,
    RulesOut,
    StaffAccountOut,
    StaffIn,
    VoucherCheckIn,
    VoucherCheckOut,
)
from webapp.services import services

blp = Blueprint("backoffice", __name__, description="Back office: reviews, vouchers, admin")


@blp.route("/reviews")
@roles_required(Role.REVIEWER, Role.ADMIN)
@blp.arguments(QueueArgs, location="query")
@blp.response(200, QueueItem(many=True))
@blp.doc(security=[BEARER])
def queue(args):
    """Referred applications (credit) and disbursement reviews, oldest first."""
    return applications.review_queue(session=database.session(), kind=args.get("kind"))


@blp.route("/reviews/<int:application_id>", methods=["POST"])
@roles_required(Role.REVIEWER)  # an admin administers; deciding is a reviewer's duty
@blp.arguments(ReviewIn)
@blp.response(201, ReviewOut)
@blp.doc(security=[BEARER])
def review(body, application_id: int):
    """Approve or reject (with notes). Approving a disbursement issues the voucher; a second
    concurrent approval gets 409 and no voucher."""
    app = access.application(session=database.session(), application_id=application_id,
                             user=current_user())
    offer = None
    if "annual_rate" in body:
        offer = {"annual_rate": body["annual_rate"],
                 "repayment_method": body.get("repayment_method", "equal_installment")}
    row, voucher = flows.review(session=database.session(), application=app,
                                reviewer=current_user(), decision=body["decision"],
                                notes=body["notes"], offer=offer,
                                separate_duties=services().settings.separation_of_duties)
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
    voucher = vouchers.verify(session=session, number=body["number"],
                              code=body["verification_code"], user=current_user())
    return vouchers.check_view(session=session, voucher=voucher)


@blp.route("/admin/users", methods=["POST"])
@roles_required(Role.ADMIN)
@idempotent
@blp.arguments(StaffIn)
@blp.response(201, StaffAccountOut)
@blp.doc(security=[BEARER])
def create_staff(body):
    """Request a staff account (consultants name their dealer): it is *pending* — inactive,
    no token — until another admin activates it (`POST /admin/users/{id}/activation`), who
    is handed its first token (audited)."""
    session = database.session()
    user = staff.request_account(session=session, actor=current_user(),
                                 username=body["username"], display_name=body["display_name"],
                                 role=Role(body["role"]), dealer_code=body["dealer_code"])
    return staff.view(session, user)


@blp.route("/admin/users/pending")
@roles_required(Role.ADMIN)
@blp.response(200, StaffAccountOut(many=True))
@blp.doc(security=[BEARER])
def pending_staff():
    """Staff accounts awaiting a second admin's activation, oldest first."""
    session = database.session()
    return [staff.view(session, u) for u in staff.pending_accounts(session)]


@blp.route("/admin/users/<int:user_id>/activation", methods=["POST"])
@roles_required(Role.ADMIN)
@idempotent(secret_fields=("token",))
@blp.arguments(ActivationIn)
@blp.response(200, ActivationOut)
@blp.alt_response(403, description="You created this account (or created the creator's "
                                   "account, or it created yours): another admin activates")
@blp.alt_response(409, description="The account is no longer pending")
@blp.doc(security=[BEARER])
def decide_activation(body, user_id: int):
    """Activate a pending staff account — the answer carries its first token, once, for the
    new user — or reject it (four eyes: never its creator's activation; audited)."""
    session = database.session()
    user, token = staff.decide_activation(session=session, actor=current_user(),
                                          user_id=user_id, decision=body["decision"],
                                          note=body["note"])
    return {**staff.view(session, user), "token": token}


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
    return {"versions": services().reload_rules()}
