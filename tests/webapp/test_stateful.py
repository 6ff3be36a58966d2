"""schemathesis' stateful phase over the served spec: it follows the links from one answer to
the next operation (application → authorisation → submit → plan → contract → sign → liveness),
each step sent as the role that may call it (consultant, customer, reviewer, analyst); the
customer consents to each application the walk files (submit needs it) and submit waits for
the decision (its 200 links to the plan). Every
answer must be a non-5xx that matches the documented schema; the walk must reach submit and
plan. The coverage (operation → statuses seen) is printed for the issue's note."""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, settings

from featurestore import catalog
from ruleengine.rulebook import RuleBook
from webapp.services import EXTENSION

from .conftest import APPLICATION, JPEG, PDF, ROOT, grant_consent, register_customer

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SCENARIOS = int(os.environ.get("CHEDAITONG_STATEFUL_SCENARIOS", "25"))
CUSTOMER_PATHS = re.compile(r"^/customers/me|/plan$|/contract/sign$|/reapply$"
                            r"|^/applications/\{application_id\}/liveness$")
REVIEWER_PATHS = re.compile(r"^/reviews|/book$")
ANALYST_PATHS = re.compile(r"^/admin/rules")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def role_for(path: str) -> str:
    if CUSTOMER_PATHS.search(path):
        return "customer"
    if REVIEWER_PATHS.search(path):
        return "r1"
    if ANALYST_PATHS.search(path):
        return "an"
    return "c1"


def test_the_stateful_walk_reaches_submit_and_plan_without_5xx_or_schema_violations(
        api, staff, capsys):
    rulebook = RuleBook(ROOT / "rules", catalog=catalog())
    api.extensions[EXTENSION].decisions.rules = rulebook
    client = api.test_client()
    token, idn = register_customer(client, "walker", 80)
    staff.tokens["customer"] = token
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api)
    schema.config.phases.stateful.inference.algorithms = []  # the spec's own links only
    seen: dict[str, set[int]] = defaultdict(set)
    failures: list[str] = []

    class Walk(schema.as_state_machine()):
        def before_call(self, case):
            path, method = case.operation.path, case.method.upper()
            case.headers = {**(case.headers or {}), **staff.h(role_for(path))}
            if (method, path) == ("POST", "/applications"):
                case.body = {**APPLICATION, "id_number": idn}  # a customer that exists
            elif method == "POST" and path.endswith("/submit"):
                case.query = {"wait": 20}  # the decision's answer (200), linked to the plan
            elif method == "POST" and path.endswith("/plan"):
                case.body = {}  # the recommended plan
            elif isinstance(case.body, dict) and "file" in case.body:
                case.body = {"file": PDF}
            elif isinstance(case.body, dict) and "selfie" in case.body:
                case.body = {"selfie": JPEG}

        def after_call(self, response, case):
            super().after_call(response, case)
            if ((case.method.upper(), case.operation.path) == ("POST", "/applications")
                    and response.status_code == 201):
                # the customer confirms the consultant's application in the user app and
                # consents to the credit inquiry: without it submit is refused (409)
                grant_consent(client, token, response.json()["id"])

        def get_call_kwargs(self, case):
            return {"headers": staff.h(role_for(case.operation.path))}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            label = f"{case.method.upper()} {case.operation.path}"
            seen[label].add(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect all
                failures.append(f"{label} → {response.status_code}: {str(exc)[:400]}")

    Walk.run(settings=settings(max_examples=SCENARIOS, stateful_step_count=12, deadline=None,
                               database=None, derandomize=True, print_blob=False,
                               suppress_health_check=list(HealthCheck)))
    rulebook.close()
    links = sum(len(r.get("links", {})) for item in schema.raw_schema["paths"].values()
                for op in item.values() if isinstance(op, dict)
                for r in op.get("responses", {}).values())
    report = {"links": links, "operations_reached": len(seen),
              "coverage": {k: sorted(v) for k, v in sorted(seen.items())}}
    with capsys.disabled():
        print("\nstateful coverage:", json.dumps(report, indent=1, ensure_ascii=False))
    assert not failures, "\n".join(sorted(set(failures))[:25])
    ok = {label for label, codes in seen.items() if any(200 <= c < 300 for c in codes)}
    assert "POST /applications/{application_id}/submit" in ok, report
    assert "POST /applications/{application_id}/plan" in ok, report
