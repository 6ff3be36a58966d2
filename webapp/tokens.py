"""`/auth/tokens`: a signed-in user lists, rotates and revokes their own API tokens (an admin
may revoke anyone's). The clear value of a token is in the creation answer only."""

from __future__ import annotations

from datetime import timedelta

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from decisioning.origination import tokens
from webapp import database
from webapp.auth import BEARER, current_user
from webapp.idempotency import idempotent
from webapp.schemas import Strict

blp = Blueprint("auth", __name__, description="API tokens: rotation and revocation")


class NewTokenIn(Strict):
    label = fields.String(load_default="", validate=validate.Length(max=64))
    ttl_days = fields.Integer(load_default=30, strict=True, validate=validate.Range(1, 30),
                              metadata={"description": "days until it expires (at most 30)"})
    revoke_current = fields.Boolean(load_default=False, metadata={
        "description": "revoke the token this request was sent with"})


class TokenInfo(Schema):
    id = fields.Integer()
    label = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    current = fields.Boolean(metadata={"description": "the token of this request"})


class NewTokenOut(TokenInfo):
    token = fields.String(allow_none=True, metadata={
        "description": "shown once; send as Bearer token (null in an idempotent replay)"})
    secret_note = fields.String(metadata={
        "description": "in an idempotent replay: the token was issued with the first answer"})


def _info(row) -> dict:
    return {"id": row.id, "label": row.label, "created_at": row.created_at,
            "expires_at": row.expires_at, "last_used_at": row.last_used_at,
            "revoked_at": row.revoked_at, "current": row.id == g.get("token_id")}


@blp.route("/auth/tokens")
@blp.response(200, TokenInfo(many=True))
@blp.doc(security=[BEARER])
def list_tokens():
    """The caller's tokens (never their values), with expiry and last use."""
    return [_info(t) for t in tokens.list_tokens(session=database.session(),
                                                 user=current_user())]


@blp.route("/auth/tokens", methods=["POST"])
@idempotent(secret_fields=("token",))
@blp.arguments(NewTokenIn)
@blp.response(201, NewTokenOut)
@blp.doc(security=[BEARER])
def create_token(body):
    """Rotate: a new token for the caller (shown once); ``revoke_current`` retires the one used
    for this request."""
    user = current_user()
    row, value = tokens.rotate(session=database.session(), user=user,
                               current_id=g.get("token_id"), label=body["label"],
                               ttl=timedelta(days=body["ttl_days"]),
                               revoke_current=body["revoke_current"])
    return {**_info(row), "token": value}


@blp.route("/auth/tokens/<int:token_id>", methods=["DELETE"])
@blp.response(204)
@blp.doc(security=[BEARER])
def revoke_token(token_id: int):
    """Revoke a token at once (the caller's own; an admin: anyone's). Unknown: 404."""
    tokens.revoke(session=database.session(), actor=current_user(), token_id=token_id)
