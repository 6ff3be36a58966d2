"""`chedaitong demo build / seed / journey`: what `make demo` serves, built from the committed
sample world; a populated database; one loan walked through every step over HTTP.

`demo build` is the one definition of the demo's build steps: the Makefile calls it, and a
test runs it into an empty folder, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import click

WORLD = Path(__file__).resolve().parents[2] / "data" / "sample"  # the repository's sample world
TOKENS_FILE = "demo-tokens.json"


@click.group()
def demo() -> None:
    """Demo data: build it, seed it, walk a loan through it."""


@demo.command()
@click.option("--world", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=WORLD, show_default=True)
def build(world: Path) -> None:
    """Build everything `make demo` serves, under the var dir, skipping what exists: the
    offline feature store, its point-in-time training frame, a champion model, the migrated
    database and the seeded demo data. Delete the var dir (or a part) to rebuild it."""
    from chedaitong.config import Settings
    from models.registry import Registry

    settings = Settings.from_env()
    var, models = Path(settings.var_dir), Path(settings.model_dir)
    offline, frame = var / "offline", var / "frame.parquet"
    if not _exists(offline / "facts.parquet"):
        _step("features", "build", "--world", str(world), "--out", str(offline))
    if not _exists(frame):
        _step("features", "historical", "--store", str(offline), "--out", str(frame))
    champion = Registry(models).aliases()["champion"]
    if champion:
        click.echo(f"{models} has a champion ({champion}): kept")
    else:
        _step("model", "train", str(frame), "--registry", str(models))
        _step("model", "promote", Registry(models).versions()[-1], "--registry", str(models))
    _behaviour(offline, frame, models, var)
    _step("db", "upgrade")
    if _seeded(settings):
        click.echo(f"demo data already seeded (demo-admin exists); tokens: {var / TOKENS_FILE}")
    else:
        _step("demo", "seed", "--world", str(world))


def _behaviour(offline: Path, frame: Path, models: Path, var: Path) -> None:
    """The behaviour champion the nightly job scores loans with: loan-month snapshots of the
    offline store (with each loan's application score by the application champion), trained
    and promoted under the registry's `behaviour` purpose."""
    from models.registry import Registry

    snapshots, scores = var / "behaviour_frame.parquet", var / "application_scores.parquet"
    if not _exists(snapshots):
        if not scores.exists():
            _application_scores(frame, models, scores)
        _step("features", "historical", "--store", str(offline), "--out", str(snapshots),
              "--loans", "--application-scores", str(scores))
    reg = Registry(models, "behaviour")
    if reg.aliases()["champion"]:
        click.echo(f"{reg.root} has a behaviour champion ({reg.aliases()['champion']}): kept")
        return
    _step("model", "train", "--purpose", "behaviour", str(snapshots), "--registry", str(models))
    _step("model", "promote", "--purpose", "behaviour", reg.versions()[-1], "--registry",
          str(models))


def _application_scores(frame: Path, models: Path, out: Path) -> None:
    """The application champion's points for every application of the training frame."""
    import pandas as pd

    from models.scoring import load_champion

    apps = pd.read_parquet(frame)
    scored = load_champion(models, warm=False).score_frame(apps)
    pd.DataFrame({"application_id": apps["entity_id"],
                  "model_score": scored["model_score"]}).to_parquet(out, index=False)


def _exists(path: Path) -> bool:
    if path.exists():
        click.echo(f"{path} exists: kept")
        return True
    return False


def _step(*args: str) -> None:
    """Run one `chedaitong` command in this process, as the operator would type it."""
    from chedaitong.cli import main

    click.echo("$ chedaitong " + " ".join(args))
    main.main(list(args), prog_name="chedaitong", standalone_mode=False)


def _seeded(settings) -> bool:
    from sqlalchemy import inspect, select
    from sqlalchemy.orm import Session

    from chedaitong.db import User, make_engine

    engine = make_engine(settings.database_url)
    try:
        if not inspect(engine).has_table(User.__tablename__):
            return False
        with Session(engine) as s:
            return s.scalar(select(User.id).where(User.username == "demo-admin")) is not None
    finally:
        engine.dispose()


@demo.command()
@click.option("--world", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=WORLD, show_default=True)
@click.option("--customers", type=int, default=50, show_default=True)
def seed(world: Path, customers: int) -> None:
    """Load the sample world (dealers, consultants, staff, customers with their data, booked
    loans) and print demo tokens (also written to <var dir>/demo-tokens.json), with a world
    customer whose application the configured rules and model approve, for `demo journey`."""
    import pandas as pd
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from chedaitong.config import Settings
    from chedaitong.crypto import DataCipher
    from chedaitong.db import Customer, Dealer, Role, User, make_engine
    from chedaitong.db import migrate as migrations
    from chedaitong_sim.worldload.origination import load_world
    from decisioning.origination.accounts import issue_token
    from featurestore.store import FeatureStore

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    migrations.upgrade(engine)
    store = FeatureStore(DataCipher(settings.data_key))
    tokens: dict[str, object] = {}
    with Session(engine) as s:
        if s.scalar(select(User).where(User.username == "demo-admin")) is not None:
            raise click.ClickException("already seeded (demo-admin exists); use a fresh database")
        ids = load_world(s, store, world, customers=customers)
        dealers = dict(s.execute(select(Dealer.code, Dealer.id)).all())
        users: dict[str, User] = {}

        def user(name: str, role: Role, dealer_id: int | None = None) -> User:
            u = User(username=name, display_name=name, role=role, dealer_id=dealer_id)
            s.add(u)
            s.flush()
            tokens[name] = issue_token(s, u, label="demo")
            users[name] = u
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
        s.commit()
        journey_case = _approvable_case(s, settings, store, world, ids, users, user)
        if journey_case:
            tokens["journey"] = journey_case
        _load_portfolio(s, world, ids)
        s.commit()
    out = Path(settings.var_dir) / TOKENS_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(tokens, indent=1, ensure_ascii=False))
    out.chmod(0o600)  # bearer tokens
    click.echo(f"seeded {len(ids['dealers'])} dealers, {len(ids['customers'])} customers, "
               f"{len(ids['applications'])} applications, {len(users)} users")
    for name in ("demo-admin", "demo-reviewer", "demo-analyst"):
        click.echo(f"  {name:16} {tokens[name]}")
    first = next(k for k in tokens if k.startswith("SC"))
    click.echo(f"  {first:16} {tokens[first]}  (consultant)")
    if journey_case:
        click.echo(f"  journey: customer {journey_case['customer']} with consultant "
                   f"{journey_case['consultant']} (world application {journey_case['world_ref']}"
                   f", approved by model {journey_case['model_version']})")
    click.echo(f"all tokens: {out}")


