"""A dealer's stock (the vehicles it offers, with list prices): kept by an admin for the
dealer, read by its consultants, and the only source of "a cheaper car within the dealer's
stock" in re-apply guidance (`decisioning.guidance.dealer_stock` reads it).

Every change is audited like the rest of dealer administration. A vehicle taken off sale is
marked inactive, not deleted, so what guidance suggested earlier can still be explained.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Dealer, Role, User
from chedaitong.db.stock import DealerVehicle
from chedaitong.errors import Invalid, NotFound
from decisioning.origination.dealers import audit
from servicing.money import money


def check_can_read(user: User, dealer_id: int) -> None:
    """Staff may read any dealer's stock; a consultant only their own dealer's."""
    if user.role is Role.CONSULTANT and user.dealer_id != dealer_id:
        raise NotFound(f"no dealer {dealer_id}")  # not disclosed to another dealer


def listing(session: Session, dealer_id: int, *, active_only: bool = False
            ) -> list[DealerVehicle]:
    """The dealer's vehicles, dearest first."""
    q = select(DealerVehicle).where(DealerVehicle.dealer_id == dealer_id)
    if active_only:
        q = q.where(DealerVehicle.active.is_(True))
    return list(session.scalars(q.order_by(DealerVehicle.price.desc(), DealerVehicle.id)))


def put(*, session: Session, actor: User | None, dealer: Dealer, vehicle_brand: str,
        vehicle_model: str, price: Decimal | str, active: bool = True) -> DealerVehicle:
    """Add a vehicle to the dealer's stock, or change its price / availability (audited)."""
    try:
        amount = money(price, "price")
    except (TypeError, ValueError) as exc:
        raise Invalid("price", str(exc)) from None
    if amount <= 0:
        raise Invalid("price", "must be more than zero")
    row = session.scalar(select(DealerVehicle).where(
        DealerVehicle.dealer_id == dealer.id, DealerVehicle.vehicle_brand == vehicle_brand,
        DealerVehicle.vehicle_model == vehicle_model))
    before = None if row is None else {"price": str(row.price), "active": row.active}
    if row is None:
        row = DealerVehicle(dealer_id=dealer.id, vehicle_brand=vehicle_brand,
                            vehicle_model=vehicle_model, price=amount, active=active)
        session.add(row)
    else:
        row.price, row.active = amount, active
    session.flush()
    audit(session, actor, "dealer.stock", "dealer", dealer.id, vehicle_brand=vehicle_brand,
          vehicle_model=vehicle_model, price=str(amount), active=active, before=before)
    return row


def view(row: DealerVehicle) -> dict[str, Any]:
    return {"id": row.id, "dealer_id": row.dealer_id, "vehicle_brand": row.vehicle_brand,
            "vehicle_model": row.vehicle_model, "price": row.price, "active": row.active,
            "updated_at": row.updated_at}
