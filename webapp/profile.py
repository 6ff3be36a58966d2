"""User app: updating personal information (emergency contacts included) and the ID-card
photos."""

from __future__ import annotations

from flask_smorest import Blueprint

from chedaitong.db import Role
from decisioning.origination import customers, idcard, profile
from webapp import database
from webapp.auth import BEARER, current_user, roles_required
from webapp.partner_schemas import IdCardIn, ProfileChangeOut, ProfilePatch, ProfileUpdateOut
from webapp.schemas import VerificationOut
from webapp.services import services
from webapp.uploads import IMAGES, read_upload

blp = Blueprint("profile", __name__, description="User app: profile updates and ID-card photos")


def _me():
    return customers.customer_of(session=database.session(), user=current_user())


@blp.route("/customers/me/profile", methods=["PATCH"])
@roles_required(Role.CUSTOMER)
@blp.arguments(ProfilePatch)
@blp.response(200, ProfileUpdateOut)
@blp.alt_response(409, description="An application is being decided or carried out")
@blp.doc(security=[BEARER])
def update_profile(body):
    """Change income, phone, home or emergency contacts: before submitting, after a decision
    (to re-apply) and after booking. Each change is kept in the history."""
    store, customer = services().store, _me()
    changed = profile.update(session=database.session(), store=store, customer=customer,
                             actor=current_user(), changes=body)
    return {"changed": changed, "emergency_contacts": profile.contacts_masked(store, customer)}


@blp.route("/customers/me/profile/history")
@roles_required(Role.CUSTOMER)
@blp.response(200, ProfileChangeOut(many=True))
@blp.doc(security=[BEARER])
def profile_history():
    """Which fields changed when (the previous values stay encrypted)."""
    return profile.history(database.session(), _me())


@blp.route("/customers/me/id-card", methods=["POST"])
@roles_required(Role.CUSTOMER)
@blp.arguments(IdCardIn, location="files")
@blp.response(201, VerificationOut)
@blp.doc(security=[BEARER])
def id_card(files):
    """Photos of both sides of the ID card: kept encrypted, checked by the ID-card vendor
    with the name and number; the result is the customer's ID-card check."""
    customer = _me()  # before reading the files
    front = read_upload(files.get("front"), "front", IMAGES)
    back = read_upload(files.get("back"), "back", IMAGES)
    return idcard.upload_and_verify(session=database.session(), services=services(),
                                    customer=customer, front=front, back=back)
