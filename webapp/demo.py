"""`chedaitong demo seed` and `chedaitong demo journey`: a populated database and one loan
walked through every step over HTTP, for demos and smoke tests.

Register with ``main.add_command(demo)`` in `chedaitong.cli`.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import click

WORLD = Path(__file__).resolve().parents[1] / "data" / "sample"
TOKENS_FILE = "demo-tokens.json"


@click.group()
def demo() -> None:
    """Demo data and a scripted loan journey."""


@demo.command()
@click.option("--world", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=WORLD, show_default=True)
@click.option("--customers", type=int, default=50, show_default=True)
def seed(world: Path, customers: int) -> None:
    """Load the sample world (dealers, consultants, staff, customers with their data) and print
    demo tokens (also written to <var dir>/demo-tokens.json)."""
    import pandas as pd
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from chedaitong.config import Settings
    from chedaitong.crypto import DataCipher
    from chedaitong.db import Customer, Dealer, Role, User, make_engine
    from chedaitong.db import migrate as migrations
    from decisioning.worldload import load_world
    from featurestore.store import FeatureStore
    from webapp.auth import issue_token

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    migrations.upgrade(engine)
    store = FeatureStore(DataCipher(settings.data_key))
    tokens: dict[str, str] = {}
    with Session(engine) as s:
        if s.scalar(select(User).where(User.username == "demo-admin")) is not None:
            raise click.ClickException("already seeded (demo-admin exists); use a fresh database")
        ids = load_world(s, store, world, customers=customers)
        dealers = dict(s.execute(select(Dealer.code, Dealer.id)).all())

        def user(name: str, role: Role, dealer_id: int | None = None) -> User:
            u = User(username=name, display_name=name, role=role, dealer_id=dealer_id)
            s.add(u)
            s.flush()
            tokens[name] = issue_token(s, u, label="demo")
            return u

        consultants = pd.read_parquet(world / "consultants.parquet")
        for r in consultants.itertuples(index=False):
            if r.dealer_id in dealers:
                user(r.consultant_id, Role.CONSULTANT, dealers[r.dealer_id])
        for name, role in (("demo-reviewer", Role.REVIEWER), ("demo-analyst", Role.ANALYST),
                           ("demo-collector", Role.COLLECTOR), ("demo-admin", Role.ADMIN)):
            user(name, role)
        for world_id, customer_id in list(ids["customers"].items())[:5]:
            u = user(f"cust-{world_id}", Role.CUSTOMER)
            s.get(Customer, customer_id).user_id = u.id
        _load_portfolio(s, world, ids)
        s.commit()
    out = Path(settings.var_dir) / TOKENS_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(tokens, indent=1))
    click.echo(f"seeded {len(ids['dealers'])} dealers, {len(ids['customers'])} customers, "
               f"{len(ids['applications'])} applications, {len(tokens)} users")
    for name in ("demo-admin", "demo-reviewer", "demo-analyst"):
        click.echo(f"  {name:16} {tokens[name]}")
    first = next(k for k in tokens if k.startswith("SC"))
    click.echo(f"  {first:16} {tokens[first]}  (consultant)")
    click.echo(f"all tokens: {out}")


def _load_portfolio(session, world: Path, ids: dict) -> None:
    """Hook for the sample world's booked loans and repayments (servicing owns the loader)."""
    try:
        from servicing.worldload import load_world_loans  # type: ignore[import-not-found]
    except ImportError:
        click.echo("servicing.worldload.load_world_loans not available: no portfolio loaded")
        return
    load_world_loans(session, world, ids)


@demo.command()
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
@click.option("--tokens", "tokens_path", type=click.Path(exists=True, path_type=Path),
              help="demo-tokens.json written by `demo seed` (default: <var dir>/...)")
