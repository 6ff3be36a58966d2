"""Load part of a synthetic world into the database: dealers, customers, applications.

Used by `chedaitong demo seed`, the decision tests and the benchmarks, so they all start
from the same realistic data instead of hand-made rows.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Dealer
from chedaitong.db.stock import DealerVehicle
from featurestore import offline
from featurestore.store import FeatureStore
from servicing.money import to_cents


def load_world(session: Session, store: FeatureStore, world: Path, customers: int | None = None,
               facts: pd.DataFrame | None = None) -> dict[str, dict[str, int]]:
    """Insert the world's dealers (with their stock), its first ``customers`` customers (all
    when None) with their facts, and their applications (state ``draft``). Returns world id →
    database id maps."""
    world = Path(world)
    dealer_ids = _dealers(session, world)
    people = offline.read_world_table(world, "customers", ["customer_id"])["customer_id"]
    chosen = list(people if customers is None else people.head(customers))
    customer_ids = store.import_world(session, world, chosen, facts=facts)
    apps = offline.read_world_table(world, "applications")
    apps = apps[apps["customer_id"].isin(customer_ids)].sort_values("application_id")
    app_ids: dict[str, int] = {}
    for r in apps.itertuples(index=False):
        row = Application(
            ref=r.application_id, customer_id=customer_ids[r.customer_id],
            dealer_id=dealer_ids[r.dealer_id], vehicle_brand=r.vehicle_brand,
            vehicle_model=r.vehicle_model, vehicle_price=_money(r.vehicle_price),
            lease_type=r.lease_type, down_payment=_money(r.deposit_or_down_payment),
            loan_amount=_money(r.loan_amount), term_months=int(r.term_months),
            previous_id=app_ids.get(r.previous_application_id) if isinstance(
                r.previous_application_id, str) else None,
            state="draft", created_at=r.applied_at.to_pydatetime(),
        )
        session.add(row)
        session.flush()
        app_ids[r.application_id] = row.id
    return {"dealers": dealer_ids, "customers": customer_ids, "applications": app_ids}


def _dealers(session: Session, world: Path) -> dict[str, int]:
    existing = {code: id_ for code, id_ in session.execute(select(Dealer.code, Dealer.id))}
    known = set(existing)
    for r in offline.read_world_table(world, "dealers").itertuples(index=False):
        if r.dealer_id in existing:
            continue
        dealer = Dealer(code=r.dealer_id, name=r.name, city=r.city, province=r.province,
                        channel=r.channel, lat=float(r.lat), lon=float(r.lon))
        session.add(dealer)
        session.flush()
        existing[r.dealer_id] = dealer.id
    _stock(session, world, {k: v for k, v in existing.items() if k not in known})
    return existing


def _stock(session: Session, world: Path, dealers: dict[str, int]) -> None:
    """A new dealer's stock: every model it sells in the world, at the lowest price the world
    sold it for (its base trim) — what re-apply guidance may suggest as a cheaper car."""
    if not dealers:
        return
    apps = offline.read_world_table(world, "applications")
    apps = apps[apps["dealer_id"].isin(list(dealers))]
    prices = apps.groupby(["dealer_id", "vehicle_brand", "vehicle_model"])["vehicle_price"].min()
    for (dealer, brand, model), price in prices.items():
        session.add(DealerVehicle(dealer_id=dealers[dealer], vehicle_brand=brand,
                                  vehicle_model=model, price=_money(price)))
    session.flush()


def _money(value: float | Decimal) -> Decimal:
    """World amounts are exact cents read as floats; the shortest repr restores them."""
    return to_cents(str(value))
