"""The schemathesis run over the dealer, payout, profile-update, ID-card, collections and
ingest operations (#21), sent as the roles that may call them — the general run
(`test_fuzz.py`) signs in as roles these mostly refuse with 403, which proves little."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from chedaitong.db import Role, User
from decisioning.origination.accounts import issue_token

from .conftest import new_application, register_customer
from .fuzzing import fuzz_operations

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402

EXAMPLES = 12
PREFIXES = ("/admin/dealers", "/admin/consultants", "/admin/audit", "/payouts",
            "/customers/me/profile", "/customers/me/id-card", "/collections", "/ingest")
ROLES = ("ad", "co", "customer", "pay", "trk")


def test_partner_operations_never_answer_5xx(api, staff, engine):
    client = api.test_client()
    token, idn = register_customer(client, "fuzzy", 8)
    staff.tokens["customer"] = token
    with Session(engine) as s:
        for name, role in (("pay", Role.PAYMENT_CHANNEL), ("trk", Role.VEHICLE_TRACKER)):
            u = User(username=f"partner-{name}", display_name=name, role=role)
            s.add(u)
            s.flush()
            staff.tokens[name] = issue_token(s, u)
        s.commit()
    new_application(client, staff, "c1", idn)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api)
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [o for o in operations if o.path.startswith(PREFIXES)]
    assert len(operations) >= 20
    failures = fuzz_operations(operations, ROLES, staff.h, [not_a_server_error], EXAMPLES)
    assert not failures, "\n".join(failures[:20])


NEW_OPERATIONS = {
    ("post", "/admin/dealers"), ("get", "/admin/dealers"), ("get", "/admin/dealers/{dealer_id}"),
    ("patch", "/admin/dealers/{dealer_id}"), ("post", "/admin/dealers/{dealer_id}/consultants"),
    ("post", "/admin/dealers/{dealer_id}/account-changes/{change_id}/decision"),
    ("get", "/admin/dealers/account-changes"),
    ("patch", "/admin/consultants/{user_id}"), ("get", "/admin/audit"), ("get", "/payouts"),
    ("get", "/payouts/{payout_id}"), ("post", "/payouts/export"), ("post", "/payouts/reconcile"),
    ("post", "/payouts/{payout_id}/retry"), ("post", "/payouts/send"), ("post", "/payouts/sync"),
    ("patch", "/customers/me/profile"), ("get", "/customers/me/profile/history"),
    ("post", "/customers/me/id-card"), ("get", "/collections/cases"),
    ("get", "/collections/cases/{loan_id}"), ("post", "/collections/cases/{loan_id}/outcomes"),
    ("post", "/collections/cases/{loan_id}/call"), ("post", "/ingest/repayments"),
    ("post", "/ingest/vehicle-positions"),
}


def test_every_new_operation_is_documented_with_bearer_auth(api):
    spec = api.test_client().get("/openapi.json").json
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops if m != "parameters"}
    assert documented >= NEW_OPERATIONS, sorted(NEW_OPERATIONS - documented)
    for method, path in NEW_OPERATIONS:
        op = spec["paths"][path][method]
        assert op["security"] == [{"bearerAuth": []}] and op.get("summary"), (method, path)
    assert ("put", "/customers/me/profile") in documented  # the first-use PUT is kept
