"""User-app endpoints: registration, personal information, checks, consent, device uploads."""

from __future__ import annotations

from flask_smorest import Blueprint

from chedaitong.db import Role
from decisioning.origination import accounts, consent, customers, identity
from webapp import database
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
from webapp.uploads import IMAGES, read_upload

blp = Blueprint("customers", __name__, description="User app: the customer's own data")


def _summary(customer) -> dict:
    return customers.summary(session=database.session(), store=services().store,
                             customer=customer)


def _me():
    return customers.customer_of(session=database.session(), user=current_user())


@blp.route("/customers/register", methods=["POST"])
@blp.arguments(RegisterIn)
@blp.response(201, TokenOut)
def register(body):
    """Register in the user app; the answer carries the customer's bearer token (once)."""
    user, token = accounts.register_user(session=database.session(), **body)
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
    return _summary(customers.complete_profile(session=database.session(),
                                               store=services().store, user=current_user(),
                                               data=body))


@blp.route("/customers/me")
@roles_required(Role.CUSTOMER)
@blp.response(200, CustomerOut)
@blp.doc(security=[BEARER])
def my_profile():
    return _summary(_me())


@blp.route("/customers/<int:customer_id>")
@roles_required(*STAFF)
@blp.response(200, CustomerOut)
@blp.doc(security=[BEARER])
def customer_for_staff(customer_id: int):
    """Masked profile, check results and upload counts: staff never see raw device data."""
    return _summary(customers.get(session=database.session(), customer_id=customer_id))


@blp.route("/customers/me/id-check", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.response(201, VerificationOut)
@blp.doc(security=[BEARER])
def id_check():
    """Check the ID card against the authority (the person exists)."""
    return identity.verify_id_card(session=database.session(), services=services(),
                                   customer=_me())


@blp.route("/customers/me/four-element", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(FourElementIn)
@blp.response(201, VerificationOut)
@blp.doc(security=[BEARER])
def four_element(body):
    """Bank card four-element verification; only the card's last four digits are kept."""
    return identity.verify_four_elements(session=database.session(), services=services(),
                                         customer=_me(), **body)


@blp.route("/customers/me/liveness", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(SelfieIn, location="files")
@blp.response(201, VerificationOut)
@blp.doc(security=[BEARER])
def liveness(files):
    """Liveness / face comparison at registration (the applicant is that person)."""
    selfie = read_upload(files["selfie"], "selfie", IMAGES)
    return identity.registration_liveness(session=database.session(), services=services(),
                                          customer=_me(), selfie=selfie.content)


@blp.route("/customers/me/credit-authorization", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(ConsentIn)
@blp.response(201, VerificationOut)
@blp.doc(security=[BEARER])
def credit_authorization(body):
    """The customer's consent to credit inquiries (PBOC and third-party bureaus)."""
    return consent.authorize_credit_inquiry(session=database.session(), customer=_me(),
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
    customers.check_source(source)  # before looking the customer up
    return customers.upload_device_data(session=database.session(), store=services().store,
                                        customer=_me(), source=source,
                                        records=body["records"])