def journey(base_url: str, tokens_path: Path | None) -> None:
    """Walk one new customer's loan through every step against a running server."""
    import httpx

    from chedaitong.config import Settings
    from vendors.testing import make_id_number

    path = tokens_path or Path(Settings.from_env().var_dir) / TOKENS_FILE
    tokens = json.loads(Path(path).read_text())
    consultant = next(k for k in tokens if k.startswith("SC"))
    staff = {"c": {"Authorization": f"Bearer {tokens[consultant]}"},
             "r": {"Authorization": f"Bearer {tokens['demo-reviewer']}"}}
    started = time.perf_counter()
    client = httpx.Client(base_url=base_url, timeout=30)

    def step(label: str, method: str, url: str, who: dict, ok: int = 200, **kw) -> dict:
        t0 = time.perf_counter()
        r = client.request(method, url, headers=who, **kw)
        ms = (time.perf_counter() - t0) * 1e3
        state = r.json().get("state", "") if r.headers.get("content-type", "").startswith(
            "application/json") and isinstance(r.json(), dict) else ""
        click.echo(f"{time.perf_counter() - started:7.2f}s {ms:7.1f} ms  {r.status_code}  "
                   f"{label:38} {state}")
        if r.status_code != ok:
            raise click.ClickException(f"{label} failed: {r.text[:300]}")
        return r.json()

    seq = secrets.randbelow(1000)
    idn = make_id_number(f"11010119900101{seq:03d}")
    reg = step("customer registers", "POST", "/customers/register", {}, 201,
               json={"username": f"demo{secrets.token_hex(4)}", "display_name": "演示用户"})
    me = {"Authorization": f"Bearer {reg['token']}"}
    step("completes personal information", "PUT", "/customers/me/profile", me, 201,
         json={"name": "演示用户", "id_number": idn, "phone": f"1390000{seq:04d}",
               "birth_date": "1990-01-01", "home_lat": 39.9, "home_lon": 116.4,
               "monthly_income": 20000})
    step("ID card check", "POST", "/customers/me/id-check", me, 201)
    step("four-element check", "POST", "/customers/me/four-element", me, 201,
         json={"card_number": "6222020200112233445", "phone": f"1390000{seq:04d}"})
    step("credit authorisation", "POST", "/customers/me/credit-authorization", me, 201,
         json={"consent": True})
    step("GPS upload", "POST", "/customers/me/device/gps", me, 201,
         json={"records": [{"event_time": "2026-01-01T08:00:00+00:00", "lat": 39.9,
                            "lon": 116.4}]})
    app = step("consultant creates application", "POST", "/applications", staff["c"], 201,
               json={"id_number": idn, "vehicle_brand": "比亚迪", "vehicle_model": "汉 EV",
                     "vehicle_price": "250000.00", "lease_type": "direct",
                     "down_payment": "60000.00", "loan_amount": "150000.00",
                     "term_months": 36})
    aid = app["id"]
    step("uploads credit authorisation", "POST", f"/applications/{aid}/authorization",
         staff["c"], 201, files={"file": ("auth.pdf", b"%PDF-1.4 demo", "application/pdf")})
    detail = step("submits → decision", "POST", f"/applications/{aid}/submit", staff["c"])
    if detail["state"] == "referred":
        step("back office approves referral", "POST", f"/reviews/{aid}", staff["r"], 201,
             json={"decision": "approve", "notes": "demo", "annual_rate": "0.0899"})
    elif detail["state"] != "approved":
        raise click.ClickException(f"declined: {detail['decision']['reasons']}")
    step("customer accepts the plan", "POST", f"/applications/{aid}/plan", me, json={})
    step("consultant generates contract", "POST", f"/applications/{aid}/contract", staff["c"],
         201)
    step("customer signs", "POST", f"/applications/{aid}/contract/sign", me,
         json={"verification_code": "123456"})
    for attempt in range(10):
        v = step("liveness", "POST", f"/applications/{aid}/liveness", me, 201,
                 files={"selfie": ("me.jpg", b"\xff\xd8\xff\xe0" + bytes([attempt]) * 32,
                                   "image/jpeg")})
        if v["passed"]:
            break
    step("back office approves disbursement", "POST", f"/reviews/{aid}", staff["r"], 201,
         json={"decision": "approve", "notes": "demo"})
    voucher = step("consultant gets voucher", "GET", f"/applications/{aid}/voucher", staff["c"])
    step("dealer verifies voucher", "POST", "/vouchers/verify", staff["c"],
         json={"number": voucher["number"], "verification_code": voucher["verification_code"]})
    step("car pickup", "POST", f"/applications/{aid}/pickup", staff["c"])
    for kind in ("loan_contract", "insurance_policy", "purchase_invoice",
                 "purchase_tax_invoice", "insurance_invoice", "vehicle_registration"):
        step(f"uploads {kind}", "POST", f"/applications/{aid}/documents/{kind}", staff["c"],
             201, files={"file": (f"{kind}.pdf", b"%PDF-1.4 " + kind.encode(),
                                  "application/pdf")})
    final = step("final state", "GET", f"/applications/{aid}", staff["c"])
    click.echo(f"journey done in {time.perf_counter() - started:.2f}s: {final['state']} "
               f"loan {final.get('loan_ref')}")
