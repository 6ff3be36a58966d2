"""Request and response schemas (marshmallow): what /openapi.json documents."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import RAISE, Schema, fields, post_load, validate, validates_schema
from marshmallow.exceptions import ValidationError

from chedaitong import idnumber
from chedaitong.clock import lender_today
from decisioning.guidance import customer_view
from decisioning.origination import applications, state_machine
from webapp.numbers import AsciiDecimal, AsciiFloat, AsciiInteger

MONEY = {"as_string": True, "places": 2, "allow_nan": False}
#: what an application may finance a car at, and so what a dealer's stock may list
VEHICLE_PRICE = validate.Range(10_000, 5_000_000)


def _id_number(value: str) -> None:
    """GB 11643 on every ID number input: format, region, birth date, check character."""
    problem = idnumber.id_number_problem(value)
    if problem:
        raise ValidationError(problem)


ID_NUMBER = [validate.Regexp(idnumber.FORMAT.pattern, error="must be 18 characters: 17 digits "
                             "and a digit or X"), _id_number]
PHONE = validate.Regexp(idnumber.MOBILE.pattern,
                        error="must be an 11-digit mainland mobile number (1, then 3-9)")


class Strict(Schema):
    class Meta:
        unknown = RAISE


class SelfieIn(Schema):
    selfie = Upload(required=True, metadata={"description": "JPEG or PNG face image"})


class FileIn(Schema):
    file = Upload(required=True, metadata={"description": "PDF, JPEG or PNG, at most 10 MB"})


class RegisterIn(Strict):
    username = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_.-]{3,64}$", error="3-64 letters, digits, _ . -"))
    display_name = fields.String(required=True, validate=validate.Length(1, 100))


class TokenOut(Schema):
    user_id = fields.Integer()
    role = fields.String()
    token = fields.String(allow_none=True, metadata={
        "description": "shown once; send as Bearer token (null in an idempotent replay)"})
    secret_note = fields.String(metadata={
        "description": "in an idempotent replay: the token was issued with the first answer"})


class MeOut(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.Function(lambda u: u.role.value)
    dealer_id = fields.Integer(allow_none=True)


class ProfileIn(Strict):
    name = fields.String(required=True, validate=validate.Length(1, 50))
    id_number = fields.String(required=True, validate=ID_NUMBER)
    phone = fields.String(required=True, validate=PHONE)
    birth_date = fields.Date(required=True)
    home_lat = AsciiFloat(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    home_lon = AsciiFloat(required=True, allow_nan=False, validate=validate.Range(-180, 180))
    home_city = fields.String(load_default="", validate=validate.Length(max=64))
    home_province = fields.String(load_default="", validate=validate.Length(max=64))
    monthly_income = AsciiFloat(load_default=None, allow_none=True, allow_nan=False,
                                  validate=validate.Range(0, 10_000_000))
    device_id = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(1, 64))

    @validates_schema
    def _birth_date_matches_the_id(self, data, **_):
        if "birth_date" in data:
            problem = idnumber.birth_date_problem(data["birth_date"], lender_today(),
                                                  data.get("id_number"))
            if problem:
                raise ValidationError(problem, field_name="birth_date")


class CustomerOut(Schema):
    id = fields.Integer()
    name_masked = fields.String()
    id_number_masked = fields.String()
    phone_masked = fields.String(allow_none=True)
    home_city = fields.String()
    home_province = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.Boolean(),
                         metadata={"description": "latest result of each check"})
    uploads = fields.Dict(keys=fields.String(), values=fields.Integer(),
                          metadata={"description": "records stored per source (counts only)"})


class FourElementIn(Strict):
    card_number = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9]{12,19}$", error="must be 12-19 digits"))
    phone = fields.String(required=True, validate=PHONE)


class ConsentIn(Strict):
    consent = fields.Boolean(required=True, validate=validate.Equal(True, error="must be true"))
    text_version = fields.String(load_default="v1", validate=validate.Length(1, 32))


class ConsentGrantIn(Strict):
    text_version = fields.String(load_default=None, validate=validate.Length(1, 32),
                                 metadata={"description": "the authorisation text shown "
                                           "(required; checked after who may consent)"})
    purpose = fields.String(load_default="loan_application", validate=validate.OneOf(
        ["loan_application", "post_loan_monitoring"]), metadata={
        "description": "post_loan_monitoring is refused (422): signing the contract records it"})
    bureaus = fields.List(fields.String(validate=validate.OneOf(["pboc", "thirdparty"])),
                          load_default=["pboc", "thirdparty"], validate=validate.Length(1, 2))


class ConsentOut(Schema):
    id = fields.Integer()
    application_id = fields.Integer()
    purpose = fields.String()
    bureaus = fields.List(fields.String())
    text_version = fields.String()
    document_sha256 = fields.String()
    granted_at = fields.DateTime()
    expires_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    superseded_at = fields.DateTime(allow_none=True, metadata={
        "description": "replaced by a newer consent of the same purpose"})


class VerificationOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    passed = fields.Boolean()
    score = fields.Float(allow_none=True)
    detail = fields.String()
    at = fields.DateTime()


class DeviceUploadIn(Strict):
    records = fields.List(fields.Dict(), required=True,
                          validate=validate.Length(1, 5000))


class DeviceUploadOut(Schema):
    source = fields.String()
    stored = fields.Integer()
    duplicates = fields.Integer()


class ApplicationIn(Strict):
    id_number = fields.String(required=True, validate=ID_NUMBER,
                              metadata={"description": "finds the registered customer"})
    vehicle_brand = fields.String(required=True, validate=validate.Length(1, 64))
    vehicle_model = fields.String(required=True, validate=validate.Length(1, 64))
    vehicle_price = AsciiDecimal(required=True, validate=VEHICLE_PRICE,
                                   **MONEY)
    lease_type = fields.String(
        required=True, validate=validate.OneOf(["direct_lease", "leaseback", "direct"]),
        metadata={"description": "direct_lease or leaseback (the products' lease types); "
                                 "'direct' is accepted as direct_lease"})
    down_payment = AsciiDecimal(required=True, validate=validate.Range(0, 5_000_000), **MONEY)
    loan_amount = AsciiDecimal(required=True, validate=validate.Range(1_000, 5_000_000),
                                 **MONEY)
    term_months = fields.Integer(required=True, strict=True,
                                 validate=validate.OneOf([12, 18, 24, 36, 48, 60]))
    vin = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^[A-Za-z0-9-]{6,32}$", error="6-32 letters, digits or -"),
        metadata={"description": "VIN, or the dealer's stock id when no VIN yet"})

    @post_load
    def _canonical_lease_type(self, data, **kwargs):
        if data.get("lease_type") == "direct":  # the products (rules/products.yaml) say so
            data["lease_type"] = "direct_lease"
        return data


class ReapplyIn(Strict):
    vehicle_brand = fields.String(validate=validate.Length(1, 64))  # a guidance option's car
    vehicle_model = fields.String(validate=validate.Length(1, 64))
    vehicle_price = AsciiDecimal(validate=VEHICLE_PRICE, **MONEY)
    down_payment = AsciiDecimal(validate=validate.Range(0, 5_000_000), **MONEY)
    loan_amount = AsciiDecimal(validate=validate.Range(1_000, 5_000_000), **MONEY)
    term_months = fields.Integer(strict=True, validate=validate.OneOf([12, 18, 24, 36, 48, 60]))
    consent_text_version = fields.String(validate=validate.Length(1, 32), metadata={
        "description": "the credit-inquiry consent for the new application (required)"})


class ListArgs(Strict):
    state = fields.String(validate=validate.OneOf(state_machine.STATES))
    page = AsciiInteger(load_default=1, validate=validate.Range(1, 100_000))
    page_size = AsciiInteger(load_default=20, validate=validate.Range(1, 100))


class ReasonOut(Schema):
    source = fields.String()
    code = fields.String(attribute="reason_code")
    reason_zh = fields.String()
    reason_en = fields.String()


class DecisionOut(Schema):
    id = fields.Integer()
    outcome = fields.String()
    decided_at = fields.DateTime()
    reasons = fields.List(fields.Nested(ReasonOut))
    offers = fields.List(fields.Dict())
    evidence_gaps = fields.List(fields.String())
    device_risk_signals = fields.Boolean(metadata={
        "description": "staff only: device-derived signals apply (their values never shown)"})
    guidance = fields.Method("_guidance", metadata={
        "description": "re-apply options for a decline or referral: actionable words, the "
                       "resulting terms (for POST /applications/{id}/reapply) and plan"})

    def _guidance(self, record) -> list[dict]:
        raw = record.get("guidance") if isinstance(record, dict) else getattr(
            record, "guidance", None)
        return customer_view(raw)


class ApplicationSummary(Schema):
    id = fields.Integer()
    ref = fields.String()
    state = fields.String()
    vehicle_brand = fields.String()
    vehicle_model = fields.String()
    loan_amount = fields.Decimal(**MONEY)
    term_months = fields.Integer()
    customer_id_number_masked = fields.String(allow_none=True)
    customer_confirmed = fields.Boolean(metadata={
        "description": "the customer has confirmed it (granted consent) in the user app"})
    submitted_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class ApplicationPage(Schema):
    items = fields.List(fields.Nested(ApplicationSummary))
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


class DocumentOut(Schema):
    kind = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    mailing_status = fields.String()
    tracking_number = fields.String(allow_none=True)
    uploaded_at = fields.DateTime()


class ApplicationDetail(ApplicationSummary):
    dealer_code = fields.String()
    dealer_name = fields.String()
    consultant_id = fields.Integer(allow_none=True)
    previous_id = fields.Integer(allow_none=True)
    vehicle_price = fields.Decimal(**MONEY)
    down_payment = fields.Decimal(**MONEY)
    lease_type = fields.String()
    vin = fields.String(allow_none=True)
    customer_phone_masked = fields.String(allow_none=True)
    allowed_actions = fields.List(fields.String())
    decision = fields.Nested(DecisionOut, allow_none=True)
    offers = fields.List(fields.Dict())
    plan = fields.Dict(allow_none=True)
    contract_status = fields.String(allow_none=True)
    voucher_number = fields.String(allow_none=True)
    documents = fields.List(fields.Nested(DocumentOut))
    missing_documents = fields.List(fields.String())
    loan_ref = fields.String(allow_none=True)


class TransitionOut(Schema):
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    actor_id = fields.Integer(allow_none=True)
    note = fields.String()
    at = fields.DateTime()


class PlanIn(Strict):
    product_id = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(1, 64),
                               metadata={"description": "omit for the recommended plan"})


class ReapplyOut(Schema):
    previous_id = fields.Integer()
    application = fields.Nested(ApplicationDetail)


class ContractOut(Schema):
    vendor_contract_id = fields.String(
        allow_none=True, metadata={"description": "null while the contract is being sent "
                                                  "to the e-signature service (status sending)"})
    status = fields.String()
    document_sha256 = fields.String()
    signed_sha256 = fields.String(allow_none=True)
    document_text = fields.String()
    created_at = fields.DateTime()
    signed_at = fields.DateTime(allow_none=True)


class SignIn(Strict):
    verification_code = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9]{6}$", error="must be the 6-digit code sent by SMS"))


class ReviewIn(Strict):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    notes = fields.String(required=True, validate=validate.Length(1, 2000))
    annual_rate = AsciiDecimal(validate=validate.Range(0, 0.36), places=4, as_string=True,
                                 metadata={"description": "a manual plan for a referral "
                                           "the machine found no product for"})
    repayment_method = fields.String(validate=validate.OneOf(
        ["equal_installment", "equal_principal"]))


class ReviewOut(Schema):
    id = fields.Integer()
    application_id = fields.Integer()
    kind = fields.String()
    decision = fields.String()
    notes = fields.String()
    at = fields.DateTime()
    state = fields.String()
    voucher_number = fields.String(allow_none=True)


class QueueArgs(Strict):
    kind = fields.String(validate=validate.OneOf(["credit", "disbursement"]))


class QueueItem(ApplicationSummary):
    queue = fields.String()
    outcome = fields.String(allow_none=True)


class VoucherOut(Schema):
    number = fields.String()
    verification_code = fields.String(allow_none=True, metadata={
        "description": "the consultant's only (null for reviewers and admins)"})
    amount = fields.Decimal(**MONEY)
    issued_at = fields.DateTime()
    document_text = fields.String()


class VoucherCheckIn(Strict):
    number = fields.String(required=True, validate=validate.Length(1, 32))
    verification_code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{8}$"))


class VoucherCheckOut(Schema):
    valid = fields.Boolean()
    application_ref = fields.String()
    amount = fields.Decimal(**MONEY)
    dealer_code = fields.String()
    issued_at = fields.DateTime()


class MailingIn(Strict):
    mailing_status = fields.String(required=True,
                                   validate=validate.OneOf(applications.MAILING_STATES))
    tracking_number = fields.String(load_default=None, allow_none=True,
                                    validate=validate.Length(1, 64))

    @validates_schema
    def _tracking_when_mailed(self, data, **_):
        if data["mailing_status"] == "mailed" and not data.get("tracking_number"):
            raise ValidationError("required when mailed", field_name="tracking_number")


class StateOut(Schema):
    id = fields.Integer()
    state = fields.String()
    allowed_actions = fields.List(fields.String())
    loan_ref = fields.String(allow_none=True)


class StaffIn(Strict):
    username = RegisterIn._declared_fields["username"]
    display_name = fields.String(required=True, validate=validate.Length(1, 100))
    role = fields.String(required=True, validate=validate.OneOf(
        ["consultant", "reviewer", "analyst", "collector", "admin", "payment_channel",
         "vehicle_tracker"]))
    dealer_code = fields.String(load_default=None, allow_none=True)


class StaffAccountOut(Schema):
    user_id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    dealer_id = fields.Integer(allow_none=True)
    active = fields.Boolean()
    activation = fields.String(allow_none=True, metadata={
        "description": "pending (awaits a second admin) | activated | rejected; null: "
                       "an account that needed no activation"})
    created_by = fields.Integer(allow_none=True)
    created_by_username = fields.String(allow_none=True)
    created_at = fields.DateTime()
    activated_by = fields.Integer(allow_none=True)
    activated_at = fields.DateTime(allow_none=True)


class ActivationIn(Strict):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]),
                             metadata={"description": "approve: activate the account"})
    note = fields.String(load_default="", validate=validate.Length(max=500))


class ActivationOut(StaffAccountOut):
    token = fields.String(allow_none=True, metadata={
        "description": "the new user's first token, shown once to the activating admin "
                       "(null when rejected, and in an idempotent replay)"})
    secret_note = fields.String(metadata={
        "description": "in an idempotent replay: the token was issued with the first answer"})


class RulesOut(Schema):
    versions = fields.Dict(keys=fields.String(), values=fields.String())
