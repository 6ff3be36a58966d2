"""Store-app and user-app endpoints on one application, from creation to booking."""

from __future__ import annotations

from contextlib import nullcontext

from flask import url_for
from flask_smorest import Blueprint
from marshmallow import validate

from chedaitong.db import Role
from decisioning.origination import access, applications, consent, deciding, flows, state_machine
from webapp import database, longpoll
from webapp.auth import BEARER, current_user, roles_required
from webapp.idempotency import idempotent
from webapp.numbers import AsciiFloat
from webapp.schemas import (
    ApplicationDetail,
    ApplicationIn,
    ApplicationPage,
    ConsentGrantIn,
    ConsentOut,
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
    Strict,
    TransitionOut,
    VerificationOut,
    VoucherOut,
)
from webapp.services import services
from webapp.uploads import IMAGES, read_upload

blp = Blueprint("applications", __name__, description="Loan applications (orders)")
ANYONE = (Role.CONSULTANT, Role.CUSTOMER, Role.REVIEWER, Role.ANALYST, Role.ADMIN)


def _visible(application_id: int):
    return access.application(session=database.session(), application_id=application_id,
                              user=current_user())


def _visible_with_parties(application_id: int):
    """The application and its parties' row, in one round trip (for `_detail`)."""
    return access.application_and_parties(session=database.session(),
                                          application_id=application_id, user=current_user())


def _detail(app, parties=None, documents=None) -> dict:
    return applications.detail(session=database.session(), application=app,
                               user=current_user(), parties=parties, documents=documents)


class WaitArgs(Strict):
    """``?wait=`` seconds to hold the answer for a decision still being taken (bounded)."""

    wait = AsciiFloat(load_default=0.0, validate=validate.Range(0, 30),
                        metadata={"description": "seconds to wait for the decision (0-30)"})


def _signal():
    """The queue's decided signal (`decisioning.decided`), if it has one."""
    return getattr(services().queue, "decided", None)


def _wait(app, seconds: float, woken=None) -> bool:
    """Hold the answer up to ``seconds`` until ``app`` is decided, woken by the queue's
    decided signal (``woken``: the event of a watch entered before ``app`` was read) — if a
    long-poll slot is free (`webapp.longpoll`); True once decided."""
    with longpoll.slots().granted(seconds) as granted:
        return deciding.wait_for_decision(session=database.session(), application=app,
                                          seconds=granted, signal=_signal(), woken=woken)


def _decided_or_202(app, wait: float, created: int = 200, parties=None):
    """The detail once decided (within ``wait``), else 202 with where to poll and when."""
    decided = _wait(app, wait)
    location = url_for("applications.get_application", application_id=app.id)
    if decided:
        return _detail(app, parties), created, {"Location": location}
    return _detail(app, parties), 202, {"Location": location, **longpoll.retry_after()}


@blp.route("/applications", methods=["POST"])
@roles_required(Role.CONSULTANT)
@idempotent
@blp.arguments(ApplicationIn)
@blp.response(201, ApplicationDetail)
@blp.doc(security=[BEARER])
def create(body):
    """A consultant files an application for a customer found by ID number (state draft)."""
    return _detail(applications.create(session=database.session(), store=services().store,
                                       consultant=current_user(), data=body))


@blp.route("/applications")
@roles_required(*ANYONE)
@blp.arguments(ListArgs, location="query")
@blp.response(200, ApplicationPage)
@blp.doc(security=[BEARER])
def list_applications(args):
    """Orders: a consultant sees only their own, a customer theirs, back office all."""
    session = database.session()
    rows, total = applications.page(session=session, user=current_user(),
                                    state=args.get("state"), number=args["page"],
                                    size=args["page_size"])
    return {"items": [applications.summary(session=session, application=a) for a in rows],
            "page": args["page"], "page_size": args["page_size"], "total": total}


@blp.route("/applications/<int:application_id>")
@roles_required(*ANYONE)
@blp.arguments(WaitArgs, location="query")
@blp.response(200, ApplicationDetail)
@blp.doc(security=[BEARER])
def get_application(args, application_id: int):
    """Order detail and decision result (the customer and the consultant see the same);
    ``?wait=`` holds the answer while the decision is being taken. An answer still
    ``deciding`` says when to ask again (``Retry-After``): at once when the server's
    long-poll slots are all taken."""
    if not args["wait"]:
        app, parties = _visible_with_parties(application_id)
        decided = app.state not in deciding.UNDECIDED
    else:
        signal = _signal()
        # watched before the application is read: a decision committed after that read wakes
        # the wait, so it need not read the row again before it sleeps
        with signal.watching(application_id) if signal is not None else nullcontext() as woken:
            app, parties = _visible_with_parties(application_id)
            decided = _wait(app, args["wait"], woken)
    return _detail(app, parties), 200, {} if decided else longpoll.retry_after()


