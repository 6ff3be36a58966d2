"""Admin: partner dealers (agreement, status, consultants, audit) and the payouts to them."""

from __future__ import annotations

from flask_smorest import Blueprint

from chedaitong.db import Role
from decisioning.origination import dealers, payouts, stock
from webapp import database
from webapp.auth import BEARER, current_user, roles_required
from webapp.idempotency import idempotent
from webapp.partner_schemas import (
    AccountChangeArgs,
    AccountChangeOut,
    AccountDecisionIn,
    AuditArgs,
    AuditOut,
    ConsultantActiveIn,
    ConsultantIn,
    ConsultantOut,
    DealerIn,
    DealerOut,
    DealerPatch,
    PayoutArgs,
    PayoutExportIn,
    PayoutFileOut,
    PayoutOut,
    ReconcileOut,
    StatusFileIn,
    StockVehicleIn,
    StockVehicleOut,
    VendorRunOut,
)
from webapp.services import services
from webapp.uploads import _reject

blp = Blueprint("dealers", __name__, description="Admin: dealers and payouts")
PAYOUT_STAFF = (Role.REVIEWER, Role.ADMIN)


def _cipher():
    return services().store.cipher


@blp.route("/admin/dealers", methods=["POST"])
@roles_required(Role.ADMIN)
@idempotent
@blp.arguments(DealerIn)
@blp.response(201, DealerOut)
@blp.doc(security=[BEARER])
def onboard(body):
    """Sign up a partner dealer with its agreement and payout account (audited)."""
    session = database.session()
    dealer = dealers.onboard(session=session, cipher=_cipher(), actor=current_user(), data=body)
    return dealers.view(session, dealer)


@blp.route("/admin/dealers")
@roles_required(Role.ADMIN, Role.REVIEWER)
@blp.response(200, DealerOut(many=True))
@blp.doc(security=[BEARER])
def list_dealers():
    """Every dealer with its agreement, status, masked payout account and consultants."""
    session = database.session()
    return [dealers.view(session, d) for d in dealers.listing(session)]


@blp.route("/admin/dealers/<int:dealer_id>")
@roles_required(Role.ADMIN, Role.REVIEWER)
@blp.response(200, DealerOut)
@blp.doc(security=[BEARER])
def get_dealer(dealer_id: int):
    """One dealer: agreement, status, masked payout account and consultants."""
    session = database.session()
    return dealers.view(session, dealers.get(session, dealer_id))


@blp.route("/admin/dealers/<int:dealer_id>", methods=["PATCH"])
@roles_required(Role.ADMIN)
@blp.arguments(DealerPatch)
@blp.response(200, DealerOut)
@blp.doc(security=[BEARER])
def update_dealer(body, dealer_id: int):
    """Suspend or reactivate (a suspended dealer's consultants cannot file), change the
    agreement's dates (applied at once), or request a new payout account — bank, account name
    or number: a pending change (``pending_account_change``) that another admin approves;
    payouts keep going to the approved account until then (audited)."""
    session = database.session()
    dealer = dealers.update(session=session, cipher=_cipher(), actor=current_user(),
                            dealer=dealers.get(session, dealer_id), data=body)
    return dealers.view(session, dealer)


@blp.route("/admin/dealers/account-changes")
@roles_required(Role.ADMIN)
@blp.arguments(AccountChangeArgs, location="query")
@blp.response(200, AccountChangeOut(many=True))
@blp.doc(security=[BEARER])
def account_changes(args):
    """Requested payout accounts, oldest first: by default the pending ones a second admin
    approves or rejects (masked; never the full number)."""
    session = database.session()
    return [dealers.change_view(session, c)
            for c in dealers.account_changes(session, args["status"])]


@blp.route("/admin/dealers/<int:dealer_id>/account-changes/<int:change_id>/decision",
           methods=["POST"])
@roles_required(Role.ADMIN)
@blp.arguments(AccountDecisionIn)
@blp.response(200, AccountChangeOut)
@blp.alt_response(403, description="You requested this account (or created the requester's "
                                   "account, or it created yours): another admin approves")
@blp.alt_response(409, description="The change is no longer pending")
@blp.doc(security=[BEARER])
def decide_account_change(body, dealer_id: int, change_id: int):
    """Approve (payouts go to this account from now on) or reject a requested payout account
    (four eyes: never the requester's own approval; audited)."""
    session = database.session()
    change = dealers.decide_account_change(
        session=session, cipher=_cipher(), actor=current_user(),
        dealer=dealers.get(session, dealer_id), change_id=change_id,
        decision=body["decision"], note=body["note"])
    return dealers.change_view(session, change)


@blp.route("/admin/dealers/<int:dealer_id>/consultants", methods=["POST"])
@roles_required(Role.ADMIN)
@idempotent(secret_fields=("token",))
@blp.arguments(ConsultantIn)
@blp.response(201, ConsultantOut)
@blp.doc(security=[BEARER])
def invite(body, dealer_id: int):
    """Invite a consultant of this dealer; the answer carries their first token (once)."""
    session = database.session()
    user, token = dealers.invite_consultant(
        session=session, actor=current_user(), dealer=dealers.get(session, dealer_id),
        username=body["username"], display_name=body["display_name"])
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "active": user.active, "dealer_id": user.dealer_id, "token": token}


