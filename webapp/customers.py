"""User-app endpoints: registration, personal information, checks, consent, device uploads."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound, UnprocessableEntity

from chedaitong.db import Customer, RawEvent, Role
from chedaitong.db.origination import Verification
from featurestore.uploads import UploadRejected
from webapp import database, flows, storage
from webapp.auth import BEARER, STAFF, current_user, roles_required
from webapp.idempotency import idempotent
from webapp.schemas import (
    ConsentIn,
    CustomerOut,
    DeviceUploadIn,
    DeviceUploadOut,
    FourElementIn,
    MeOut,
    ProfileIn,
    RegisterIn,
    SelfieIn,
    TokenOut,
    VerificationOut,
)
from webapp.services import services

blp = Blueprint("customers", __name__, description="User app: the customer's own data")
SOURCES = ("gps", "sms", "photo", "contact", "app")


def _summary(customer: Customer) -> dict:
    session = database.session()
    checks = {}
    for v in session.scalars(select(Verification).where(
            Verification.customer_id == customer.id).order_by(Verification.id)):
        checks[v.kind] = v.passed
    uploads = dict(session.execute(select(RawEvent.source, func.count()).where(
        RawEvent.customer_id == customer.id).group_by(RawEvent.source)).all())
    return {**flows.masked_profile(services(), customer), "checks": checks, "uploads": uploads}


@blp.route("/customers/register", methods=["POST"])
@blp.arguments(RegisterIn)
@blp.response(201, TokenOut)
def register(body):
    """Register in the user app; the answer carries the customer's bearer token (once)."""
    user, token = flows.register_user(database.session(), **body)
    return {"user_id": user.id, "role": user.role.value, "token": token}


@blp.route("/me")
@blp.response(200, MeOut)
@blp.doc(security=[BEARER])
def me():
    return current_user()


@blp.route("/customers/me/profile", methods=["PUT"])
@roles_required(Role.CUSTOMER)
@blp.arguments(ProfileIn)
@blp.response(201, CustomerOut)
@blp.doc(security=[BEARER])
def complete_profile(body):
    """Complete personal information on first use (encrypted; shown masked from then on)."""
    customer = flows.complete_profile(database.session(), services(), user=current_user(),
                                      data=body)
    return _summary(customer)


@blp.route("/customers/me")
@roles_required(Role.CUSTOMER)
@blp.response(200, CustomerOut)
@blp.doc(security=[BEARER])
def my_profile():
    return _summary(flows.customer_of(database.session(), current_user()))


@blp.route("/customers/<int:customer_id>")
@roles_required(*STAFF)
@blp.response(200, CustomerOut)
@blp.doc(security=[BEARER])
def customer_for_staff(customer_id: int):
    """Masked profile, check results and upload counts: staff never see raw device data."""
    customer = database.session().get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    return _summary(customer)


@blp.route("/customers/me/id-check", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.response(201, VerificationOut)
@blp.doc(security=[BEARER])
def id_check():
    """Check the ID card against the authority (the person exists)."""
    session = database.session()
    return flows.verify_id_card(session, services(),
                                customer=flows.customer_of(session, current_user()))


@blp.route("/customers/me/four-element", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(FourElementIn)
@blp.response(201, VerificationOut)
@blp.doc(security=[BEARER])
def four_element(body):
    """Bank card four-element verification; only the card's last four digits are kept."""
    session = database.session()
    return flows.verify_four_elements(session, services(),
                                      customer=flows.customer_of(session, current_user()),
                                      **body)


@blp.route("/customers/me/liveness", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(SelfieIn, location="files")
@blp.response(201, VerificationOut)
@blp.doc(security=[BEARER])
def liveness(files):
    """Liveness / face comparison at registration (the applicant is that person)."""
    selfie = storage.read_upload(files["selfie"], "selfie", ("image/jpeg", "image/png"))
    session = database.session()
    v = flows.check_liveness(session, services(),
                             customer=flows.customer_of(session, current_user()),
                             selfie=selfie.content)
    session.commit()
    return v


@blp.route("/customers/me/credit-authorization", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(ConsentIn)
@blp.response(201, VerificationOut)
@blp.doc(security=[BEARER])
def credit_authorization(body):
    """The customer's consent to credit inquiries (PBOC and third-party bureaus)."""
    session = database.session()
    return flows.authorize_credit_inquiry(
        session, customer=flows.customer_of(session, current_user()),
        text_version=body["text_version"])


@blp.route("/customers/me/device/<string:source>", methods=["POST"])
@roles_required(Role.CUSTOMER)
@idempotent
@blp.arguments(DeviceUploadIn)
@blp.response(201, DeviceUploadOut)
@blp.doc(security=[BEARER])
def device_upload(body, source: str):
    """App-collected data (gps, sms, photo, contact, app): validated, encrypted, reduced to
    facts. All or nothing: a bad record rejects the batch with its index, field and reason."""
    if source not in SOURCES:
        raise NotFound(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
    session = database.session()
    customer = flows.customer_of(session, current_user())
    try:
        result = services().store.ingest_device(session, customer, source, body["records"])
    except UploadRejected as exc:
        session.rollback()
        err = UnprocessableEntity(str(exc))
        err.data = {"messages": {"json": {"records": exc.errors}}}
        raise err from None
    session.commit()
    return {"source": source, "stored": result.stored, "duplicates": result.duplicates}
