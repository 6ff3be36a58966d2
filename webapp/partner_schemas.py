"""Schemas of the partner-facing and collections endpoints: dealer onboarding, payouts,
profile updates, ID-card photos, the collector's worklist and the ingest APIs."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from chedaitong.db.base import MAX_ID
from decisioning import collections
from decisioning.origination import payouts
from webapp.numbers import AsciiDecimal, AsciiFloat, AsciiInteger
from webapp.schemas import MONEY, PHONE, VEHICLE_PRICE, RegisterIn, Strict

CODE = validate.Regexp(r"^[A-Z0-9][A-Z0-9_-]{1,31}$", error="2-32 capitals, digits, _ or -")
#: ASCII digits (as every digit pattern here: `chedaitong.idnumber`); the pages check it too
ACCOUNT = validate.Regexp(r"^[0-9]{8,30}$", error="must be 8-30 digits")


def _dates_in_order(data: dict) -> None:
    start, end = data.get("effective_from"), data.get("effective_to")
    if start and end and end < start:
        raise ValidationError("must not be before effective_from", field_name="effective_to")


# ---- dealers ------------------------------------------------------------------------------
class DealerIn(Strict):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    city = fields.String(required=True, validate=validate.Length(1, 64))
    province = fields.String(required=True, validate=validate.Length(1, 64))
    lat = AsciiFloat(load_default=None, allow_none=True, allow_nan=False,
                       validate=validate.Range(-90, 90))
    lon = AsciiFloat(load_default=None, allow_none=True, allow_nan=False,
                       validate=validate.Range(-180, 180))
    agreement_ref = fields.String(required=True, validate=validate.Length(3, 64))
    effective_from = fields.Date(required=True)
    effective_to = fields.Date(load_default=None, allow_none=True)
    bank_name = fields.String(required=True, validate=validate.Length(1, 100))
    account_name = fields.String(required=True, validate=validate.Length(1, 200))
    account_number = fields.String(required=True, validate=ACCOUNT)

    @validates_schema
    def _dates(self, data, **_):
        _dates_in_order(data)


class DealerPatch(Strict):
    status = fields.String(validate=validate.OneOf(["active", "suspended"]))
    reason = fields.String(validate=validate.Length(max=500))
    agreement_ref = fields.String(validate=validate.Length(3, 64), metadata={
        "description": "only to put a first agreement on file for a dealer without one"})
    effective_from = fields.Date()
    effective_to = fields.Date(allow_none=True)
    bank_name = fields.String(validate=validate.Length(1, 100))
    account_name = fields.String(validate=validate.Length(1, 200))
    account_number = fields.String(validate=ACCOUNT)

    @validates_schema
    def _dates(self, data, **_):
        if not data:
            raise ValidationError("send at least one field to change", field_name="_schema")
        _dates_in_order(data)


class ConsultantBrief(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    active = fields.Boolean()


class AccountChangeArgs(Strict):
    status = fields.String(load_default="pending",
                           validate=validate.OneOf(["pending", "approved", "rejected"]))


class AccountChangeOut(Schema):
    id = fields.Integer()
    dealer_id = fields.Integer()
    kind = fields.String(metadata={"description": "first (a new dealer's) | change"})
    status = fields.String(metadata={"description": "pending | approved | rejected"})
    bank_name = fields.String()
    account_name = fields.String()
    account_masked = fields.String(metadata={"description": "never the full number"})
    reason = fields.String()
    requested_by = fields.Integer()
    requested_by_username = fields.String(allow_none=True)
    requested_at = fields.DateTime()
    decided_by = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)


class AccountDecisionIn(Strict):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    note = fields.String(load_default="", validate=validate.Length(max=500))


class DealerOut(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    city = fields.String()
    province = fields.String()
    status = fields.String(metadata={"description": "active | suspended | not_yet_effective | "
                                                    "expired: only active dealers file"})
    suspended = fields.Boolean()
    agreement_ref = fields.String(allow_none=True)
    effective_from = fields.Date(allow_none=True)
    effective_to = fields.Date(allow_none=True)
    bank_name = fields.String(allow_none=True)
    account_name = fields.String(allow_none=True)
    account_masked = fields.String(allow_none=True, metadata={
        "description": "the approved payout account (null until a second admin approves one)"})
    pending_account_change = fields.Nested(AccountChangeOut, allow_none=True, metadata={
        "description": "a requested payout account awaiting another admin's approval"})
    consultants = fields.List(fields.Nested(ConsultantBrief))


class StockVehicleIn(Strict):
    vehicle_brand = fields.String(required=True, validate=validate.Length(1, 64))
    vehicle_model = fields.String(required=True, validate=validate.Length(1, 64))
    price = AsciiDecimal(required=True, validate=VEHICLE_PRICE,
                           metadata={"description": "list price, CNY, whole cents"}, **MONEY)
    active = fields.Boolean(load_default=True,
                            metadata={"description": "false = taken off sale"})


class StockVehicleOut(Schema):
    id = fields.Integer()
    dealer_id = fields.Integer()
    vehicle_brand = fields.String()
    vehicle_model = fields.String()
    price = fields.Decimal(**MONEY)
    active = fields.Boolean()
    updated_at = fields.DateTime()


class ConsultantIn(Strict):
    username = RegisterIn._declared_fields["username"]
    display_name = fields.String(required=True, validate=validate.Length(1, 100))


class ConsultantActiveIn(Strict):
    active = fields.Boolean(required=True)


class ConsultantOut(ConsultantBrief):
    dealer_id = fields.Integer()
    token = fields.String(allow_none=True, metadata={
        "description": "on invitation only, shown once (null in an idempotent replay)"})
    secret_note = fields.String(metadata={
        "description": "in an idempotent replay: the token was issued with the first answer"})


class AuditArgs(Strict):
    target_kind = fields.String(validate=validate.OneOf(["dealer", "user", "payout",
                                                         "payout_batch"]))
    target_id = AsciiInteger(validate=validate.Range(1, MAX_ID))


class AuditOut(Schema):
    id = fields.Integer()
    actor_id = fields.Integer(allow_none=True)
    action = fields.String()
    target_kind = fields.String()
    target_id = fields.Integer()
    detail = fields.Dict()
    at = fields.DateTime()


# ---- payouts ------------------------------------------------------------------------------
class PayoutArgs(Strict):
    status = fields.String(validate=validate.OneOf(payouts.STATUSES))


class PayoutOut(Schema):
    id = fields.Integer()
    ref = fields.String()
    application_id = fields.Integer()
    application_ref = fields.String()
    dealer_code = fields.String()
    dealer_name = fields.String()
    account_masked = fields.String(allow_none=True)
    amount = fields.Decimal(**MONEY)
    value_date = fields.Date()
    status = fields.String()
    attempts = fields.Integer()
    batch_ref = fields.String(allow_none=True)
    bank_ref = fields.String(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    voucher_number = fields.String()
    settled_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class PayoutExportIn(Strict):
    value_date = fields.Date(load_default=None, allow_none=True)


class PayoutFileOut(Schema):
    batch_ref = fields.String()
    count = fields.Integer()
    total = fields.Decimal(**MONEY)
    content = fields.String(metadata={"description": "the bank transfer file (CSV)"})
    skipped = fields.List(fields.String(), metadata={
        "description": "payouts left pending: their dealer has no account on file"})


class RunError(Schema):
    ref = fields.String()
    reason = fields.String()


class VendorRunOut(Schema):
    sent = fields.Integer()
    paid = fields.Integer()
    failed = fields.Integer()
    errors = fields.List(fields.Nested(RunError))


class StatusFileIn(Schema):
    file = Upload(required=True, metadata={
        "description": "the bank's status file, CSV payout_ref,status,bank_ref,reason"})


class LineError(Schema):
    line = fields.Integer()
    reason = fields.String()


class ReconcileOut(Schema):
    paid = fields.Integer()
    failed = fields.Integer()
    unchanged = fields.Integer()
    errors = fields.List(fields.Nested(LineError))


# ---- profile and ID card ------------------------------------------------------------------
class EmergencyContact(Strict):
    relation = fields.String(required=True, validate=validate.OneOf(
        ["spouse", "parent", "child", "sibling", "relative", "friend", "colleague"]))
    name = fields.String(required=True, validate=validate.Length(1, 50))
    phone = fields.String(required=True, validate=PHONE)


class ProfilePatch(Strict):
    phone = fields.String(validate=PHONE)
    home_lat = AsciiFloat(allow_nan=False, validate=validate.Range(-90, 90))
    home_lon = AsciiFloat(allow_nan=False, validate=validate.Range(-180, 180))
    home_city = fields.String(validate=validate.Length(max=64))
    home_province = fields.String(validate=validate.Length(max=64))
    monthly_income = AsciiFloat(allow_none=True, allow_nan=False,
                                  validate=validate.Range(0, 10_000_000))
    emergency_contacts = fields.List(fields.Nested(EmergencyContact),
                                     validate=validate.Length(1, 5))

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("send at least one field to change", field_name="_schema")


class MaskedContact(Schema):
    relation = fields.String()
    name_masked = fields.String()
    phone_masked = fields.String()


class ProfileUpdateOut(Schema):
    changed = fields.List(fields.String())
    emergency_contacts = fields.List(fields.Nested(MaskedContact))


class ProfileChangeOut(Schema):
    id = fields.Integer()
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields")
    at = fields.DateTime()


class IdCardIn(Schema):
    front = Upload(required=True, metadata={"description": "JPEG or PNG, the portrait side"})
    back = Upload(required=True, metadata={"description": "JPEG or PNG, the emblem side"})


# ---- collections --------------------------------------------------------------------------
class PromiseOut(Schema):
    contact_id = fields.Integer()
    promise_date = fields.Date()
    amount = fields.Decimal(**MONEY, allow_none=True)
    status = fields.String(metadata={"description": "open | kept | broken"})
    made_at = fields.DateTime()


class CaseItem(Schema):
    loan_id = fields.Integer()
    loan_ref = fields.String()
    dpd = fields.Integer()
    overdue = fields.Decimal(**MONEY)
    outstanding_principal = fields.Decimal(**MONEY)
    pd = fields.Float()
    expected_loss = fields.Decimal(**MONEY)
    customer_id_number_masked = fields.String()
    promise = fields.Nested(PromiseOut, allow_none=True)
    last_contact_at = fields.DateTime(allow_none=True)
    open_tasks = fields.List(fields.String(), metadata={
        "description": "the nightly run's queued phone_task / gps_alert on this loan"})


class ContactOut(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    channel = fields.String()
    outcome = fields.String()
    promise_date = fields.Date(allow_none=True)
    promise_amount = fields.Decimal(**MONEY, allow_none=True)
    note = fields.String()
    collector = fields.String()


class ScheduleLine(Schema):
    number = fields.Integer()
    due_date = fields.Date()
    due = fields.Decimal(**MONEY, metadata={"description": "principal + interest"})
    paid = fields.Decimal(**MONEY)
    penalty = fields.Decimal(**MONEY, metadata={"description": "penalty interest unpaid"})
    settled_on = fields.Date(allow_none=True)


class RepaymentLine(Schema):
    paid_on = fields.Date()
    amount = fields.Decimal(**MONEY)
    source = fields.String()


class CaseCustomer(Schema):
    name_masked = fields.String()
    id_number_masked = fields.String()
    phone_masked = fields.String(allow_none=True)
    home_city = fields.String()
    emergency_contacts = fields.List(fields.Nested(MaskedContact))


class OpenTask(Schema):
    id = fields.Integer()
    action = fields.String()
    as_of = fields.Date()
    status = fields.String()


class CaseDetail(Schema):
    loan_id = fields.Integer()
    loan_ref = fields.String()
    status = fields.String()
    principal = fields.Decimal(**MONEY)
    dpd = fields.Integer()
    overdue = fields.Decimal(**MONEY)
    outstanding_principal = fields.Decimal(**MONEY)
    customer = fields.Nested(CaseCustomer, metadata={"description": "masked identifiers only"})
    schedule = fields.List(fields.Nested(ScheduleLine))
    repayments = fields.List(fields.Nested(RepaymentLine))
    contacts = fields.List(fields.Nested(ContactOut))
    promises = fields.List(fields.Nested(PromiseOut))
    open_tasks = fields.List(fields.Nested(OpenTask))


class OutcomeIn(Strict):
    outcome = fields.String(required=True, validate=validate.OneOf(collections.OUTCOMES))
    note = fields.String(load_default="", validate=validate.Length(max=500))
    promise_date = fields.Date(load_default=None, allow_none=True)
    promise_amount = AsciiDecimal(load_default=None, allow_none=True, places=2,
                                    allow_nan=False, as_string=True,
                                    validate=validate.Range(0, collections.PROMISE_MAX_AMOUNT,
                                                            min_inclusive=False))


# ---- ingest -------------------------------------------------------------------------------
class RepaymentNotice(Strict):
    reference = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_.:-]{1,64}$", error="1-64 letters, digits, _ . : -"))
    loan_ref = fields.String(required=True, validate=validate.Length(1, 32))
    amount = AsciiDecimal(required=True, places=None, allow_nan=False, as_string=True,
                            validate=validate.Range(0, 100_000_000, min_inclusive=False))
    paid_on = fields.Date(required=True)

    @validates_schema
    def _cents(self, data, **_):
        amount = data.get("amount")
        if amount is not None and amount != amount.quantize(amount.__class__("0.01")):
            raise ValidationError("must be whole cents", field_name="amount")


class RepaymentsIn(Strict):
    notifications = fields.List(fields.Nested(RepaymentNotice), required=True,
                                validate=validate.Length(1, 1000))


class RepaymentResult(Schema):
    reference = fields.String()
    loan_ref = fields.String()
    status = fields.String(metadata={"description": "posted | already_posted | rejected"})
    reason = fields.String()
    repayment_id = fields.Integer()
    amount = fields.Decimal(**MONEY)
    unapplied = fields.Decimal(**MONEY)


class RepaymentsOut(Schema):
    results = fields.List(fields.Nested(RepaymentResult))


class PositionsIn(Strict):
    positions = fields.List(fields.Dict(), required=True, validate=validate.Length(1, 5000),
                            metadata={"description": "loan_ref, event_time, lat, lon, "
                                                     "province, speed_kmh (optional)"})


class PositionsOut(Schema):
    stored = fields.Integer()
    duplicates = fields.Integer()
    loans = fields.Integer()
