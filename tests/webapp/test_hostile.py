"""Hostile bodies on every JSON endpoint: each class of input the audit sent is a 4xx naming the
problem, never a 5xx — on the anonymous registration as on every signed-in operation."""

from __future__ import annotations

import io
import json

import pytest

from featurestore import catalog
from ruleengine.rulebook import RuleBook
from webapp.parsing import MAX_DEPTH, BadJson, strict_loads
from webapp.services import EXTENSION

from .conftest import PDF, ROOT, register_customer

LONE_SURROGATE = b'{"username": "ab\\ud800c", "display_name": "x"}'
DEEP = b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b"}"  # ~2 KB, the audit's size
HOSTILE = {
    "lone surrogate": LONE_SURROGATE,
    "lone surrogate in a key": b'{"\\udfff": 1}',
    "NUL character": b'{"username": "ab\\u0000c", "display_name": "x"}',
    "nesting 1000 deep": DEEP,
    "nesting just over the limit": b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    "duplicate keys": b'{"username": "abc", "username": "abd", "display_name": "x"}',
    "NaN": b'{"vehicle_price": NaN}',
    "Infinity": b'{"vehicle_price": -Infinity}',
    "invalid UTF-8": b'{"username": "\xff\xfe"}',
    "truncated": b'{"username": ',
    "huge integer": b'{"term_months": ' + b"9" * 5000 + b"}",
    "not an object": b"[1, 2, 3]",
    "bare string": b'"x"',
    "null": b"null",
    "empty object": b"{}",
}
REFUSED_BY_PARSER = {"lone surrogate", "lone surrogate in a key", "NUL character",
                     "nesting 1000 deep",
                     "nesting just over the limit", "duplicate keys", "NaN", "Infinity",
                     "invalid UTF-8", "truncated", "huge integer"}


def json_operations(app) -> list[tuple[str, str]]:
    """(method, concrete path) of every operation in the spec that takes a body (JSON or
    not: a JSON body sent where a form or nothing is expected must be refused as cleanly)."""
    spec = app.test_client().get("/openapi.json").json
    out = []
    for path, item in spec["paths"].items():
        for method in ("post", "put", "patch", "delete"):
            if method in item:
                concrete = (path.replace("{application_id}", "1").replace("{source}", "gps")
                            .replace("{kind}", "purchase_invoice").replace("{token_id}", "1"))
                out.append((method.upper(), concrete))
    return out


def test_the_parser_names_each_problem():
    with pytest.raises(BadJson, match="lone surrogate") as e:
        strict_loads(b'{"profile": {"name": "\\ud800"}}')
    assert e.value.where == "profile.name"
    with pytest.raises(BadJson, match="duplicate key 'a'"):
        strict_loads(b'{"a": 1, "a": 2}')
    with pytest.raises(BadJson, match="nested deeper"):
        strict_loads(DEEP)
    with pytest.raises(BadJson, match="NaN is not a JSON number"):
        strict_loads(b"[NaN]")
    assert strict_loads('{"name": "张三", "n": [1, {"x": null}]}'.encode()) == {
        "name": "张三", "n": [1, {"x": None}]}


@pytest.fixture
def rules_api(api):
    """The stub decision service has no rule book; the rules endpoints need a real one."""
    rulebook = RuleBook(ROOT / "rules", catalog=catalog())
    api.extensions[EXTENSION].decisions.rules = rulebook
    yield api
    rulebook.close()


