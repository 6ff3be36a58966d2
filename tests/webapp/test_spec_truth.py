"""The OpenAPI document matches what is sent: money as decimal strings (with a pattern the
values match), timestamps with an offset on every backend, error bodies within the error
schema, links from each step to the next."""

from __future__ import annotations

import re
from datetime import datetime

from .conftest import new_application, register_customer

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def test_money_is_documented_as_the_decimal_strings_it_is(api, staff):
    client = api.test_client()
    spec = client.get("/openapi.json").json
    schemas = spec["components"]["schemas"]
    for name, field in (("ApplicationIn", "loan_amount"), ("ApplicationDetail", "loan_amount"),
                        ("VoucherOut", "amount"), ("ReviewIn", "annual_rate")):
        prop = schemas[name]["properties"][field]
        assert prop["type"] == "string" and prop["format"] == "decimal", (name, prop)
        assert "minimum" not in prop
    _, idn = register_customer(client, "money", 90)
    app = new_application(client, staff, "c1", idn)
    pattern = re.compile(schemas["ApplicationDetail"]["properties"]["loan_amount"]["pattern"])
    for field in ("loan_amount", "vehicle_price", "down_payment"):
        assert isinstance(app[field], str) and pattern.match(app[field]), app[field]


def test_every_timestamp_is_sent_with_its_offset(api, staff):
    client = api.test_client()
    _, idn = register_customer(client, "clock", 91)
    app = new_application(client, staff, "c1", idn)
    stamps = [app["created_at"], app["submitted_at"], app["decision"]["decided_at"],
              *(d["uploaded_at"] for d in app["documents"])]
    history = client.get(f"/applications/{app['id']}/history", headers=staff.h("c1")).json
    stamps += [h["at"] for h in history]
    stamps += [t["created_at"] for t in client.get("/auth/tokens", headers=staff.h("c1")).json]
    for stamp in stamps:
        assert ISO_WITH_OFFSET.match(stamp), stamp
        assert datetime.fromisoformat(stamp).utcoffset() is not None


def test_error_bodies_fit_the_error_schema(api, staff):
    client = api.test_client()
    spec = client.get("/openapi.json").json
    error = spec["components"]["schemas"]["Error"]
    assert error.get("additionalProperties") is not False  # a 409 adds current_state
    assert {"code", "status", "message", "errors", "current_state"} <= set(error["properties"])
    _, idn = register_customer(client, "err", 92)
    app = new_application(client, staff, "c1", idn)
    refused = client.post(f"/applications/{app['id']}/submit", headers=staff.h("c1"))
    assert refused.status_code == 409
    assert set(refused.json) <= set(error["properties"])


def test_links_walk_the_journey(api):
    spec = api.test_client().get("/openapi.json").json
    paths = spec["paths"]

    def links(path, method, status):
        return {name: link["operationRef"] for name, link in
                paths[path][method]["responses"][status].get("links", {}).items()}

    app = "/applications/{application_id}"
    assert links("/applications", "post", "201")["UploadAuthorization"].endswith(
        "~1authorization/post")
    assert links(f"{app}/authorization", "post", "201")["Submit"].endswith("~1submit/post")
    assert links(f"{app}/submit", "post", "200")["ChoosePlan"].endswith("~1plan/post")
    assert links(f"{app}/plan", "post", "200")["CreateContract"].endswith("~1contract/post")
    assert links(f"{app}/contract", "post", "201")["SignContract"].endswith("~1sign/post")
