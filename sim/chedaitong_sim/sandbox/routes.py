"""The sandbox vendors' endpoints: validate like the real service (400 on malformed input,
without echoing the value), then answer from the oracle or the sandbox's own records.

Handlers return ``(status, json_body)`` or a finished `Response`; faults, latency, idempotency
and the call log are applied around them by `chedaitong_sim.sandbox.app`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Response, request

from chedaitong_sim.sandbox.answers import LIVENESS_THRESHOLD, unit
from chedaitong_sim.sandbox.state import StoredResponse, now
from vendors import wire
from vendors.interfaces import COLLECTION_BATCH_MAX, SMS_BATCH_MAX
from vendors.masking import mask

if TYPE_CHECKING:
    from chedaitong_sim.sandbox.app import Sandbox

Reply = tuple[int, dict[str, Any]] | Response
Handler = Callable[..., Reply]

ID_RE = re.compile(r"^\d{17}[\dX]$")
PHONE_RE = re.compile(r"^1\d{10}$")
CARD_RE = re.compile(r"^\d{12,19}$")
OTP_RE = re.compile(r"^\d{6}$")
TEMPLATE_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")
AGENCIES = ("华信资产管理有限公司", "诚达商务咨询有限公司", "安和信息服务有限公司")
QUERY_REASONS = ("loan_approval", "post_loan_management")
OPEN_CASE = ("assigned", "in_progress", "promised_to_pay")
SEAL_KEY = b"chedaitong-sandbox-esign-seal"  # a sandbox, not a secret


class Invalid(Exception):
    """A request the vendor refuses; the message never contains the offending value."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# --- input checks --------------------------------------------------------------------------
def _text(body: dict[str, Any], key: str, max_len: int = 64) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise Invalid(f"INVALID_{key.upper()}", f"{key} is required (1-{max_len} characters)")
    return value.strip()


def _match(body: dict[str, Any], key: str, pattern: re.Pattern[str], what: str) -> str:
    value = body.get(key)
    value = value.strip().upper() if isinstance(value, str) else None
    if not value or not pattern.match(value):
        raise Invalid(f"INVALID_{key.upper()}", f"{key} must be {what}")
    return value


def _id(body: dict[str, Any], key: str = "id_number") -> str:
    return _match(body, key, ID_RE, "18 characters: 17 digits and a digit or X")


def _phone(body: dict[str, Any], key: str = "phone") -> str:
    return _match(body, key, PHONE_RE, "an 11-digit mainland mobile number")


