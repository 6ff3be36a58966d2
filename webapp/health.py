"""`/healthz`: is the database reachable, and which versions are serving."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from chedaitong import __version__
from chedaitong.db import DatabaseUnavailable, check_reachable
from chedaitong.db import migrate as migrations
from webapp import database

blp = Blueprint("health", __name__, description="Liveness and versions")


class DatabaseHealthSchema(Schema):
    reachable = fields.Boolean(required=True)
    dialect = fields.String(required=True)
    revision = fields.String(allow_none=True)
    head = fields.String(allow_none=True)
    error = fields.String()


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"description": "ok | degraded"})
    database = fields.Nested(DatabaseHealthSchema, required=True)
    versions = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))


@blp.route("/healthz")
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="The database is unreachable")
def healthz():
    engine = database.engine()
    db = {"reachable": True, "dialect": engine.dialect.name, "head": migrations.head_revision()}
    try:
        check_reachable(engine)
        db["revision"] = migrations.current_revision(engine)
    except DatabaseUnavailable as exc:
        db.update(reachable=False, error=str(exc))
    body = {
        "status": "ok" if db["reachable"] else "degraded",
        "database": db,
        "versions": {"chedaitong": __version__},
    }
    return body, (200 if db["reachable"] else 503)