def test_every_json_endpoint_refuses_hostile_bodies_with_4xx(rules_api, staff):
    api = rules_api
    client = api.test_client()
    token, _ = register_customer(client, "hostile", 41)
    operations = json_operations(api)
    assert len(operations) >= 10
    server_errors, not_named = [], []
    for method, path in operations:
        for who in ("anonymous", "customer", "c1", "ad"):
            headers = {} if who == "anonymous" else (
                {"Authorization": f"Bearer {token}"} if who == "customer" else staff.h(who))
            for label, body in HOSTILE.items():
                r = client.open(path, method=method, data=body, headers=headers,
                                content_type="application/json")
                if r.status_code >= 500:
                    server_errors.append(f"{method} {path} as {who}, {label}: {r.status_code}")
                if label in REFUSED_BY_PARSER and (
                        r.status_code != 400 or "refused" not in r.json["message"]):
                    not_named.append(f"{method} {path} as {who}, {label}: {r.status_code} "
                                     f"{r.json}")
    assert not server_errors, "\n".join(server_errors[:20])
    assert not not_named, "\n".join(not_named[:20])


def test_anonymous_registration_with_a_lone_surrogate_is_400_naming_the_field(client):
    r = client.post("/customers/register", data=LONE_SURROGATE,
                    content_type="application/json")
    assert r.status_code == 400
    assert r.json["errors"] == {"json": {"username": [
        "contains invalid Unicode (a lone surrogate escape such as \\ud800)"]}}


def test_duplicate_keys_are_refused_not_last_one_wins(client):
    r = client.post("/customers/register",
                    data=b'{"username": "abc", "display_name": "x", "username": "root"}',
                    content_type="application/json")
    assert r.status_code == 400 and r.json["errors"]["json"] == {
        "username": ["duplicate key 'username'"]}


def test_clean_json_still_works(client):
    r = client.post("/customers/register", data=json.dumps(
        {"username": "clean", "display_name": "张三"}, ensure_ascii=False).encode(),
        content_type="application/json")
    assert r.status_code == 201


def test_nul_and_surrogates_in_query_strings_and_forms_are_400(api, staff):
    client = api.test_client()
    r = client.get("/applications?state=draft%00", headers=staff.h("c1"))
    assert r.status_code == 400 and r.json["errors"]["query"]["state"]
    r = client.post("/pages/login", data={"username": "a\x00b", "token": "x"})
    assert r.status_code == 400
    r = client.post("/applications/1/authorization", headers=staff.h("c1"),
                    data={"file": (io.BytesIO(PDF), "a\x00.pdf"), "note": "x\x00"},
                    content_type="multipart/form-data")
    assert r.status_code == 400


@pytest.mark.parametrize(("content", "reason"), [
    (b"payout_ref,status,bank_ref,reason\n" + b"x" * 200_000 + b",paid,,\n", "line 2"),
    (b"payout_ref" + b"x" * 200_000 + b",status\n", "line 1"),
    (b"payout_ref,status,bank_ref,reason\nPO\x00X,paid,,\n", "NUL"),
], ids=["overlong field", "overlong header", "NUL"])
def test_a_bank_status_file_the_csv_reader_cannot_read_is_422(api, staff, content, reason):
    """A field over the csv module's limit raised `csv.Error` (500); a NUL reached the
    database (500 on PostgreSQL). Both are 422 naming the file, the API and the page alike."""
    r = api.test_client().post("/payouts/reconcile", headers=staff.h("ad"),
                               content_type="multipart/form-data",
                               data={"file": (io.BytesIO(content), "status.csv")})
    assert r.status_code == 422, r.json
    assert reason in " ".join(r.json["errors"]["json"]["file"])


def test_a_chunked_body_over_the_size_limit_is_413_not_a_truncated_json_400(client):
    """Werkzeug stops a body without Content-Length at MAX_CONTENT_LENGTH without saying so:
    the view read the first 12 MB and answered "not valid JSON: Unterminated string"."""
    body = b'{"username": "' + b"a" * (13 * 1024 * 1024) + b'", "display_name": "x"}'
    r = client.post("/customers/register", input_stream=io.BytesIO(body),
                    headers={"Content-Type": "application/json",
                             "Transfer-Encoding": "chunked"},
                    environ_overrides={"wsgi.input_terminated": True})
    assert r.status_code == 413, r.json