@blp.route("/admin/dealers/<int:dealer_id>/stock")
@roles_required(Role.ADMIN, Role.REVIEWER, Role.CONSULTANT)
@blp.response(200, StockVehicleOut(many=True))
@blp.doc(security=[BEARER])
def list_stock(dealer_id: int):
    """The dealer's stock (vehicles offered and list prices, dearest first); a consultant
    sees only their own dealer's. Re-apply guidance suggests cheaper cars only from here."""
    session = database.session()
    stock.check_can_read(current_user(), dealer_id)
    dealer = dealers.get(session, dealer_id)
    return [stock.view(v) for v in stock.listing(session, dealer.id)]


@blp.route("/admin/dealers/<int:dealer_id>/stock", methods=["PUT"])
@roles_required(Role.ADMIN)
@blp.arguments(StockVehicleIn)
@blp.response(200, StockVehicleOut)
@blp.doc(security=[BEARER])
def put_stock(body, dealer_id: int):
    """Add a vehicle to the dealer's stock, or change its list price or take it off sale
    (``active: false``); keyed by brand and model (audited)."""
    session = database.session()
    row = stock.put(session=session, actor=current_user(),
                    dealer=dealers.get(session, dealer_id), **body)
    session.commit()
    return stock.view(row)


@blp.route("/admin/consultants/<int:user_id>", methods=["PATCH"])
@roles_required(Role.ADMIN)
@blp.arguments(ConsultantActiveIn)
@blp.response(200, ConsultantOut)
@blp.doc(security=[BEARER])
def set_active(body, user_id: int):
    """Deactivate a consultant (their tokens stop working within a second on every
    server process: `token_cache`) or reactivate them."""
    user = dealers.set_consultant_active(session=database.session(), actor=current_user(),
                                         user_id=user_id, active=body["active"])
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "active": user.active, "dealer_id": user.dealer_id, "token": None}


@blp.route("/admin/audit")
@roles_required(Role.ADMIN)
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditOut(many=True))
@blp.doc(security=[BEARER])
def audit(args):
    """Administrative changes, newest first."""
    return dealers.audit_trail(database.session(), kind=args.get("target_kind"),
                               target_id=args.get("target_id"))


# ---- payouts ------------------------------------------------------------------------------
@blp.route("/payouts")
@roles_required(*PAYOUT_STAFF)
@blp.arguments(PayoutArgs, location="query")
@blp.response(200, PayoutOut(many=True))
@blp.doc(security=[BEARER])
def list_payouts(args):
    """Payouts to dealers: pending, exported (in a bank file), paid or failed."""
    session = database.session()
    return [payouts.view(session, p) for p in payouts.listing(session, args.get("status"))]


@blp.route("/payouts/<int:payout_id>")
@roles_required(*PAYOUT_STAFF)
@blp.response(200, PayoutOut)
@blp.doc(security=[BEARER])
def get_payout(payout_id: int):
    """One payout: amount, value date, status, bank reference or failure reason."""
    session = database.session()
    return payouts.view(session, payouts.get(session, payout_id))


@blp.route("/payouts/export", methods=["POST"])
@roles_required(Role.ADMIN)
@idempotent
@blp.arguments(PayoutExportIn)
@blp.response(201, PayoutFileOut)
@blp.doc(security=[BEARER])
def export(body):
    """The bank transfer file of every pending payout due by the value date (default today);
    they become exported. The file holds the dealers' clear account numbers."""
    out = payouts.export_file(session=database.session(), cipher=_cipher(),
                              actor_id=current_user().id, value_date=body.get("value_date"))
    return {"batch_ref": out.batch_ref, "count": out.count, "total": out.total,
            "content": out.content, "skipped": out.skipped}


@blp.route("/payouts/reconcile", methods=["POST"])
@roles_required(Role.ADMIN)
@blp.arguments(StatusFileIn, location="files")
@blp.response(200, ReconcileOut)
@blp.doc(security=[BEARER])
def reconcile(files):
    """Apply the bank's status file: each exported payout becomes paid or failed."""
    raw = files["file"].stream.read(5 * 1024 * 1024 + 1)
    if not raw or len(raw) > 5 * 1024 * 1024:
        raise _reject("file", "send a non-empty CSV of at most 5 MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _reject("file", "the status file must be UTF-8 CSV") from None
    r = payouts.reconcile(session=database.session(), content=text)
    return {"paid": r.paid, "failed": r.failed, "unchanged": r.unchanged, "errors": r.errors}


@blp.route("/payouts/<int:payout_id>/retry", methods=["POST"])
@roles_required(Role.ADMIN)
@blp.response(200, PayoutOut)
@blp.doc(security=[BEARER])
def retry(payout_id: int):
    """Re-queue a failed payout for the next bank file; the voucher is not reissued."""
    session = database.session()
    payout = payouts.retry(session=session, actor=current_user(),
                           payout=payouts.get(session, payout_id))
    return payouts.view(session, payout)


@blp.route("/payouts/send", methods=["POST"])
@roles_required(Role.ADMIN)
@idempotent
@blp.arguments(PayoutExportIn)
@blp.response(200, VendorRunOut)
@blp.doc(security=[BEARER])
def send(body):
    """Send the pending payouts through the payment vendor instead of a bank file."""
    r = payouts.send(session=database.session(), services=services(),
                     value_date=body.get("value_date"))
    return {"sent": r.sent, "paid": r.paid, "failed": r.failed, "errors": r.errors}


@blp.route("/payouts/sync", methods=["POST"])
@roles_required(Role.ADMIN)
@blp.response(200, VendorRunOut)
@blp.doc(security=[BEARER])
def sync():
    """Read back from the payment vendor which sent payouts settled or failed."""
    r = payouts.sync(session=database.session(), services=services())
    return {"sent": r.sent, "paid": r.paid, "failed": r.failed, "errors": r.errors}
