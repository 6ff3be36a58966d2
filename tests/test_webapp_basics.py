"""The API's outer shell: health, JSON errors, OpenAPI."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from chedaitong.db import migrate as migrations


def test_healthz_tells_the_public_only_ok(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json == {"status": "ok"}


def test_healthz_reports_database_and_revision_to_an_operator(client, engine):
    from sqlalchemy.orm import Session

    from chedaitong.db import Role, User
    from decisioning.origination.accounts import issue_token

    with Session(engine) as s:
        admin, dealer_user = User(username="op", display_name="op", role=Role.ADMIN), User(
            username="cu", display_name="cu", role=Role.CUSTOMER)
        s.add_all([admin, dealer_user])
        s.flush()
        admin_token, customer_token = issue_token(s, admin), issue_token(s, dealer_user)
        s.commit()
    assert client.get("/healthz", headers={"Authorization": f"Bearer {customer_token}"}
                      ).json == {"status": "ok"}
    r = client.get("/healthz", headers={"Authorization": f"Bearer {admin_token}"})
    assert r.status_code == 200
    assert r.json["status"] == "ok"
    assert r.json["database"]["reachable"] is True
    assert r.json["database"]["revision"] == migrations.head_revision()
    assert "chedaitong" in r.json["versions"]


def test_healthz_is_503_when_the_database_is_unreachable(settings):
    from dataclasses import replace

    from webapp import create_app

    app = create_app(replace(settings, database_url="postgresql+psycopg://nobody@127.0.0.1:1/x"))
    r = app.test_client().get("/healthz")
    assert r.status_code == 503
    assert r.json == {"status": "not ok"}  # no dialect, host or error text for the public


def test_unknown_route_is_json_404(client):
    r = client.get("/no/such/page")
    assert r.status_code == 404
    assert r.is_json and r.json["code"] == 404 and r.json["message"]


class EchoSchema(Schema):
    amount = fields.Decimal(required=True, as_string=True)


def test_bodies_are_validated_with_field_names_and_bad_json_is_400(app):
    blp = Blueprint("echo", __name__)

    @blp.route("/echo", methods=["POST"])
    @blp.arguments(EchoSchema)
    @blp.response(200, EchoSchema)
    def echo(body):
        return body

    app.extensions["flask-smorest"]["apis"][""]["ext_obj"].register_blueprint(blp)
    client = app.test_client()
    bad_json = client.post("/echo", data="{not json", content_type="application/json")
    assert bad_json.status_code == 400 and bad_json.is_json
    missing = client.post("/echo", json={"amount": "abc"})
    assert missing.status_code == 422
    assert "amount" in missing.json["errors"]["json"]
    assert client.post("/echo", json={"amount": "12.50"}).json == {"amount": "12.50"}


def test_unexpected_errors_are_json_500_without_a_traceback(app):
    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    r = app.test_client().get("/boom")
    assert r.status_code == 500 and r.is_json
    assert "secret internals" not in r.get_data(as_text=True)


def test_openapi_document_is_served(client):
    doc = client.get("/openapi.json").json
    assert doc["info"]["title"] == "Chedaitong API"
    assert "/healthz" in doc["paths"]