@blp.route("/applications/<int:application_id>/history")
@roles_required(*ANYONE)
@blp.response(200, TransitionOut(many=True))
@blp.doc(security=[BEARER])
def history(application_id: int):
    return applications.history_view(session=database.session(),
                                     application=_visible(application_id),
                                     user=current_user())


@blp.route("/applications/<int:application_id>/authorization", methods=["POST"])
@roles_required(Role.CONSULTANT)
@blp.arguments(FileIn, location="files")
@blp.response(201, DocumentOut)
@blp.doc(security=[BEARER])
def upload_authorization(files, application_id: int):
    """The signed credit-inquiry authorisation (needed before submitting)."""
    app = _visible(application_id)
    applications.check_can_upload_authorization(app)  # before reading the file
    return applications.upload_authorization(
        session=database.session(), upload_dir=services().upload_dir, application=app,
        upload=read_upload(files["file"]), user=current_user())


@blp.route("/applications/<int:application_id>/consent", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(ConsentGrantIn)
@blp.response(201, ConsentOut)
@blp.doc(security=[BEARER])
def grant_consent(body, application_id: int):
    """The customer authorises the credit inquiries for this application (their own token;
    it also confirms the application is theirs). Needs a verified identity."""
    return consent.grant(session=database.session(), user=current_user(),
                         application_id=application_id, **body)


@blp.route("/applications/<int:application_id>/consent/revoke", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.response(200, ConsentOut(many=True))
@blp.doc(security=[BEARER])
def revoke_consent(application_id: int):
    """The customer withdraws the consent: no bureau is queried under it any more."""
    return consent.revoke(session=database.session(), user=current_user(),
                          application_id=application_id)


@blp.route("/applications/<int:application_id>/consent")
@roles_required(*ANYONE)
@blp.response(200, ConsentOut(many=True))
@blp.doc(security=[BEARER])
def consents(application_id: int):
    """The consents on file for the application (live or not)."""
    return consent.of_application(session=database.session(),
                                  application=_visible(application_id))


@blp.route("/applications/<int:application_id>/submit", methods=["POST"])
@roles_required(Role.CONSULTANT)
@blp.arguments(WaitArgs, location="query")
@blp.response(202, ApplicationDetail, description="submitted; the decision is being taken "
              "(state deciding): poll the Location (with ?wait=, after Retry-After seconds)")
@blp.alt_response(200, schema=ApplicationDetail, description="decided within ?wait")
@blp.doc(security=[BEARER])
def submit(args, application_id: int):
    """Submit: the machine decision is queued for a worker (202, state ``deciding``, a
    ``Location`` to poll); the customer gets an SMS when it is taken. ``?wait=`` seconds
    holds the answer until then (200 with the decision)."""
    app, parties = _visible_with_parties(application_id)
    # without ?wait the answer is the application as submitted: read in the submission's
    # transaction (no second one after its commit); with ?wait, after the wait
    body = flows.submit(session=database.session(), services=services(), application=app,
                        actor=current_user(),
                        answer=None if args["wait"] else lambda docs: _detail(app, parties, docs))
    if body is None:
        return _decided_or_202(app, args["wait"], parties=parties)
    return body, 202, {"Location": url_for("applications.get_application",
                                           application_id=app.id)}


@blp.route("/applications/<int:application_id>/plan", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(PlanIn)
@blp.response(200, ApplicationDetail)
@blp.doc(security=[BEARER])
def choose_plan(body, application_id: int):
    """The customer accepts the recommended plan or one of the alternatives."""
    app = _visible(application_id)
    flows.choose_plan(session=database.session(), application=app,
                      customer_user=current_user(), product_id=body["product_id"])
    return _detail(app)


@blp.route("/applications/<int:application_id>/reapply", methods=["POST"])
@roles_required(Role.CUSTOMER)
@idempotent
@blp.arguments(WaitArgs, location="query")
@blp.arguments(ReapplyIn)
@blp.response(201, ReapplyOut)
@blp.doc(security=[BEARER])
def reapply(args, body, application_id: int):
    """Re-apply with completed information: a new application linked to this, submitted
    (its decision queued; ``?wait=`` seconds waits for it)."""
    app = _visible(application_id)
    new = flows.reapply(session=database.session(), services=services(), application=app,
                        actor=current_user(), changes=body)
    decided = _wait(new, args["wait"])
    return ({"previous_id": app.id, "application": _detail(new)}, 201,
            {} if decided else longpoll.retry_after())


@blp.route("/applications/<int:application_id>/contract", methods=["POST"])
@roles_required(Role.CONSULTANT)
@idempotent
@blp.response(201, ContractOut)
@blp.doc(security=[BEARER])
def create_contract(application_id: int):
    """Generate the loan contract through the e-signature vendor."""
    return flows.create_contract(session=database.session(), services=services(),
                                 application=_visible(application_id), actor=current_user())


@blp.route("/applications/<int:application_id>/contract")
@roles_required(*ANYONE)
@blp.response(200, ContractOut)
@blp.doc(security=[BEARER])
def get_contract(application_id: int):
    return applications.contract_of(session=database.session(),
                                    application=_visible(application_id))


@blp.route("/applications/<int:application_id>/contract/sign", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(SignIn)
@blp.response(200, ContractOut)
@blp.doc(security=[BEARER])
def sign_contract(body, application_id: int):
    """The customer signs with the code the e-signature service sent by SMS."""
    return flows.sign_contract(session=database.session(), services=services(),
                               application=_visible(application_id),
                               customer_user=current_user(), **body)


@blp.route("/applications/<int:application_id>/liveness", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(SelfieIn, location="files")
@blp.response(201, VerificationOut)
@blp.doc(security=[BEARER])
def liveness(files, application_id: int):
    """Liveness before disbursement; a pass queues the disbursement review."""
    app = _visible(application_id)
    state_machine.check(app, "pass_liveness")  # before reading the file
    selfie = read_upload(files["selfie"], "selfie", IMAGES)
    return flows.application_liveness(session=database.session(), services=services(),
                                      application=app, customer_user=current_user(),
                                      selfie=selfie.content)


@blp.route("/applications/<int:application_id>/voucher")
@roles_required(Role.CONSULTANT, Role.REVIEWER, Role.ADMIN)
@blp.response(200, VoucherOut)
@blp.doc(security=[BEARER])
def get_voucher(application_id: int):
    """The disbursement voucher sent to the consultant; its verification code only to the
    consultant (reviewers and admins see the voucher without it: whoever approved the
    disbursement cannot also present the voucher)."""
    return applications.voucher_view(session=database.session(),
                                     application=_visible(application_id),
                                     user=current_user())


@blp.route("/applications/<int:application_id>/pickup", methods=["POST"])
@roles_required(Role.CONSULTANT)
@blp.response(200, StateOut)
@blp.doc(security=[BEARER])
def pickup(application_id: int):
    """The customer drove the car away."""
    app = _visible(application_id)
    flows.confirm_pickup(session=database.session(), application=app, actor=current_user())
    return applications.state_view(app)


@blp.route("/applications/<int:application_id>/documents")
@roles_required(Role.CONSULTANT, Role.REVIEWER, Role.ANALYST, Role.ADMIN)
@blp.response(200, DocumentOut(many=True))
@blp.doc(security=[BEARER])
def documents(application_id: int):
    return applications.documents_of(session=database.session(),
                                     application=_visible(application_id))


@blp.route("/applications/<int:application_id>/documents/<string:kind>", methods=["POST"])
@roles_required(Role.CONSULTANT)
@blp.arguments(FileIn, location="files")
@blp.response(201, DocumentOut)
@blp.doc(security=[BEARER])
def upload_document(files, application_id: int, kind: str):
    """One checklist document after pickup; the last one completes the file and books the
    loan with servicing."""
    applications.check_checklist_kind(kind)
    app = _visible(application_id)
    flows.check_can_upload_checklist(app)  # before reading the file
    return flows.upload_checklist_document(session=database.session(), services=services(),
                                           application=app, kind=kind,
                                           upload=read_upload(files["file"]),
                                           actor=current_user())


@blp.route("/applications/<int:application_id>/documents/<string:kind>/mailing",
           methods=["PUT"])
@roles_required(Role.CONSULTANT, Role.REVIEWER, Role.ADMIN)
@blp.arguments(MailingIn)
@blp.response(200, DocumentOut)
@blp.doc(security=[BEARER])
def mailing(body, application_id: int, kind: str):
    """Mailing status of the paper original: mailed by the dealer's consultant, then
    received by the back office (a reviewer); no step back."""
    applications.check_mailing_kind(kind)  # before looking the application up
    return applications.set_mailing(session=database.session(),
                                    application=_visible(application_id), kind=kind,
                                    status=body["mailing_status"],
                                    tracking_number=body["tracking_number"],
                                    user=current_user())


@blp.route("/applications/<int:application_id>/book", methods=["POST"])
@roles_required(Role.REVIEWER, Role.ADMIN)
@blp.response(200, StateOut)
@blp.doc(security=[BEARER])
def book(application_id: int):
    """Retry the hand-off to servicing for a completed file."""
    app = _visible(application_id)
    loan_ref = flows.book(session=database.session(), application=app, actor=current_user())
    return applications.state_view(app, loan_ref)
