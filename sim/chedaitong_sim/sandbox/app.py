"""The sandbox vendor service: one Flask app playing every vendor, with realistic latency and
failures, idempotency and a call log, so adapters and the demo meet real-world behaviour.

Every vendor request goes through `_pipeline`:
outage → latency → fault before the work → idempotency check / handler → fault after the work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request

from chedaitong_sim.sandbox.answers import Oracle
from chedaitong_sim.sandbox.faults import Fault, Faults, default_configs
from chedaitong_sim.sandbox.routes import ROUTES, Handler, Invalid, Reply
from chedaitong_sim.sandbox.state import SandboxState, StoredResponse
from chedaitong_sim.sandbox.world import World
from vendors.masking import mask

EXTENSION = "vendor_sandbox"


@dataclass
class Sandbox:
    oracle: Oracle
    faults: Faults
    state: SandboxState
    world_dir: str | None


def create_sandbox_app(
    world_dir: str | Path | None = None,
    *,
    latency_ms: float | Mapping[str, float] | None = None,
    error_rate: float = 0.0,
    timeout_rate: float = 0.0,
    seed: int = 0,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Flask:
    """A sandbox app. ``world_dir``: answer from that synthetic world (else from hashes).
    ``latency_ms``: median latency for all vendors or per vendor (None: realistic defaults);
    ``error_rate``/``timeout_rate``: share of requests failing with 500/503 or hanging;
    ``seed`` fixes the random faults and latencies; ``config``: per-vendor `VendorConfig` knobs.
    """
    world = World.load(world_dir) if world_dir is not None else None
    faults = Faults(default_configs(latency_ms, error_rate, timeout_rate), seed=seed)
    for vendor, changes in (config or {}).items():
        faults.configure(vendor, changes)
    sandbox = Sandbox(Oracle(world), faults, SandboxState(),
                      str(world_dir) if world is not None else None)

    app = Flask("chedaitong_sim.sandbox")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = sandbox
    for vendor, method, rule, handler in ROUTES:
        app.add_url_rule(rule, endpoint=f"{vendor}:{handler.__name__}", methods=[method],
                         view_func=_view(sandbox, vendor, handler))

    from chedaitong_sim.sandbox.admin import admin

    app.register_blueprint(admin)
    return app


def sandbox_of(app: Flask) -> Sandbox:
    return app.extensions[EXTENSION]


def _view(sb: Sandbox, vendor: str, handler: Handler):
    def view(**path: str) -> Response:
        return _pipeline(sb, vendor, handler, path)

    view.__name__ = f"{vendor}_{handler.__name__}"
    return view


def _pipeline(sb: Sandbox, vendor: str, handler: Handler, path: dict[str, str]) -> Response:
    body = request.get_json(silent=True) if request.method == "POST" else None
    key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    call = sb.state.record({
        "vendor": vendor, "method": request.method, "path": request.path,
        "idempotency_key": key, "subject": _subject(body), "status": None, "fault": None,
        "replayed": False,
    })
    latency, fault = sb.faults.plan(vendor)
    if fault is not None and fault.kind == "outage":
        sb.state.sleep(fault.hang_s)
        return _finish(call, _error(503, "SERVICE_UNAVAILABLE", "vendor is down"), "outage")
    sb.state.sleep(latency)
    if fault is not None and not fault.after_commit:
        if fault.kind == "timeout":
            sb.state.sleep(fault.hang_s)  # the client has given up; the work still happens
            call["fault"] = "timeout"
        else:
            return _finish(call, _fault_response(fault), "error")
    response = _execute(sb, vendor, handler, body, key, path, call)
    if fault is not None and fault.after_commit:
        if fault.kind == "timeout":
            sb.state.sleep(fault.hang_s)
            return _finish(call, response, "timeout_after_commit")
        return _finish(call, _fault_response(fault), "error_after_commit")
    return _finish(call, response, call["fault"])


def _execute(sb: Sandbox, vendor: str, handler: Handler, body: Any, key: str | None,
             path: dict[str, str], call: dict[str, Any]) -> Response:
    """Run the handler; a repeated Idempotency-Key gets the stored first answer instead."""
    if request.method == "POST" and not isinstance(body, dict):
        return _error(400, "INVALID_JSON", "the body must be a JSON object")
    if key is None:
        return _reply(sb, handler, body, path)
    fingerprint = hashlib.sha256(request.get_data()).hexdigest()
    with sb.state.lock:  # check-and-create is atomic, so two concurrent retries create once
        stored = sb.state.idempotent.get((vendor, key))
        if stored is not None:
            if stored.fingerprint != fingerprint:
                return _error(422, "IDEMPOTENCY_KEY_REUSED",
                              "this Idempotency-Key was used with a different request")
            call["replayed"] = True
            resp = jsonify(stored.body)
            resp.status_code = stored.status
            resp.headers["Idempotent-Replayed"] = "true"
            return resp
        resp = _reply(sb, handler, body, path)
        if 200 <= resp.status_code < 300 and resp.is_json:
            sb.state.idempotent[(vendor, key)] = StoredResponse(
                fingerprint, resp.status_code, resp.get_json())
        return resp


def _reply(sb: Sandbox, handler: Handler, body: Any, path: dict[str, str]) -> Response:
    try:
        out: Reply = handler(sb, body, **path)
    except Invalid as exc:
        return _error(exc.status, exc.code, exc.message)
    if isinstance(out, Response):
        return out
    status, payload = out
    resp = jsonify(payload)
    resp.status_code = status
    return resp


def _fault_response(fault: Fault) -> Response:
    code = {429: "RATE_LIMITED", 500: "INTERNAL_ERROR", 502: "BAD_GATEWAY",
            503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}.get(fault.status, "FAULT")
    resp = _error(fault.status, code, "injected fault")
    if fault.retry_after is not None:
        resp.headers["Retry-After"] = str(int(fault.retry_after))
    return resp


def _error(status: int, code: str, message: str) -> Response:
    resp = jsonify({"code": code, "message": message})
    resp.status_code = status
    return resp


def _finish(call: dict[str, Any], resp: Response, fault: str | None) -> Response:
    call["status"], call["fault"] = resp.status_code, fault
    return resp


def _subject(body: Any) -> str | None:
    """Who the call is about, masked (the call log is readable over HTTP)."""
    if not isinstance(body, dict):
        return None
    for key, kind in (("id_number", "id_number"), ("signer_id_number", "id_number"),
                      ("phone", "phone")):
        if isinstance(body.get(key), str):
            return mask(body[key], kind)  # type: ignore[arg-type]
    return None
