"""Store-app and user-app endpoints on one application, from creation to booking."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from chedaitong.db import Application, Customer, Dealer, Role
from chedaitong.db.origination import (
    LoanContract,
    PlanChoice,
    StateTransition,
    StoredDocument,
    Voucher,
)
from webapp import access, database, flows, storage, workflow
from webapp.auth import BEARER, current_user, roles_required
from webapp.idempotency import idempotent
from webapp.schemas import (
    ApplicationDetail,
    ApplicationIn,
    ApplicationPage,
    ContractOut,
    DocumentOut,
    FileIn,
    ListArgs,
    MailingIn,
    PlanIn,
    ReapplyIn,
    ReapplyOut,
    SelfieIn,
    SignIn,
    StateOut,
    TransitionOut,
    VerificationOut,
    VoucherOut,
)
from webapp.services import services

blp = Blueprint("applications", __name__, description="Loan applications (orders)")
DOCUMENT_KINDS = (flows.AUTHORIZATION_DOC, *flows.CHECKLIST)


def _summary(app: Application, customer: Customer | None = None) -> dict:
    customer = customer or database.session().get(Customer, app.customer_id)
    return {**{k: getattr(app, k) for k in (
        "id", "ref", "state", "vehicle_brand", "vehicle_model", "loan_amount", "term_months",
        "submitted_at", "created_at")}, "customer_id_number_masked": customer.id_number_masked}


def detail(app: Application) -> dict:
    """What the apps show: masked parties, decision summary and offers — never features,
    raw device data or full identifiers."""
    session = database.session()
    customer = session.get(Customer, app.customer_id)
    dealer = session.get(Dealer, app.dealer_id)
    record = flows.latest_decision(session, app.id)
    plan = session.scalar(select(PlanChoice).where(PlanChoice.application_id == app.id))
    contract = session.scalar(select(LoanContract).where(LoanContract.application_id == app.id))
    voucher = session.scalar(select(Voucher).where(Voucher.application_id == app.id))
    docs = list(session.scalars(select(StoredDocument).where(
        StoredDocument.application_id == app.id).order_by(StoredDocument.kind)))
    booked = session.scalar(select(StateTransition.note).where(
        StateTransition.application_id == app.id, StateTransition.to_state == workflow.BOOKED))
    return {
        **_summary(app, customer),
        "dealer_code": dealer.code, "dealer_name": dealer.name,
        "consultant_id": app.consultant_id, "previous_id": app.previous_id,
        "vehicle_price": app.vehicle_price, "down_payment": app.down_payment,
        "lease_type": app.lease_type, "customer_phone_masked": customer.phone_masked,
        "allowed_actions": workflow.allowed_actions(app.state),
        "decision": record, "offers": flows.available_offers(session, app),
        "plan": plan.offer if plan else None,
        "contract_status": contract.status if contract else None,
        "voucher_number": voucher.number if voucher else None,
        "documents": docs,
        "missing_documents": sorted(set(flows.CHECKLIST) - {d.kind for d in docs}),
        "loan_ref": booked,
    }


def _state(app: Application, loan_ref: str | None = None) -> dict:
    return {"id": app.id, "state": app.state, "loan_ref": loan_ref,
            "allowed_actions": workflow.allowed_actions(app.state)}


@blp.route("/applications", methods=["POST"])
@roles_required(Role.CONSULTANT)
@idempotent
@blp.arguments(ApplicationIn)
@blp.response(201, ApplicationDetail)
@blp.doc(security=[BEARER])
def create(body):
    """A consultant files an application for a customer found by ID number (state draft)."""
    app = flows.create_application(database.session(), services(), consultant=current_user(),
                                   data=body)
    return detail(app)


@blp.route("/applications")
@roles_required(Role.CONSULTANT, Role.CUSTOMER, Role.REVIEWER, Role.ANALYST, Role.ADMIN)
@blp.arguments(ListArgs, location="query")
@blp.response(200, ApplicationPage)
@blp.doc(security=[BEARER])
def list_applications(args):
    """Orders: a consultant sees only their own, a customer theirs, back office all."""
    query = access.visible(select(Application), current_user())
    if "state" in args:
        query = query.where(Application.state == args["state"])
    session = database.session()
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(Application.id.desc())
                           .offset((args["page"] - 1) * args["page_size"])
                           .limit(args["page_size"])).all()
    return {"items": [_summary(a) for a in rows], "page": args["page"],
            "page_size": args["page_size"], "total": total}


@blp.route("/applications/<int:application_id>")
@roles_required(Role.CONSULTANT, Role.CUSTOMER, Role.REVIEWER, Role.ANALYST, Role.ADMIN)
@blp.response(200, ApplicationDetail)
@blp.doc(security=[BEARER])
def get_application(application_id: int):
    """Order detail and decision result (the customer and the consultant see the same)."""
    return detail(access.application(application_id, current_user()))


@blp.route("/applications/<int:application_id>/history")
@roles_required(Role.CONSULTANT, Role.CUSTOMER, Role.REVIEWER, Role.ANALYST, Role.ADMIN)
@blp.response(200, TransitionOut(many=True))
@blp.doc(security=[BEARER])
def history(application_id: int):
    app = access.application(application_id, current_user())
    return database.session().scalars(select(StateTransition).where(
        StateTransition.application_id == app.id).order_by(StateTransition.id)).all()


@blp.route("/applications/<int:application_id>/authorization", methods=["POST"])
@roles_required(Role.CONSULTANT)
@blp.arguments(FileIn, location="files")
@blp.response(201, DocumentOut)
@blp.doc(security=[BEARER])
def upload_authorization(files, application_id: int):
    """The signed credit-inquiry authorisation (needed before submitting)."""
    app = access.application(application_id, current_user())
    if app.state != workflow.DRAFT:
        raise workflow.IllegalTransition(app, "upload the authorisation", app.state)
    upload = storage.read_upload(files["file"])
    session = database.session()
    doc = flows.store_document(session, services(), application=app,
                               kind=flows.AUTHORIZATION_DOC, upload=upload, user=current_user())
    session.commit()
    return doc


@blp.route("/applications/<int:application_id>/submit", methods=["POST"])
@roles_required(Role.CONSULTANT)
@blp.response(200, ApplicationDetail)
@blp.doc(security=[BEARER])
def submit(application_id: int):
    """Submit → machine decision at once → SMS to the customer."""
    app = access.application(application_id, current_user())
    flows.submit(database.session(), services(), application=app, actor=current_user())
    return detail(app)


@blp.route("/applications/<int:application_id>/plan", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(PlanIn)
@blp.response(200, ApplicationDetail)
@blp.doc(security=[BEARER])
def choose_plan(body, application_id: int):
    """The customer accepts the recommended plan or one of the alternatives."""
    app = access.application(application_id, current_user())
    flows.choose_plan(database.session(), application=app, customer_user=current_user(),
                      product_id=body["product_id"])
    return detail(app)


@blp.route("/applications/<int:application_id>/reapply", methods=["POST"])
@roles_required(Role.CUSTOMER)
@idempotent
@blp.arguments(ReapplyIn)
@blp.response(201, ReapplyOut)
@blp.doc(security=[BEARER])
def reapply(body, application_id: int):
    """Re-apply with completed information: a new application and decision linked to this."""
    app = access.application(application_id, current_user())
    new, _ = flows.reapply(database.session(), services(), application=app,
                           actor=current_user(), changes=body)
    return {"previous_id": app.id, "application": detail(new)}


@blp.route("/applications/<int:application_id>/contract", methods=["POST"])
@roles_required(Role.CONSULTANT)
@idempotent
@blp.response(201, ContractOut)
@blp.doc(security=[BEARER])
def create_contract(application_id: int):
    """Generate the loan contract through the e-signature vendor."""
    app = access.application(application_id, current_user())
    return flows.create_contract(database.session(), services(), application=app,
                                 actor=current_user())


@blp.route("/applications/<int:application_id>/contract")
@roles_required(Role.CONSULTANT, Role.CUSTOMER, Role.REVIEWER, Role.ANALYST, Role.ADMIN)
@blp.response(200, ContractOut)
@blp.doc(security=[BEARER])
def get_contract(application_id: int):
    app = access.application(application_id, current_user())
    contract = database.session().scalar(select(LoanContract).where(
        LoanContract.application_id == app.id))
    if contract is None:
        raise NotFound("no contract yet")
    return contract


@blp.route("/applications/<int:application_id>/contract/sign", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(SignIn)
@blp.response(200, ContractOut)
@blp.doc(security=[BEARER])
def sign_contract(body, application_id: int):
    """The customer signs with the code the e-signature service sent by SMS."""
    app = access.application(application_id, current_user())
    return flows.sign_contract(database.session(), services(), application=app,
                               customer_user=current_user(), **body)


@blp.route("/applications/<int:application_id>/liveness", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(SelfieIn, location="files")
@blp.response(201, VerificationOut)
@blp.doc(security=[BEARER])
def liveness(files, application_id: int):
    """Liveness before disbursement; a pass queues the disbursement review."""
    app = access.application(application_id, current_user())
    workflow.check(app, "pass_liveness")
    selfie = storage.read_upload(files["selfie"], "selfie", ("image/jpeg", "image/png"))
    return flows.application_liveness(database.session(), services(), application=app,
                                      customer_user=current_user(), selfie=selfie.content)


@blp.route("/applications/<int:application_id>/voucher")
@roles_required(Role.CONSULTANT, Role.REVIEWER, Role.ADMIN)
@blp.response(200, VoucherOut)
@blp.doc(security=[BEARER])
def get_voucher(application_id: int):
    """The disbursement voucher sent to the consultant (with its verification code)."""
    app = access.application(application_id, current_user())
    voucher = database.session().scalar(select(Voucher).where(Voucher.application_id == app.id))
    if voucher is None:
        raise NotFound("no voucher issued for this application")
    return voucher


@blp.route("/applications/<int:application_id>/pickup", methods=["POST"])
@roles_required(Role.CONSULTANT)
@blp.response(200, StateOut)
@blp.doc(security=[BEARER])
def pickup(application_id: int):
    """The customer drove the car away."""
    app = access.application(application_id, current_user())
    flows.confirm_pickup(database.session(), application=app, actor=current_user())
    return _state(app)


@blp.route("/applications/<int:application_id>/documents")
@roles_required(Role.CONSULTANT, Role.REVIEWER, Role.ANALYST, Role.ADMIN)
@blp.response(200, DocumentOut(many=True))
@blp.doc(security=[BEARER])
def documents(application_id: int):
    app = access.application(application_id, current_user())
    return database.session().scalars(select(StoredDocument).where(
        StoredDocument.application_id == app.id).order_by(StoredDocument.kind)).all()


@blp.route("/applications/<int:application_id>/documents/<string:kind>", methods=["POST"])
@roles_required(Role.CONSULTANT)
@blp.arguments(FileIn, location="files")
@blp.response(201, DocumentOut)
@blp.doc(security=[BEARER])
def upload_document(files, application_id: int, kind: str):
    """One checklist document after pickup; the last one completes the file and books the
    loan with servicing."""
    if kind not in flows.CHECKLIST:
        raise NotFound(f"unknown document {kind!r}; one of {', '.join(flows.CHECKLIST)}")
    app = access.application(application_id, current_user())
    if app.state != workflow.PICKED_UP:
        raise workflow.IllegalTransition(app, "upload documents", app.state)
    upload = storage.read_upload(files["file"])
    return flows.upload_checklist_document(database.session(), services(), application=app,
                                           kind=kind, upload=upload, actor=current_user())


@blp.route("/applications/<int:application_id>/documents/<string:kind>/mailing",
           methods=["PUT"])
@roles_required(Role.CONSULTANT, Role.REVIEWER, Role.ADMIN)
@blp.arguments(MailingIn)
@blp.response(200, DocumentOut)
@blp.doc(security=[BEARER])
def mailing(body, application_id: int, kind: str):
    """Mailing status of the paper original (pending → mailed → received)."""
    if kind not in flows.CHECKLIST:
        raise NotFound(f"unknown document {kind!r}")
    app = access.application(application_id, current_user())
    return flows.set_mailing(database.session(), application=app, kind=kind,
                             status=body["mailing_status"],
                             tracking_number=body["tracking_number"])


@blp.route("/applications/<int:application_id>/book", methods=["POST"])
@roles_required(Role.REVIEWER, Role.ADMIN)
@blp.response(200, StateOut)
@blp.doc(security=[BEARER])
def book(application_id: int):
    """Retry the hand-off to servicing for a completed file."""
    app = access.application(application_id, current_user())
    loan_ref = flows.book(database.session(), application=app, actor=current_user())
    return _state(app, loan_ref)
