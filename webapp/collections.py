"""Collections: the collector's worklist, a case's detail, outcomes and outbound calls."""

from __future__ import annotations

from flask_smorest import Blueprint

from chedaitong.db import Role
from decisioning import collections
from webapp import database
from webapp.auth import BEARER, current_user, roles_required
from webapp.partner_schemas import CaseDetail, CaseItem, ContactOut, OutcomeIn
from webapp.services import services

blp = Blueprint("collections", __name__, description="Collections: worklist and cases")
COLLECTIONS = (Role.COLLECTOR, Role.ADMIN)


def _contact(c) -> dict:
    return {"id": c.id, "at": c.at, "channel": c.channel, "outcome": c.outcome,
            "promise_date": c.promise_date, "promise_amount": c.promise_amount,
            "note": c.note, "collector": current_user().display_name}


@blp.route("/collections/cases")
@roles_required(*COLLECTIONS)
@blp.response(200, CaseItem(many=True))
@blp.doc(security=[BEARER])
def worklist():
    """Overdue loans, highest expected loss (outstanding principal × PD) first, then DPD."""
    return collections.worklist(session=database.session())


@blp.route("/collections/cases/<int:loan_id>")
@roles_required(*COLLECTIONS)
@blp.response(200, CaseDetail)
@blp.doc(security=[BEARER])
def case(loan_id: int):
    """Schedule, arrears, contact history and promises; identifiers masked."""
    session = database.session()
    return collections.case(session=session, services=services(),
                            loan=collections.loan_of(session, loan_id))


@blp.route("/collections/cases/<int:loan_id>/outcomes", methods=["POST"])
@roles_required(*COLLECTIONS)
@blp.arguments(OutcomeIn)
@blp.response(201, ContactOut)
@blp.doc(security=[BEARER])
def outcome(body, loan_id: int):
    """Record what came of a contact: reached, promise to pay (date and amount), refused,
    wrong number or no answer."""
    session = database.session()
    contact = collections.record_outcome(
        session=session, loan=collections.loan_of(session, loan_id), collector=current_user(),
        outcome=body["outcome"], note=body["note"], promise_date=body["promise_date"],
        promise_amount=body["promise_amount"])
    return _contact(contact)


@blp.route("/collections/cases/<int:loan_id>/call", methods=["POST"])
@roles_required(*COLLECTIONS)
@blp.response(201, ContactOut)
@blp.doc(security=[BEARER])
def call(loan_id: int):
    """Ring the borrower through the outbound-call service and log the result."""
    session = database.session()
    contact = collections.place_call(session=session, services=services(),
                                     loan=collections.loan_of(session, loan_id),
                                     collector=current_user())
    return _contact(contact)
