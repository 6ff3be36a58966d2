"""OpenAPI fuzzing: schemathesis generates requests for every operation in /openapi.json and
sends them to the app in-process (WSGI) as a consultant, a customer, a reviewer and an
analyst. Whatever it sends, the API must answer 4xx, never 5xx, and every answer must match
what the document says (status, media type, body schema)."""

from __future__ import annotations

import pytest

from featurestore import catalog
from ruleengine.rulebook import RuleBook
from webapp.services import EXTENSION

from .conftest import ROOT, new_application, register_customer
from .fuzzing import fuzz_operations

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

#: no 5xx, and every answer as documented (status, media type, body schema)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]

EXAMPLES = 15  # per operation; each example is sent once per role
ROLES = ("c1", "customer", "r1", "an")


@pytest.mark.slow  # collected first: a long set-up or run handed out last stretches -n 2
def test_no_operation_answers_5xx_to_generated_requests(api, staff):
    rulebook = RuleBook(ROOT / "rules", catalog=catalog())  # the stub decision service has none
    api.extensions[EXTENSION].decisions.rules = rulebook
    client = api.test_client()
    token, idn = register_customer(client, "fuzzy", 7)
    staff.tokens["customer"] = token
    new_application(client, staff, "c1", idn)  # something to find at /applications/1
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    failures = fuzz_operations(operations, ROLES, staff.h, CHECKS, EXAMPLES)
    rulebook.close()
    assert not failures, "\n".join(failures[:20])