def _approvable_case(session, settings, store, world: Path, ids: dict, users: dict,
                     user) -> dict | None:
    """Probe the loaded world applications with the configured decision service (no vendors,
    each probe rolled back) and give the first approved one's customer a login, for
    `demo journey`. None (with a message) when nothing is approved, e.g. without a model."""
    import pandas as pd

    from chedaitong.db import Application, Customer, Role
    from decisioning.container import build_decision_service

    # no vendors: the world's reports are on file, seeding calls none; probes are not archived
    service = build_decision_service(settings, store=store)
    service.rules_archive = None
    if service.model is None:
        click.echo(f"no champion model in {settings.model_dir}: no approvable journey case "
                   "(`chedaitong demo build` trains one)")
        return None
    world_apps = pd.read_parquet(world / "applications.parquet",
                                 columns=["application_id", "consultant_id"])
    consultant_of = dict(zip(world_apps["application_id"], world_apps["consultant_id"],
                             strict=True))
    world_id = {v: k for k, v in ids["customers"].items()}
    for ref, app_id in ids["applications"].items():
        consultant = consultant_of.get(ref)
        if consultant not in users:
            continue
        app = session.get(Application, app_id)
        with session.begin_nested() as probe:
            outcome = service.decide(session, app).outcome  # as of now, like the server
            probe.rollback()
        if outcome != "approve":
            continue
        customer = session.get(Customer, app.customer_id)
        login = next((n for n, u in users.items() if u.id == customer.user_id), None)
        if login is None:
            login = f"cust-{world_id[customer.id]}"
            customer.user_id = user(login, Role.CUSTOMER).id
            session.flush()
        return {"customer": login, "consultant": consultant, "world_ref": ref,
                "model_version": service.model.version,
                "id_number": store.profile(customer).id_number,
                "application": {k: (str(v) if not isinstance(v, int) else v) for k, v in (
                    ("vehicle_brand", app.vehicle_brand), ("vehicle_model", app.vehicle_model),
                    ("vehicle_price", app.vehicle_price), ("lease_type", app.lease_type),
                    ("down_payment", app.down_payment), ("loan_amount", app.loan_amount),
                    ("term_months", app.term_months))}}
    click.echo("no loaded world application is approved by the configured rules and model; "
               "`demo journey` will register a new customer instead")
    return None


def _load_portfolio(session, world: Path, ids: dict) -> None:
    """The sample world's booked loans with their repayment history. A failing loader leaves
    the rest of the seed in place and says so."""
    from chedaitong_sim.worldload.servicing import load_world_loans

    try:
        with session.begin_nested():
            loaded = load_world_loans(session, world, ids)
    except Exception as exc:  # noqa: BLE001 - the portfolio is optional for the demo
        click.echo(f"loans were not loaded: load_world_loans failed "
                   f"({type(exc).__name__}: {exc})")
        return
    click.echo(f"loaded the sample world's booked loans with repayments ({len(loaded)})")


@demo.command()
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
@click.option("--tokens", "tokens_path", type=click.Path(exists=True, path_type=Path),
              help="demo-tokens.json written by `demo seed` (default: <var dir>/...)")