def _b64(body: dict[str, Any], key: str, max_bytes: int = 5_000_000) -> bytes:
    try:
        data = base64.b64decode(body.get(key) or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        data = b""
    if not data or len(data) > max_bytes:
        raise Invalid(f"INVALID_{key.upper()}", f"{key} must be non-empty base64")
    return data


def _int(body: dict[str, Any], key: str, minimum: int) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Invalid(f"INVALID_{key.upper()}", f"{key} must be an integer >= {minimum}")
    return value


def _as_of(body: dict[str, Any]) -> Any:
    raw = body.get("as_of")
    if raw is None:
        return None
    try:
        return wire.parse_time(str(raw))
    except ValueError:
        raise Invalid("INVALID_AS_OF", "as_of must be an ISO-8601 time") from None


# --- identity ------------------------------------------------------------------------------
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def _photo_problem(front: bytes, back: bytes) -> tuple[str, str] | None:
    """What a card-photo check refuses: not an image, both sides the same picture, or (the
    sandbox's marker for a doctored photo) the bytes ``TAMPERED``."""
    if not (front.startswith(IMAGE_MAGIC) and back.startswith(IMAGE_MAGIC)):
        return "PHOTO_UNREADABLE", "the card photo could not be read"
    if front == back:
        return "PHOTO_SAME_SIDE", "front and back are the same photo"
    if b"TAMPERED" in front or b"TAMPERED" in back:
        return "PHOTO_TAMPERED", "the card photo shows signs of editing"
    return None


def id_check(sb: Sandbox, body: dict[str, Any]) -> Reply:
    a = sb.oracle.id_check(_text(body, "name"), _id(body))
    verdict, code, message = a.verdict.value, a.code, a.message
    if "front_b64" in body or "back_b64" in body:  # the photo check, when photos are sent
        problem = _photo_problem(_b64(body, "front_b64"), _b64(body, "back_b64"))
        if problem is not None and verdict == "match":
            verdict, (code, message) = "mismatch", problem
    return 200, {"request_id": sb.state.next_id("RQ"), "result": verdict,
                 "code": code, "message": message}


def liveness(sb: Sandbox, body: dict[str, Any]) -> Reply:
    _text(body, "name")
    id_number, selfie = _id(body), _b64(body, "selfie_b64")
    a = sb.oracle.liveness(id_number, selfie, sb.state.next_attempt("liveness", id_number))
    return 200, {"request_id": sb.state.next_id("RQ"), "passed": a.passed, "score": a.score,
                 "threshold": LIVENESS_THRESHOLD, "code": a.code, "message": a.message}


def four_element(sb: Sandbox, body: dict[str, Any]) -> Reply:
    name, id_number, phone = _text(body, "name"), _id(body), _phone(body)
    card = _match(body, "card_number", CARD_RE, "12 to 19 digits")
    attempt = sb.state.next_attempt("four_element", id_number)
    a = sb.oracle.four_element(name, id_number, card, phone, attempt)
    return 200, {"request_id": sb.state.next_id("RQ"), "result": a.verdict.value,
                 "code": a.code, "message": a.message}


# --- bureaus -------------------------------------------------------------------------------
def _inquiry(sb: Sandbox, bureau: str, id_number: str, body: dict[str, Any]) -> None:
    sb.state.inquiries.append({"bureau": bureau, "id_number": mask(id_number, "id_number"),
                               "authorization_ref": body.get("authorization_ref"),
                               "reason": body.get("query_reason", "loan_approval"),
                               "at": wire.iso(now())})


def _reason(body: dict[str, Any]) -> str:
    reason = body.get("query_reason", "loan_approval")
    if reason not in QUERY_REASONS:
        raise Invalid("INVALID_QUERY_REASON", f"query_reason must be one of {QUERY_REASONS}")
    return reason


def pboc(sb: Sandbox, body: dict[str, Any]) -> Reply:
    name, id_number, as_of = _text(body, "name"), _id(body), _as_of(body)
    reason = _reason(body)
    if not isinstance(body.get("authorization_ref"), str) or not body["authorization_ref"]:
        raise Invalid("AUTHORIZATION_REQUIRED", "a credit-inquiry authorisation is required")
    _inquiry(sb, "pboc", id_number, body)
    report = sb.oracle.pboc(name, id_number, as_of, reason)
    reply: dict[str, Any] = {"request_id": sb.state.next_id("RQ"), "found": report is not None}
    if report is None:
        return 200, {**reply, "code": "4004", "message": "无信用记录"}
    return 200, {**reply, "code": "0000", "message": "成功", "report_id": report.report_id,
                 "reported_at": wire.iso(report.reported_at), "report_json": report.report_json}


def third_party(sb: Sandbox, body: dict[str, Any]) -> Reply:
    name, id_number, as_of = _text(body, "name"), _id(body), _as_of(body)
    _reason(body)
    if body.get("phone") is not None:
        _phone(body)
    _inquiry(sb, "third_party", id_number, body)
    found = sb.oracle.third_party(name, id_number, as_of)
    reply: dict[str, Any] = {"request_id": sb.state.next_id("RQ"), "found": found is not None}
    if found is None:
        return 200, {**reply, "code": "4004", "message": "查无此人"}
    report, head = found
    return 200, {**reply, "code": "0000", "message": "成功", "report_id": report.report_id,
                 "reported_at": wire.iso(report.reported_at), **head,
                 "report_json": report.report_json}


# --- e-signature ---------------------------------------------------------------------------
def _contract_view(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "contract_id": c["contract_id"], "status": c["status"],
        "document_sha256": c["document_sha256"], "created_at": wire.iso(c["created_at"]),
        "signed_at": wire.iso(c["signed_at"]) if c["signed_at"] else None,
    }


def _contract(sb: Sandbox, contract_id: str) -> dict[str, Any]:
    c = sb.state.contracts.get(contract_id)
    if c is None:
        raise Invalid("CONTRACT_NOT_FOUND", "no such contract", 404)
    return c


def create_contract(sb: Sandbox, body: dict[str, Any]) -> Reply:
    application_id, title = _text(body, "application_id"), _text(body, "title", 200)
    document = _b64(body, "document_b64")
    raw_signers = body.get("signers")
    if not isinstance(raw_signers, list) or not raw_signers:
        raise Invalid("INVALID_SIGNERS", "signers must be a non-empty list")
    signers = []
    for s in raw_signers:
        if not isinstance(s, dict):
            raise Invalid("INVALID_SIGNERS", "each signer needs name, id_number and phone")
        signers.append({"name": _text(s, "name"), "id_number": _id(s), "phone": _phone(s)})
    c = {
        "contract_id": sb.state.next_id("CT"), "application_id": application_id, "title": title,
        "document": document, "document_sha256": hashlib.sha256(document).hexdigest(),
        "signers": signers, "signatures": {}, "status": "awaiting_signature",
        "created_at": now(), "signed_at": None,
    }
    sb.state.contracts[c["contract_id"]] = c
    return 201, _contract_view(c)


def sign_contract(sb: Sandbox, body: dict[str, Any], contract_id: str) -> Reply:
    c = _contract(sb, contract_id)
    signer = _id(body, "signer_id_number")
    _match(body, "verification_code", OTP_RE, "the 6-digit code sent to the signer")
    if signer not in {s["id_number"] for s in c["signers"]}:
        raise Invalid("NOT_A_SIGNER", "this person is not a party to the contract", 403)
    c["signatures"].setdefault(signer, now())  # signing twice changes nothing
    if c["status"] != "signed" and len(c["signatures"]) == len(c["signers"]):
        c["status"], c["signed_at"] = "signed", now()
    return 200, _contract_view(c)


def contract_status(sb: Sandbox, body: None, contract_id: str) -> Reply:
    return 200, _contract_view(_contract(sb, contract_id))


def signed_document(sb: Sandbox, body: None, contract_id: str) -> Reply:
    """The document as sent, followed by a signature block: the document's hash, each signer
    (masked) with the signing time, and an HMAC seal over all of it."""
    c = _contract(sb, contract_id)
    if c["status"] != "signed":
        raise Invalid("NOT_SIGNED", "the contract is not signed by every party yet", 409)
    lines = [
        f"contract_id: {c['contract_id']}",
        f"application_id: {c['application_id']}",
        f"title: {c['title']}",
        f"document_sha256: {c['document_sha256']}",
    ]
    for s in c["signers"]:
        lines.append(f"signer: {mask(s['name'], 'name')} {mask(s['id_number'], 'id_number')} "
                     f"signed_at={wire.iso(c['signatures'][s['id_number']])}")
    lines.append(f"signed_at: {wire.iso(c['signed_at'])}")
    seal = hmac.new(SEAL_KEY, "\n".join(lines).encode(), hashlib.sha256).hexdigest()
    block = "\n".join(["", "-----BEGIN SANDBOX E-SIGNATURE-----", *lines, f"seal: {seal}",
                       "-----END SANDBOX E-SIGNATURE-----", ""])
    content = c["document"] + block.encode()
    return Response(content, 200, content_type="text/plain; charset=utf-8",
                    headers={"X-Document-SHA256": hashlib.sha256(content).hexdigest()})


# --- SMS -----------------------------------------------------------------------------------
def send_sms(sb: Sandbox, body: dict[str, Any]) -> Reply:
    phone = _phone(body)
    template = _match(body, "template", TEMPLATE_RE, "an approved template code (A-Z, 0-9, _)")
    params = body.get("params", {})
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        raise Invalid("INVALID_PARAMS", "params must map names to strings")
    msg = {"message_id": sb.state.next_id("SM"), "phone": phone, "template": template,
           "params": params, "accepted_at": now()}
    sb.state.messages.append(msg)
    return 202, {"message_id": msg["message_id"], "status": "accepted",
                 "accepted_at": wire.iso(msg["accepted_at"])}


# --- collection ----------------------------------------------------------------------------
def _case_view(c: dict[str, Any]) -> dict[str, Any]:
    return {"case_id": c["case_id"], "status": c["status"], "updated_at": wire.iso(c["updated_at"]),
            "recovered_cents": c["recovered_cents"], "note": c["note"]}


def assign_case(sb: Sandbox, body: dict[str, Any]) -> Reply:
    loan_id = _text(body, "loan_id")
    case = {
        "loan_id": loan_id, "name": _text(body, "name"), "id_number": _id(body),
        "phone": _phone(body), "overdue_amount_cents": _int(body, "overdue_amount_cents", 1),
        "days_past_due": _int(body, "days_past_due", 1), "bucket": _text(body, "bucket", 8),
    }
    if any(c["status"] in OPEN_CASE for c in sb.state.cases_of(loan_id)):
        raise Invalid("CASE_EXISTS", "this loan already has an open case", 409)
    t = now()
    case.update(case_id=sb.state.next_id("CC"), status="assigned", assigned_at=t, updated_at=t,
                recovered_cents=0, note="",
                agency=AGENCIES[int(unit("agency", loan_id) * len(AGENCIES))])
    sb.state.add_case(case)
    return 201, {"case_id": case["case_id"], "agency": case["agency"], "status": "assigned",
                 "assigned_at": wire.iso(t)}


def case_status(sb: Sandbox, body: None, case_id: str) -> Reply:
    return 200, _case_view(_case(sb, case_id))


def _case(sb: Sandbox, case_id: str) -> dict[str, Any]:
    c = sb.state.cases.get(case_id)
    if c is None:
        raise Invalid("CASE_NOT_FOUND", "no such case", 404)
    return c


def find_cases(sb: Sandbox, body: None) -> Reply:
    """``GET /cases?loan_id=…``: the loan's open cases (how a lender reconciles CASE_EXISTS)."""
    loan_id = (request.args.get("loan_id") or "").strip()
    if not loan_id or len(loan_id) > 64:
        raise Invalid("INVALID_LOAN_ID", "loan_id is required (1-64 characters)")
    return 200, {"cases": [_case_view(c) for c in sb.state.cases_of(loan_id)
                           if c["status"] in OPEN_CASE]}


def update_case(sb: Sandbox, body: dict[str, Any], case_id: str) -> Reply:
    """New overdue balance / DPD of an open case (the agency works from the latest figures)."""
    c = _case(sb, case_id)
    if c["status"] not in OPEN_CASE:
        raise Invalid("CASE_CLOSED", "this case is no longer open", 409)
    c.update(overdue_amount_cents=_int(body, "overdue_amount_cents", 0),
             days_past_due=_int(body, "days_past_due", 0), bucket=_text(body, "bucket", 8),
             updated_at=now())
    return 200, _case_view(c)


def withdraw_case(sb: Sandbox, body: dict[str, Any], case_id: str) -> Reply:
    """The lender recalls a case (cured or settled); a closed case stays as it is."""
    c = _case(sb, case_id)
    reason = _text(body, "reason", 32)
    if c["status"] in OPEN_CASE:
        c.update(status="withdrawn", note=reason, updated_at=now())
    return 200, _case_view(c)


# --- batches: many items in one call, each answered on its own -----------------------------
def _batch(sb: Sandbox, vendor: str, body: dict[str, Any], key: str, most: int,
           one: Callable[[dict[str, Any]], dict[str, Any]]) -> Reply:
    """Run `one` on every item of ``body[key]`` as if it came alone: its own idempotency key
    (an item seen before gets its first answer back, whatever batch it comes in), its own
    refusal (the others go on), and — ``item_error_rate`` — the vendor's temporary per-item
    failures. A malformed list refuses the whole call."""
    items = body.get(key)
    if not isinstance(items, list) or not items:
        raise Invalid("INVALID_BATCH", f"{key} must be a non-empty list")
    if len(items) > most:
        raise Invalid("BATCH_TOO_LARGE", f"at most {most} {key} per call", 413)
    keys = [i.get("idempotency_key") if isinstance(i, dict) else None for i in items]
    if not all(isinstance(k, str) and 0 < len(k) <= 200 for k in keys) or len(set(keys)) != len(
            keys):
        raise Invalid("INVALID_IDEMPOTENCY_KEY", "every item needs its own idempotency_key")
    results = []
    with sb.state.lock:
        for item, item_key in zip(items, keys, strict=True):
            fingerprint = hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()
            stored = sb.state.idempotent.get((f"{vendor}:item", item_key))
            if stored is not None:
                results.append(stored.body if stored.fingerprint == fingerprint else {
                    "idempotency_key": item_key, "ref": None, "code": "IDEMPOTENCY_KEY_REUSED",
                    "message": "this idempotency_key was used with a different item"})
                continue
            if sb.faults.item_fails(vendor):
                results.append({"idempotency_key": item_key, "ref": None,
                                "code": "TEMPORARY_FAILURE", "message": "try again later",
                                "retryable": True})
                continue
            try:
                answer = {"idempotency_key": item_key, **one(item)}
            except Invalid as exc:
                answer = {"idempotency_key": item_key, "ref": getattr(exc, "ref", None),
                          "status": getattr(exc, "case_status", None), "code": exc.code,
                          "message": exc.message}
            if not answer.get("code"):
                sb.state.idempotent[(f"{vendor}:item", item_key)] = StoredResponse(
                    fingerprint, 200, answer)
            results.append(answer)
    return 200, {"results": results}


def send_sms_batch(sb: Sandbox, body: dict[str, Any]) -> Reply:
    """``SendBatchSms``-style: up to 100 messages, one answer each."""
    def one(item: dict[str, Any]) -> dict[str, Any]:
        _, got = send_sms(sb, item)  # type: ignore[misc]
        return {"ref": got["message_id"], "status": got["status"]}

    return _batch(sb, "sms", body, "messages", SMS_BATCH_MAX, one)


def _open_case_of(sb: Sandbox, loan_id: str) -> dict[str, Any] | None:
    return next((c for c in sb.state.cases_of(loan_id) if c["status"] in OPEN_CASE), None)


def assign_batch(sb: Sandbox, body: dict[str, Any]) -> Reply:
    """The day's placement file: each case opened, or ``CASE_EXISTS`` naming the open one."""
    def one(item: dict[str, Any]) -> dict[str, Any]:
        try:
            _, got = assign_case(sb, item)  # type: ignore[misc]
        except Invalid as exc:
            if exc.code == "CASE_EXISTS":
                found = _open_case_of(sb, str(item.get("loan_id", "")).strip())
                exc.ref = found and found["case_id"]  # type: ignore[attr-defined]
                exc.case_status = found and found["status"]  # type: ignore[attr-defined]
            raise
        return {"ref": got["case_id"], "agency": got["agency"], "status": got["status"]}

    return _batch(sb, "collection", body, "cases", COLLECTION_BATCH_MAX, one)


def update_batch(sb: Sandbox, body: dict[str, Any]) -> Reply:
    """New figures of many open cases; a closed one answers ``CASE_CLOSED`` with its status."""
    def one(item: dict[str, Any]) -> dict[str, Any]:
        case_id = _text(item, "case_id")
        try:
            _, got = update_case(sb, item, case_id)  # type: ignore[misc]
        except Invalid as exc:
            if exc.code == "CASE_CLOSED":
                exc.ref, exc.case_status = case_id, sb.state.cases[case_id]["status"]  # type: ignore[attr-defined]
            raise
        return {"ref": case_id, "status": got["status"]}

    return _batch(sb, "collection", body, "updates", COLLECTION_BATCH_MAX, one)


# --- outbound calls ------------------------------------------------------------------------
CALL_SCRIPTS = ("collection_reminder", "collector_bridge")


def place_call(sb: Sandbox, body: dict[str, Any]) -> Reply:
    """Ring the borrower: a number ending 0000 does not exist, one ending 9999 never answers,
    any other answers (the sandbox's stand-in for a carrier's call result)."""
    case_ref, phone = _text(body, "case_ref"), _phone(body)
    script = body.get("script", "collection_reminder")
    if script not in CALL_SCRIPTS:
        raise Invalid("INVALID_SCRIPT", f"script must be one of {CALL_SCRIPTS}")
    status = ("invalid_number" if phone.endswith("0000") else
              "no_answer" if phone.endswith("9999") else "answered")
    call = {"call_id": sb.state.next_id("OC"), "case_ref": case_ref, "phone": phone,
            "script": script, "status": status, "placed_at": now(),
            "duration_s": 0 if status != "answered" else 30 + int(unit("call", phone) * 200)}
    sb.state.phone_calls.append(call)
    return 201, {"call_id": call["call_id"], "status": status, "duration_s": call["duration_s"],
                 "placed_at": wire.iso(call["placed_at"])}


# --- payments ------------------------------------------------------------------------------
ACCOUNT_RE = re.compile(r"^\d{8,30}$")


def _transfer_view(t: dict[str, Any]) -> dict[str, Any]:
    return {"transfer_id": t["transfer_id"], "status": t["status"],
            "updated_at": wire.iso(t["updated_at"]), "reason": t["reason"]}


def create_transfer(sb: Sandbox, body: dict[str, Any]) -> Reply:
    """Take a transfer (accepted); it settles when next looked at — except to an account
    ending 0000, which the receiving bank refuses (closed account)."""
    t = {"transfer_id": sb.state.next_id("TR"), "payout_ref": _text(body, "payout_ref"),
         "amount_cents": _int(body, "amount_cents", 1), "bank_name": _text(body, "bank_name", 100),
         "account_name": _text(body, "account_name", 200),
         "account_number": _match(body, "account_number", ACCOUNT_RE, "8-30 digits"),
         "status": "accepted", "reason": "", "updated_at": now()}
    sb.state.transfers[t["transfer_id"]] = t
    return 201, _transfer_view(t)


def transfer_status(sb: Sandbox, body: None, transfer_id: str) -> Reply:
    t = sb.state.transfers.get(transfer_id)
    if t is None:
        raise Invalid("TRANSFER_NOT_FOUND", "no such transfer", 404)
    if t["status"] == "accepted":
        closed = t["account_number"].endswith("0000")
        t.update(status="failed" if closed else "settled", updated_at=now(),
                 reason="receiving account is closed" if closed else "")
    return 200, _transfer_view(t)


#: (vendor, method, rule, handler)
ROUTES: list[tuple[str, str, str, Handler]] = [
    ("id_check", "POST", wire.ID_CHECK, id_check),
    ("liveness", "POST", wire.LIVENESS, liveness),
    ("four_element", "POST", wire.FOUR_ELEMENT, four_element),
    ("pboc", "POST", wire.PBOC, pboc),
    ("third_party", "POST", wire.THIRD_PARTY, third_party),
    ("esign", "POST", wire.CONTRACTS, create_contract),
    ("esign", "POST", f"{wire.CONTRACTS}/<contract_id>/sign", sign_contract),
    ("esign", "GET", f"{wire.CONTRACTS}/<contract_id>", contract_status),
    ("esign", "GET", f"{wire.CONTRACTS}/<contract_id>/document", signed_document),
    ("sms", "POST", wire.SMS, send_sms),
    ("sms", "POST", wire.SMS_BATCH, send_sms_batch),
    ("collection", "POST", wire.CASES, assign_case),
    ("collection", "GET", f"{wire.CASES}/<case_id>", case_status),
    ("collection", "GET", wire.CASES, find_cases),
    ("collection", "POST", f"{wire.CASES}/<case_id>/update", update_case),
    ("collection", "POST", f"{wire.CASES}/<case_id>/withdraw", withdraw_case),
    ("collection", "POST", wire.PLACEMENTS, assign_batch),
    ("collection", "POST", wire.CASE_UPDATES, update_batch),
    ("outbound_call", "POST", wire.CALLS, place_call),
    ("payments", "POST", wire.TRANSFERS, create_transfer),
    ("payments", "GET", f"{wire.TRANSFERS}/<transfer_id>", transfer_status),
]
