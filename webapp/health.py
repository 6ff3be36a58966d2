"""`/healthz`: ok or not ok for anyone (a load balancer, a monitor); which database, revision
and versions are serving only for an admin or analyst who sends their token — the rest of the
world learns nothing about the stack from it."""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from chedaitong import __version__
from chedaitong.db import DatabaseUnavailable, Role, check_reachable
from chedaitong.db import migrate as migrations
from webapp import database
from webapp.auth import BEARER, current_user

blp = Blueprint("health", __name__, description="Liveness (and versions, for operators)")
OPERATORS = (Role.ADMIN, Role.ANALYST)


class DatabaseHealthSchema(Schema):
    reachable = fields.Boolean(required=True)
    dialect = fields.String(required=True)
    revision = fields.String(allow_none=True)
    head = fields.String(allow_none=True)
    error = fields.String()


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"description": "ok | not ok",
                                                    "enum": ["ok", "not ok"]})
    database = fields.Nested(DatabaseHealthSchema, metadata={
        "description": "only for an admin or analyst token"})
    versions = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True),
                           metadata={"description": "only for an admin or analyst token"})


@blp.route("/healthz")
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="The database is unreachable")
@blp.doc(security=[{}, BEARER])
def healthz():
    engine = database.engine()
    db = {"reachable": True, "dialect": engine.dialect.name, "head": migrations.head_revision()}
    try:
        check_reachable(engine)
        db["revision"] = migrations.current_revision(engine)
    except DatabaseUnavailable as exc:
        db.update(reachable=False, error=str(exc))
    body: dict = {"status": "ok" if db["reachable"] else "not ok"}
    # the token is checked only on a reachable database (the check reads it)
    if db["reachable"] and request.headers.get("Authorization") and \
            current_user().role in OPERATORS:
        body.update(database=db, versions={"chedaitong": __version__})
    return body, (200 if db["reachable"] else 503)
