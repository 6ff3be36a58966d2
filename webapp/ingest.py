"""Partner servers: a payment channel's repayment notifications and a vehicle tracker's
positions. Each partner signs in with a token of its own role and can call nothing else."""

from __future__ import annotations

from flask_smorest import Blueprint

from chedaitong.db import Role
from decisioning import ingest
from webapp import database
from webapp.auth import BEARER, current_user, roles_required
from webapp.partner_schemas import PositionsIn, PositionsOut, RepaymentsIn, RepaymentsOut
from webapp.services import services

blp = Blueprint("ingest", __name__, description="Partner ingest: repayments, vehicle GPS")


@blp.route("/ingest/repayments", methods=["POST"])
@roles_required(Role.PAYMENT_CHANNEL)
@blp.arguments(RepaymentsIn)
@blp.response(200, RepaymentsOut)
@blp.doc(security=[BEARER])
def repayments(body):
    """Repayment notifications, idempotent by the channel's reference: a notification sent
    again answers already_posted and posts nothing."""
    return {"results": ingest.post_repayments(session=database.session(),
                                              channel=current_user(),
                                              notifications=body["notifications"])}


@blp.route("/ingest/vehicle-positions", methods=["POST"])
@roles_required(Role.VEHICLE_TRACKER)
@blp.arguments(PositionsIn)
@blp.response(201, PositionsOut)
@blp.doc(security=[BEARER])
def vehicle_positions(body):
    """A batch of tracker positions: all or nothing, each bad record named by index and
    field; stored encrypted, reduced to facts for the nightly inspection."""
    return ingest.vehicle_positions(session=database.session(), store=services().store,
                                    positions=body["positions"])
