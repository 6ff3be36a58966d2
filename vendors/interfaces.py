"""What Chedaitong needs from each external vendor: one small Protocol per vendor and typed,
frozen request/response dataclasses. Decisioning and servicing depend on these, never on HTTP,
so a vendor can be swapped (or faked in a unit test) without touching them.

Identifiers are excluded from ``repr`` so a request printed in a traceback or log leaks nothing.
Money is in integer cents (CNY); times are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Verdict(StrEnum):
    """Outcome of a record check against the vendor's authoritative data."""

    MATCH = "match"  # all elements agree
    MISMATCH = "mismatch"  # the record exists but some element differs
    NOT_FOUND = "not_found"  # no such ID number / card in the vendor's source


# --- ID card check (the person exists) -----------------------------------------------------
@dataclass(frozen=True)
class IdCheckRequest:
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    #: photos of the card (JPEG/PNG bytes); with them the vendor also checks the photo is of a
    #: genuine card carrying this name and number
    front_image: bytes | None = field(default=None, repr=False)
    back_image: bytes | None = field(default=None, repr=False)
    #: one per intent (`chedaitong.db.claims`): a retried or taken-over check is billed once
    idempotency_key: str | None = None


@dataclass(frozen=True)
class VerificationResult:
    """A match / mismatch / not-found verdict: what both the ID-card and the bank-card
    four-element vendors answer."""

    request_id: str
    verdict: Verdict
    code: str
    message: str

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.MATCH


IdCheckResult = VerificationResult


@runtime_checkable
class IdCheckVendor(Protocol):
    def verify(self, request: IdCheckRequest) -> IdCheckResult: ...


# --- Liveness / face comparison (the applicant is that person) -----------------------------
@dataclass(frozen=True)
class LivenessRequest:
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    selfie: bytes = field(repr=False)  # the captured face image (JPEG bytes in production)
    idempotency_key: str | None = None


@dataclass(frozen=True)
class LivenessResult:
    request_id: str
    passed: bool
    score: float  # similarity to the ID photo on file, 0..1
    threshold: float  # the vendor's pass mark for `score`
    code: str
    message: str


@runtime_checkable
class LivenessVendor(Protocol):
    def compare(self, request: LivenessRequest) -> LivenessResult: ...


# --- Bank card four elements (name, ID number, card number, reserved phone) ---------------
@dataclass(frozen=True)
class FourElementRequest:
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    card_number: str = field(repr=False)
    phone: str = field(repr=False)
    idempotency_key: str | None = None


FourElementResult = VerificationResult


@runtime_checkable
class FourElementVendor(Protocol):
    def verify(self, request: FourElementRequest) -> FourElementResult: ...


# --- Credit bureaus ------------------------------------------------------------------------
@dataclass(frozen=True)
class BureauQuery:
    """A report request. Every query is an inquiry on the person's credit file, so it carries an
    idempotency key (generated when not given) and a retry never records a second inquiry.

    ``authorization_ref`` names the signed credit-inquiry authorisation on file (the PBOC
    requires one); ``reason`` is "loan_approval" or "post_loan_management". ``as_of`` is a
    sandbox extension for replays (the report as it was then); real bureaus ignore it.
    """

    name: str = field(repr=False)
    id_number: str = field(repr=False)
    phone: str | None = field(default=None, repr=False)
    authorization_ref: str | None = None
    reason: str = "loan_approval"
    as_of: datetime | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PbocReport:
    """``found`` is False for a person with no credit file (a thin-file "白户"), which is an
    answer, not an error. ``report_json`` is kept verbatim for the feature store."""

    request_id: str
    found: bool
    code: str
    report_id: str | None = None
    reported_at: datetime | None = None
    report_json: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ThirdPartyReport:
    """Score 300..900, higher is safer; ``multi_lending_platforms`` counts distinct lending
    platforms the person applied to within the vendor's window (90 days)."""

    request_id: str
    found: bool
    code: str
    report_id: str | None = None
    reported_at: datetime | None = None
    score: int | None = None
    blacklisted: bool | None = None
    multi_lending_platforms: int | None = None
    report_json: str | None = field(default=None, repr=False)


@runtime_checkable
class PbocVendor(Protocol):
    def query(self, query: BureauQuery) -> PbocReport: ...


@runtime_checkable
class ThirdPartyBureauVendor(Protocol):
    def query(self, query: BureauQuery) -> ThirdPartyReport: ...


# --- E-signature ---------------------------------------------------------------------------
class ContractStatus(StrEnum):
    AWAITING_SIGNATURE = "awaiting_signature"
    SIGNED = "signed"


@dataclass(frozen=True)
class Signer:
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    phone: str = field(repr=False)


@dataclass(frozen=True)
class ContractRequest:
    """``idempotency_key`` should be a business key (e.g. ``contract:<application_id>``) so even
    a re-run after a crash returns the contract already created."""

    application_id: str
    title: str
    document: bytes = field(repr=False)
    signers: tuple[Signer, ...] = ()
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Contract:
    contract_id: str
    status: ContractStatus
    document_sha256: str  # of the unsigned document the caller sent
    created_at: datetime
    signed_at: datetime | None = None


@dataclass(frozen=True)
class SignRequest:
    contract_id: str
    signer_id_number: str = field(repr=False)
    verification_code: str = field(repr=False)  # the OTP the signer received by SMS
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SignedDocument:
    contract_id: str
    content: bytes = field(repr=False)
    sha256: str  # of `content`, checked against the vendor's header on download
    media_type: str


@runtime_checkable
class ESignVendor(Protocol):
    def create_contract(self, request: ContractRequest) -> Contract: ...
    def sign(self, request: SignRequest) -> Contract: ...
    def status(self, contract_id: str) -> Contract: ...
    def signed_document(self, contract_id: str) -> SignedDocument: ...


