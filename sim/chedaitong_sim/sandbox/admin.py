"""Admin endpoints for tests and demos: switch outages, change latency and error rates at run
time, script exact faults, read the call log and what the vendors recorded. Never faulted."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from chedaitong_sim.sandbox.faults import Fault
from vendors import wire
from vendors.masking import mask

admin = Blueprint("sandbox_admin", __name__, url_prefix="/_admin")
RECORDS = ("contracts", "messages", "cases", "inquiries", "phone_calls")
CASE_STATUSES = ("assigned", "in_progress", "promised_to_pay", "recovered", "returned",
                 "withdrawn")


def _sb():
    from chedaitong_sim.sandbox.app import sandbox_of

    return sandbox_of(current_app)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


@admin.errorhandler(ValueError)
def _bad_request(exc: ValueError) -> ResponseReturnValue:
    return jsonify({"code": "BAD_ADMIN_REQUEST", "message": str(exc)}), 400


@admin.get("/health")
def health() -> ResponseReturnValue:
    sb = _sb()
    world = sb.oracle.world
    return jsonify({"status": "ok", "world": sb.world_dir,
                    "world_summary": world.summary() if world else None})


@admin.get("/config")
def get_config() -> ResponseReturnValue:
    return jsonify(_sb().faults.snapshot())


@admin.post("/config")
def set_config() -> ResponseReturnValue:
    """``{"vendor": "pboc" | "*", "latency_ms": 50, "error_rate": 0.1, ...}``."""
    body = _body()
    vendor = body.pop("vendor", "*")
    _sb().faults.configure(str(vendor), body)
    return jsonify(_sb().faults.snapshot())


@admin.post("/outage")
def outage() -> ResponseReturnValue:
    """``{"vendor": "pboc", "down": true, "mode": "error" | "hang"}``."""
    body = _body()
    changes: dict[str, Any] = {"down": body.get("down")}
    if "mode" in body:
        changes["down_mode"] = body["mode"]
    _sb().faults.configure(str(body.get("vendor", "")), changes)
    return jsonify(_sb().faults.snapshot())


@admin.post("/script")
def script() -> ResponseReturnValue:
    """``{"vendor": "esign", "faults": [{"status": 503, "after_commit": true}, ...]}``: the next
    requests to that vendor fail in this order, one fault each."""
    body = _body()
    sb = _sb()
    vendor = str(body.get("vendor", ""))
    specs = body.get("faults")
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise ValueError("faults must be a list of objects")
    hang = max(sb.faults.configs[n].timeout_s for n in sb.faults.names(vendor))
    sb.faults.script(vendor, [Fault.from_json(s, hang) for s in specs])
    return jsonify(sb.faults.snapshot())


@admin.get("/calls")
def calls() -> ResponseReturnValue:
    """The call log, oldest first; ``?vendor=`` filters."""
    vendor = request.args.get("vendor")
    with _sb().state.lock:
        rows = [dict(c) for c in _sb().state.calls if vendor in (None, c["vendor"])]
    return jsonify(rows)


@admin.delete("/calls")
def clear_calls() -> ResponseReturnValue:
    with _sb().state.lock:
        _sb().state.calls.clear()
    return jsonify({"status": "ok"})


@admin.get("/records/<kind>")
def records(kind: str) -> ResponseReturnValue:
    """What the vendors created: contracts, messages (SMS), cases, inquiries; identifiers
    masked, documents as hashes."""
    if kind not in RECORDS:
        raise ValueError(f"kind must be one of {', '.join(RECORDS)}")
    state = _sb().state
    with state.lock:
        if kind == "contracts":
            rows = [_contract(c) for c in state.contracts.values()]
        elif kind == "messages":
            rows = [{**m, "phone": mask(m["phone"], "phone"),
                     "accepted_at": wire.iso(m["accepted_at"])} for m in state.messages]
        elif kind == "cases":
            rows = [_case(c) for c in state.cases.values()]
        elif kind == "phone_calls":
            rows = [{**c, "phone": mask(c["phone"], "phone"),
                     "placed_at": wire.iso(c["placed_at"])} for c in state.phone_calls]
        else:
            rows = list(state.inquiries)
    return jsonify(rows)


@admin.post("/cases/<case_id>")
def update_case(case_id: str) -> ResponseReturnValue:
    """Move a collection case along, as the agency would: ``{"status", "recovered_cents",
    "note"}``."""
    body = _body()
    status = body.get("status")
    if status not in CASE_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CASE_STATUSES)}")
    state = _sb().state
    from chedaitong_sim.sandbox.state import now

    with state.lock:
        case = state.cases.get(case_id)
        if case is None:
            return jsonify({"code": "CASE_NOT_FOUND", "message": "no such case"}), 404
        case.update(status=status, updated_at=now(),
                    recovered_cents=int(body.get("recovered_cents", case["recovered_cents"])),
                    note=str(body.get("note", case["note"])))
        return jsonify(_case(case))


@admin.post("/reset")
def reset() -> ResponseReturnValue:
    """Forget calls, stored responses and records (configuration is kept)."""
    _sb().state.reset()
    return jsonify({"status": "ok"})


def _contract(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "contract_id": c["contract_id"], "application_id": c["application_id"],
        "title": c["title"], "status": c["status"], "document_sha256": c["document_sha256"],
        "signers": [mask(s["id_number"], "id_number") for s in c["signers"]],
        "signed_by": [mask(s, "id_number") for s in c["signatures"]],
        "created_at": wire.iso(c["created_at"]),
    }


def _case(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "case_id": c["case_id"], "loan_id": c["loan_id"], "agency": c["agency"],
        "status": c["status"], "id_number": mask(c["id_number"], "id_number"),
        "phone": mask(c["phone"], "phone"), "overdue_amount_cents": c["overdue_amount_cents"],
        "days_past_due": c["days_past_due"], "bucket": c["bucket"],
        "recovered_cents": c["recovered_cents"], "note": c["note"],
        "assigned_at": wire.iso(c["assigned_at"]), "updated_at": wire.iso(c["updated_at"]),
    }