def journey(base_url: str, tokens_path: Path | None) -> None:
    """Walk one loan through every step against a running server, printing each step and the
    elapsed time: the seeded world customer whose application the rules approve (or, from an
    older seed, a newly registered customer). Exits 1 with the reasons on a decline/refer."""
    import httpx

    from chedaitong.config import Settings

    path = tokens_path or Path(Settings.from_env().var_dir) / TOKENS_FILE
    if not Path(path).exists():
        raise click.ClickException(f"{path} not found: run `chedaitong demo seed` first")
    from chedaitong_sim.testing import signed_pdf

    tokens = json.loads(Path(path).read_text())
    case = tokens.get("journey")
    consultant = case["consultant"] if case else next(k for k in tokens if k.startswith("SC"))
    staff = {"c": {"Authorization": f"Bearer {tokens[consultant]}"},
             "r": {"Authorization": f"Bearer {tokens['demo-reviewer']}"}}
    started = time.perf_counter()
    client = httpx.Client(base_url=base_url, timeout=30)

    def step(label: str, method: str, url: str, who: dict, ok: int | tuple[int, ...] = 200,
             **kw) -> dict:
        t0 = time.perf_counter()
        try:
            r = client.request(method, url, headers=who, **kw)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"{label}: cannot reach {base_url}{url} ({exc}); "
                                       "is the server running?") from None
        ms = (time.perf_counter() - t0) * 1e3
        try:
            body = r.json()
        except ValueError:
            body = {}
        state = body.get("state", "") if isinstance(body, dict) else ""
        click.echo(f"{time.perf_counter() - started:7.2f}s {ms:7.1f} ms  {r.status_code}  "
                   f"{label:38} {state}")
        if r.status_code not in (ok if isinstance(ok, tuple) else (ok,)):
            raise click.ClickException(f"{label} failed with HTTP {r.status_code}: "
                                       f"{r.text[:300]}")
        return body

    if case:
        click.echo(f"world customer {case['customer']} (world application "
                   f"{case['world_ref']}), consultant {consultant}")
        me = {"Authorization": f"Bearer {tokens[case['customer']]}"}
        step("customer signs in", "GET", "/customers/me", me)
        idn, order = case["id_number"], case["application"]
    else:
        click.echo("no journey case in the tokens file (seeded without a model?): "
                   "registering a new customer, whom the rules may refer")
        me, idn = _register_new_customer(step)
        order = {"vehicle_brand": "比亚迪", "vehicle_model": "汉 EV",
                 "vehicle_price": "250000.00", "lease_type": "direct_lease",
                 "down_payment": "60000.00", "loan_amount": "150000.00", "term_months": 36}
    app = step("consultant creates application", "POST", "/applications", staff["c"], 201,
               json={"id_number": idn, **order})
    aid = app["id"]
    step("customer consents (credit inquiry)", "POST", f"/applications/{aid}/consent", me, 201,
         json={"text_version": "v1"})
    step("uploads authorisation paper copy", "POST", f"/applications/{aid}/authorization",
         staff["c"], 201, files={"file": ("auth.pdf", signed_pdf("demo authorisation"),
                                          "application/pdf")})
    # the decision is taken by a worker; ?wait= holds the answer until it is, else (the wait
    # ran out, or the server's long-poll slots were all taken) 202: ask again, as told
    detail = step("submits → decision", "POST", f"/applications/{aid}/submit?wait=30",
                  staff["c"], ok=(200, 202))
    for _ in range(10):
        if detail["state"] != "deciding":
            break
        time.sleep(1)  # the server's Retry-After
        detail = step("waits for the decision", "GET", f"/applications/{aid}?wait=30",
                      staff["c"])
    if detail["state"] != "approved":
        reasons = "; ".join(f"{x.get('reason_code')}: {x.get('reason_en')}"
                            for x in (detail.get("decision") or {}).get("reasons", []))
        raise click.ClickException(
            f"application {aid} was {detail['state']} ({reasons or 'no reasons given'}); "
            "the journey needs an approval — re-seed with a champion model (delete the "
            "database, then `chedaitong demo build`)")
    offer = detail["offers"][0]
    click.echo(f"{'':27}offer {offer['product_id']}: {offer['financed_amount']} at "
               f"{offer['annual_rate']} over {offer['term']} months, first installment "
               f"{offer['first_installment']}")
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
    else:
        raise click.ClickException("liveness did not pass in 10 attempts")
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
    if final["state"] != "booked":
        raise click.ClickException(f"the loan was not booked (state {final['state']})")


def _register_new_customer(step) -> tuple[dict, str]:
    from chedaitong_sim.testing import make_id_number

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
    for attempt in range(10):  # liveness confirms the ID number is this customer's
        v = step("liveness (identity)", "POST", "/customers/me/liveness", me, 201,
                 files={"selfie": ("me.jpg", b"\xff\xd8\xff\xe1" + bytes([attempt]) * 32,
                                   "image/jpeg")})
        if v["passed"]:
            break
    return me, idn