# --- SMS -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmsMessage:
    """A templated message (carriers only deliver pre-approved templates)."""

    phone: str = field(repr=False)
    template: str = ""
    params: tuple[tuple[str, str], ...] = ()
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SmsReceipt:
    message_id: str
    status: str  # "accepted": queued by the gateway (delivery reports are out of scope)
    accepted_at: datetime


@dataclass(frozen=True)
class BatchItem:
    """One item's answer within a batch call (SMS batch, collection placement or update).

    ``ref`` is what the item created or touched (message id, case id) — also on a refusal that
    names an existing object (``CASE_EXISTS`` carries the loan's open case); ``code`` is empty
    when the item was done, else the vendor's reason; ``retryable``: a temporary refusal."""

    idempotency_key: str
    ref: str | None
    code: str = ""
    message: str = ""
    retryable: bool = False
    agency: str | None = None  # collection placements: the agency the case went to
    status: str | None = None  # collection: the case's status after the call

    @property
    def ok(self) -> bool:
        return not self.code


#: Items per batch call: what the gateways take (Aliyun SendBatchSms: 100 numbers; agencies'
#: placement and update APIs a few hundred rows) — a longer list is refused, not split.
SMS_BATCH_MAX = 100
COLLECTION_BATCH_MAX = 200


@runtime_checkable
class SmsVendor(Protocol):
    def send(self, message: SmsMessage) -> SmsReceipt: ...
    def send_batch(self, messages: Sequence[SmsMessage]) -> list[BatchItem]:
        """Up to `SMS_BATCH_MAX` messages in one call, each with its idempotency key; the
        answers in the same order (a refused number does not refuse the others)."""
        ...


# --- Outsourced collection -----------------------------------------------------------------
class CaseStatus(StrEnum):
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    PROMISED = "promised_to_pay"
    RECOVERED = "recovered"
    RETURNED = "returned"  # handed back unresolved
    WITHDRAWN = "withdrawn"  # recalled by the lender (cured or settled)


@dataclass(frozen=True)
class CollectionCase:
    loan_id: str
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    phone: str = field(repr=False)
    overdue_amount_cents: int = 0
    days_past_due: int = 0
    bucket: str = ""  # delinquency bucket, e.g. "M2"
    idempotency_key: str | None = None


@dataclass(frozen=True)
class CollectionAssignment:
    case_id: str
    agency: str
    status: CaseStatus
    assigned_at: datetime


@dataclass(frozen=True)
class CollectionStatus:
    case_id: str
    status: CaseStatus
    updated_at: datetime
    recovered_cents: int = 0
    note: str = ""


@dataclass(frozen=True)
class CaseUpdate:
    """New figures of an open case, for `CollectionVendor.update_batch`."""

    case_id: str
    overdue_amount_cents: int
    days_past_due: int
    bucket: str
    idempotency_key: str


@runtime_checkable
class CollectionVendor(Protocol):
    def assign(self, case: CollectionCase) -> CollectionAssignment: ...
    def assign_batch(self, cases: Sequence[CollectionCase]) -> list[BatchItem]:
        """Place up to `COLLECTION_BATCH_MAX` cases in one call (the agency's daily placement);
        a loan already placed answers ``CASE_EXISTS`` with its open case as ``ref``."""
        ...
    def update_batch(self, updates: Sequence[CaseUpdate]) -> list[BatchItem]:
        """New figures for up to `COLLECTION_BATCH_MAX` open cases; a case the agency closed
        answers ``CASE_CLOSED`` with its status."""
        ...
    def status(self, case_id: str) -> CollectionStatus: ...
    def open_case(self, loan_id: str) -> CollectionStatus | None: ...
    def update(self, case_id: str, *, overdue_amount_cents: int, days_past_due: int,
               bucket: str, idempotency_key: str | None = None) -> CollectionStatus: ...
    def withdraw(self, case_id: str, *, reason: str,
                 idempotency_key: str | None = None) -> CollectionStatus: ...


# --- Outbound call service (phone tasks of collections) ------------------------------------
class CallStatus(StrEnum):
    QUEUED = "queued"
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    INVALID_NUMBER = "invalid_number"


@dataclass(frozen=True)
class CallRequest:
    """A call the outbound-call service places to a borrower and bridges to the collector
    (or plays the reminder script); ``case_ref`` is our loan reference."""

    case_ref: str
    phone: str = field(repr=False)
    script: str = "collection_reminder"
    idempotency_key: str | None = None


@dataclass(frozen=True)
class CallResult:
    call_id: str
    status: CallStatus
    duration_s: int
    placed_at: datetime


@runtime_checkable
class OutboundCallVendor(Protocol):
    def place(self, request: CallRequest) -> CallResult: ...


# --- Payment service (paying the dealer) ---------------------------------------------------
class TransferStatus(StrEnum):
    ACCEPTED = "accepted"  # taken, not settled yet
    SETTLED = "settled"
    FAILED = "failed"


@dataclass(frozen=True)
class TransferRequest:
    """A corporate transfer to a dealer's account; ``payout_ref`` is ours, ``amount_cents``
    whole fen so no float ever carries money."""

    payout_ref: str
    amount_cents: int
    bank_name: str
    account_name: str
    account_number: str = field(repr=False)
    value_date: str = ""  # ISO date
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Transfer:
    transfer_id: str
    status: TransferStatus
    updated_at: datetime
    reason: str = ""


@runtime_checkable
class PaymentVendor(Protocol):
    def transfer(self, request: TransferRequest) -> Transfer: ...
    def status(self, transfer_id: str) -> Transfer: ...
