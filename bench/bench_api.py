"""HTTP submit and decision latency, decisions/s, against the bare floor measured in the same run.

For each database (SQLite, PostgreSQL): a fresh var dir and database with N distinct sample
customers loaded and materialised (default 500), the vendor sandbox (latency 0 — our own cost —
and the realistic per-vendor latencies), gunicorn 2 workers × 8 threads with the Redis queue,
and 1 or 2 `chedaitong worker` processes. C clients (1 and 16) each walk their own applications
(one per customer, prepared untimed with the authorisation document and the customer's
credit-inquiry consent, so every decision pulls both bureaus): ``POST …/submit`` (timed:
the submit answer, 202), then ``GET …?wait=30`` until decided. A reader thread times
``GET /applications/<id>`` meanwhile (another endpoint while decisions run). Submit→decision
comes from the database (``submitted_at`` → the record's ``decided_at``). The CPU time the web
and worker processes spent during each run (user + system, from psutil) is divided by the
decisions made: on a shared machine, wall-clock throughput says how busy the neighbours are,
CPU per decision says what a decision costs. The web side's requests are counted by kind
(submits, ``?wait`` GETs, the reader's GETs) and its CPU is also given per request, next to
the floor's CPU per request in the same run. Every other process a decision touches is metered
too (`CpuMeter`: the vendor sandbox, PostgreSQL's backends for the bench database and the
server's own processes, Redis, this client), and the closing table gives CPU ms per decision by
process and the cores the platform's parts (web, workers, PostgreSQL, Redis) would need for
`TARGET_RATE` decisions/s.

The floor (`bench/floor_app.py`): Flask + the same gunicorn settings + one insert of a 40-field
JSON body per POST into the same kind of database, with the same client counts.

Between runs each customer's freshly pulled bureau reports are deleted, so every decision asks
both bureaus, as for a new applicant. Loopback only; bounded loops. Prints one JSON line per run
and a table with the ratios to the floor; a realistic-latency run also prints its decision budget
(the slowest bureau's p99 in the sandbox's latency model + 100 ms) and submit→decision p99 over it.

    .venv/bin/python bench/bench_api.py [--customers 500] [--submits 10] [--only sqlite]
        [--latency 0,realistic] [--clients 1,16] [--workers 1,2]
        [--pg postgresql+psycopg://...] [--redis redis://127.0.0.1:6379/2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
WORLD = ROOT / "data" / "sample"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT = "redis://127.0.0.1:6379/2"
TERMS = {"vehicle_brand": "比亚迪", "vehicle_model": "汉 EV", "vehicle_price": "250000.00",
         "lease_type": "direct_lease", "down_payment": "60000.00", "loan_amount": "150000.00",
         "term_months": 36}
MONEY = ("vehicle_price", "down_payment", "loan_amount")
#: the #19 throughput target (decisions/s on 2 cores)
TARGET_RATE = 150
GUNICORN = ["-w", "2", "--threads", "8", "--log-level", "warning"]


#: ports are taken from this range when BENCH_PORTS=lo-hi is set (a shared machine gives each
#: user its own), else any free port
_PORTS = [int(x) for x in os.environ.get("BENCH_PORTS", "0-0").split("-")]
_next_port = [_PORTS[0]]


def _free_port() -> int:
    while _PORTS[0] and _next_port[0] <= _PORTS[1]:
        port, _next_port[0] = _next_port[0], _next_port[0] + 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))], 1)


def quantile_ci(xs: list[float], q: float = 0.99, level: float = 0.95
                ) -> tuple[float | None, float | None]:
    """A distribution-free confidence interval for the ``q`` quantile: the order statistics
    x₍ₗ₎, x₍ᵤ₎ with P(l ≤ B < u) ≥ ``level``, B ~ Binomial(n, q) the samples below the true
    quantile. None for a bound the samples cannot give: with 80 samples the p99's upper bound
    lies past the largest one, so such a p99 says little (the reason runs have hundreds)."""
    n = len(xs)
    if not n:
        return None, None
    xs = sorted(xs)
    tail = (1 - level) / 2
    cdf, below = [], 0.0  # cdf[k] = P(B < k)
    for k in range(n + 1):
        cdf.append(below)
        below += math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                          + k * math.log(q) + (n - k) * math.log1p(-q))
    cdf.append(1.0)
    lo = max((k for k in range(1, n + 1) if cdf[k] <= tail), default=None)
    hi = min((k for k in range(1, n + 1) if cdf[k] >= 1 - tail), default=None)
    return (round(xs[lo - 1], 1) if lo else None, round(xs[hi - 1], 1) if hi else None)


def stats(xs: list[float]) -> dict:
    """p50, p99 with its 95 % interval (`quantile_ci`), and the sample count."""
    return {"p50": round(statistics.median(xs), 1) if xs else None, "p99": pct(xs, 99),
            "p99_ci95": list(quantile_ci(xs)), "n": len(xs)}


def decision_vendor_p99_ms() -> float:
    """The slowest decision-path vendor's p99 (the two bureaus) in the sandbox's realistic
    latency model — log-normal, so median × e^(z₀.₉₉·σ): the #19 target is submit→decision
    p99 ≤ this + 100 ms. Read from the sandbox's own defaults, so it follows them."""
    from chedaitong_sim.sandbox.faults import DEFAULT_LATENCY_MS, VendorConfig

    z99 = statistics.NormalDist().inv_cdf(0.99)
    sigma = VendorConfig().latency_sigma
    return round(max(DEFAULT_LATENCY_MS[v] for v in ("pboc", "third_party"))
                 * math.exp(z99 * sigma), 1)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and all its children (0 if it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


#: PostgreSQL's own processes (their title), apart from the backends of one database
SERVER_PROCESSES = ("checkpointer", "background writer", "walwriter", "autovacuum",
                    "logical replication", "archiver")


class CpuMeter:
    """CPU seconds (user + system) of every process a decision touches, by part: the web
    (gunicorn master + workers), the decision worker(s), the vendor sandbox, this bench
    client, the PostgreSQL backends connected to the bench's database (found by their
    process title, which names the database: what they used while they lived — a backend that
    ends between two readings is lost) plus the PostgreSQL server's own processes (checkpointer,
    WAL writer, autovacuum: shared with anything else on the server), and Redis (the whole
    server's ``INFO cpu``: shared). ``read()`` is one reading; ``delta(a, b)`` per part."""

    def __init__(self, pids: dict[str, int], database_url: str, rds) -> None:
        from sqlalchemy.engine import make_url

        self.pids = pids
        url = make_url(database_url)
        self.pg_db = url.database if url.get_backend_name() == "postgresql" else None
        self.rds = rds

    def _postgres(self) -> tuple[dict[tuple[int, float], float], float]:
        import psutil

        ours: dict[tuple[int, float], float] = {}
        server = 0.0
        for p in psutil.process_iter(["name", "cmdline"]):
            if p.info["name"] != "postgres":
                continue
            try:
                title = " ".join(p.info["cmdline"] or [])
                t = p.cpu_times()
                key = (p.pid, p.create_time())
            except psutil.Error:
                continue
            if f" {self.pg_db} " in title:
                ours[key] = t.user + t.system
            elif not title.startswith("postgres: ") or any(
                    word in title for word in SERVER_PROCESSES):
                server += t.user + t.system  # the postmaster and the server's own
        return ours, server

    def read(self) -> dict:
        cpu = {name: cpu_s(pid) for name, pid in self.pids.items()}
        cpu["bench_client"] = sum(os.times()[:2])
        if self.pg_db:
            cpu["_pg"], cpu["postgres_server"] = self._postgres()
        try:
            info = self.rds.info("cpu")
            cpu["redis"] = info["used_cpu_user"] + info["used_cpu_sys"]
        except Exception:  # noqa: BLE001 - not reported then
            pass
        return cpu

    @staticmethod
    def delta(a: dict, b: dict) -> dict[str, float]:
        out = {k: b[k] - a[k] for k in b if k in a and not k.startswith("_")}
        if "_pg" in b:
            out["postgres_backends"] = sum(v - a["_pg"].get(k, 0.0) for k, v in b["_pg"].items())
        return out


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _py_spy(folder: str | None, run: str, pids: dict[str, int]) -> list[subprocess.Popen]:
    """With ``--py-spy DIR``: sample each process tree (``py-spy record``, collapsed stacks
    with thread ids; only threads holding the GIL: where Python spends CPU) while the run
    lasts, into ``DIR/<run>-<part>.txt``.
    py-spy is a profiling tool, not a dependency: install it into the environment to use this.
    Sampling costs the sampled processes little (``--nonblocking``) but adds CPU of its own."""
    if not folder:
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([str(BIN / "py-spy"), "record", "--pid", str(pid),
                              "--subprocesses", "--nonblocking", "--rate", "250",
                              "--format", "raw", "--threads", "--gil",
                              "--output", str(Path(folder) / f"{run}-{part}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for part, pid in pids.items()]


# ---- the database ---------------------------------------------------------------------------
def _pg_schema(url: str) -> tuple[str, str]:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from chedaitong.db import make_engine

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False), schema


def _drop_pg_schema(url: str, schema: str) -> None:
    from sqlalchemy import text

    from chedaitong.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


class World:
    """N sample customers loaded and materialised, one consultant, applications on demand."""

    def __init__(self, database_url: str, var: Path, customers: int):
        from sqlalchemy.orm import Session

        from chedaitong.config import Settings
        from chedaitong.crypto import DataCipher
        from chedaitong.db import Customer, Dealer, Role, User, make_engine
        from chedaitong.db import migrate as migrations
        from chedaitong_sim.worldload.origination import load_world
        from decisioning.origination.accounts import issue_token
        from featurestore import offline
        from featurestore.store import FeatureStore

        self.settings = Settings.from_env({}, database_url=database_url, var_dir=var)
        self.engine = make_engine(database_url)
        migrations.upgrade(self.engine)
        self.store = FeatureStore(DataCipher(self.settings.data_key))
        facts = offline.world_facts(WORLD, self.store.cipher.blind_index)
        t0 = time.perf_counter()
        with Session(self.engine) as s:
            ids = load_world(s, self.store, WORLD, customers=customers, facts=facts)
            for cid in ids["customers"].values():
                self.store.materialise_customer(s, cid)
            dealer = s.get(Dealer, next(iter(ids["dealers"].values())))
            users = {}
            for name, role, dealer_id in (("bench-consultant", Role.CONSULTANT, dealer.id),
                                          ("bench-reviewer", Role.REVIEWER, None)):
                u = User(username=name, display_name=name, role=role, dealer_id=dealer_id)
                s.add(u)
                s.flush()
                users[name] = (u.id, issue_token(s, u, label="bench"))
            self.id_numbers, self.customer_users = [], {}
            for n, cid in enumerate(ids["customers"].values()):
                customer = s.get(Customer, cid)
                idn = self.store.profile(customer).id_number
                if customer.user_id is None:  # the customer's own user-app account
                    u = User(username=f"bench-customer-{n}", display_name=f"customer {n}",
                             role=Role.CUSTOMER)
                    s.add(u)
                    s.flush()
                    customer.user_id = u.id
                self.id_numbers.append(idn)
                self.customer_users[idn] = customer.user_id
            s.commit()
        self.consultant_id, self.token = users["bench-consultant"]
        self.seed_s = round(time.perf_counter() - t0, 1)
        self._next = 0

    def applications(self, count: int) -> list[int]:
        """``count`` draft applications with the authorisation uploaded, each for a distinct
        customer (cycling when count > N)."""
        from sqlalchemy.orm import Session

        from chedaitong.db import User
        from chedaitong_sim.testing import signed_pdf
        from decisioning.container import UploadDir
        from decisioning.origination import applications, consent
        from decisioning.origination.files import StoredFile

        pdf = StoredFile.of(signed_pdf("bench authorisation"), "application/pdf", "auth.pdf")
        out = []
        with Session(self.engine, expire_on_commit=False) as s:
            consultant = s.get(User, self.consultant_id)
            for _ in range(count):
                idn = self.id_numbers[self._next % len(self.id_numbers)]
                self._next += 1
                terms = {k: Decimal(v) if k in MONEY else v for k, v in TERMS.items()}
                app = applications.create(session=s, store=self.store, consultant=consultant,
                                          data={"id_number": idn, **terms})
                # the customer's credit-inquiry consent (the consent API's domain call):
                # without it a decision pulls no bureau and refers on the missing consent
                consent.grant(session=s, user=s.get(User, self.customer_users[idn]),
                              application_id=app.id, text_version="v1")
                applications.upload_authorization(
                    session=s, upload_dir=UploadDir(Path(self.settings.var_dir) / "uploads",
                                                    self.store.cipher), application=app,
                    upload=pdf, user=consultant)
                out.append(app.id)
        return out

    def forget_fresh_bureau_reports(self) -> None:
        """Every decision of the next run pulls both bureaus again (a new applicant's path)."""
        from sqlalchemy import delete

        from chedaitong.db import FeatureFact, RawEvent

        since = datetime.now(UTC) - timedelta(days=2)
        with self.engine.begin() as conn:
            for table in (FeatureFact, RawEvent):
                conn.execute(delete(table).where(table.source.in_(["pboc", "thirdparty"]),
                                                 table.uploaded_at >= since))

    def decided(self, ids: list[int]) -> list[tuple[datetime, datetime | None, str | None]]:
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from chedaitong.db import Application, DecisionRecord

        with Session(self.engine) as s:
            rows = s.execute(select(Application.submitted_at, DecisionRecord.decided_at,
                                    DecisionRecord.outcome, DecisionRecord.evidence_gaps)
                             .outerjoin(DecisionRecord,
                                        DecisionRecord.application_id == Application.id)
                             .where(Application.id.in_(ids))).all()
        self.last_gaps: dict[str, int] = {}
        for *_, gaps in rows:
            for g in gaps or []:
                self.last_gaps[g] = self.last_gaps.get(g, 0) + 1
        aware = [(a if a is None or a.tzinfo else a.replace(tzinfo=UTC),
                  d if d is None or d.tzinfo else d.replace(tzinfo=UTC), o)
                 for a, d, o, _ in rows]
        return aware


# ---- one run --------------------------------------------------------------------------------
def drive(base: str, token: str, app_ids: list[int], clients: int) -> dict:
    """``clients`` threads over their share of ``app_ids``: submit (timed), then wait for the
    decision; a reader times GET of an application meanwhile."""
    h = {"Authorization": f"Bearer {token}"}
    submit_ms: list[float] = []
    other_ms: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    waits = [0]
    lock = threading.Lock()
    running = threading.Event()
    running.set()

    def client(share: list[int]) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            for aid in share:
                try:
                    t0 = time.perf_counter()
                    r = c.post(f"/applications/{aid}/submit", headers=h)
                    ms = (time.perf_counter() - t0) * 1e3
                    with lock:
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                        if r.status_code in (200, 202):
                            submit_ms.append(ms)
                    deadline = time.monotonic() + 120
                    while r.json()["state"] == "deciding" and time.monotonic() < deadline:
                        # ?wait is bounded by the server, and answered at once when its
                        # long-poll slots are taken: ask again after its Retry-After
                        time.sleep(float(r.headers.get("Retry-After", 0)))
                        with lock:
                            waits[0] += 1
                        r = c.get(f"/applications/{aid}?wait=30", headers=h)
                except Exception as exc:  # noqa: BLE001 - counted, reported
                    with lock:
                        errors.append(str(exc)[:200])

    def reader() -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            while running.is_set():
                t0 = time.perf_counter()
                try:
                    c.get(f"/applications/{app_ids[0]}", headers=h).raise_for_status()
                    other_ms.append((time.perf_counter() - t0) * 1e3)
                except httpx.HTTPError as exc:
                    errors.append(f"reader: {exc}"[:200])
                time.sleep(0.05)

    shares = [app_ids[i::clients] for i in range(clients)]
    threads = [threading.Thread(target=client, args=(s,)) for s in shares]
    side = threading.Thread(target=reader)
    started = time.perf_counter()
    side.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    running.clear()
    side.join()
    return {"submit_ms": submit_ms, "other_ms": other_ms, "statuses": statuses,
            "errors": errors, "wall_s": wall,
            "requests": {"submit": sum(statuses.values()), "wait": waits[0],
                         "reader": len(other_ms)}}


def floor_run(database_url: str, clients: int, requests_per_client: int) -> dict:
    port = _free_port()
    env = {**os.environ, "FLOOR_DATABASE_URL": database_url}
    proc = subprocess.Popen([str(BIN / "gunicorn"), *GUNICORN, "-b", f"127.0.0.1:{port}",
                             "bench.floor_app:app"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body = {f"field_{i:02d}": (i * 1000.5 if i % 2 else f"value-{i}") for i in range(40)}
    lat: list[float] = []
    lock = threading.Lock()
    try:
        _wait(f"http://127.0.0.1:{port}/floor")

        def client() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
                for _ in range(requests_per_client):
                    t0 = time.perf_counter()
                    try:
                        c.post("/floor", json=body).raise_for_status()
                    except httpx.HTTPError:  # counted: n falls short of clients × requests
                        continue
                    with lock:
                        lat.append((time.perf_counter() - t0) * 1e3)

        for _ in range(2):  # warm both workers
            httpx.post(f"http://127.0.0.1:{port}/floor", json=body)
        threads = [threading.Thread(target=client) for _ in range(clients)]
        t0, cpu0 = time.perf_counter(), cpu_s(proc.pid)
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall, cpu = time.perf_counter() - t0, cpu_s(proc.pid) - cpu0
    finally:
        _stop(proc)
    return {**stats(lat), "rps": round(len(lat) / wall, 1),
            "cpu_ms_per_request": round(cpu * 1e3 / max(1, len(lat)), 2)}


def run_database(label: str, database_url: str, args) -> list[dict]:
    import redis

    var = Path(tempfile.mkdtemp(prefix="bench-api-"))
    models = ROOT / "var" / "models"
    shutil.copytree(models, var / "models")
    results: list[dict] = []
    floor_url = (f"sqlite:///{var / 'floor.db'}" if label == "sqlite" else database_url)
    floors = {c: floor_run(floor_url, c, max(20, args.submits * 4)) for c in args.clients}
    print(json.dumps({"database": label, "floor": floors, "load": load()}), flush=True)
    world = World(database_url, var, args.customers)
    print(json.dumps({"database": label, "seeded_customers": len(world.id_numbers),
                      "seed_s": world.seed_s, "load": load()}), flush=True)
    namespace = "chedaitong"  # the web app's (default) queue keys, on the bench's Redis DB
    rds = redis.Redis.from_url(args.redis)
    for latency in args.latency:
        sandbox_port, app_port = _free_port(), _free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("CHEDAITONG_")},
               "CHEDAITONG_VAR_DIR": str(var), "DATABASE_URL": database_url,
               "CHEDAITONG_VENDOR_URL": f"http://127.0.0.1:{sandbox_port}",
               "CHEDAITONG_QUEUE_URL": args.redis}
        sandbox_argv = [str(BIN / "python"), "-m", "chedaitong_sim.sandbox", "--port",
                        str(sandbox_port), "--world", str(WORLD)]
        if latency == "0":
            sandbox_argv += ["--latency-ms", "0"]
        sandbox = subprocess.Popen(sandbox_argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        web = subprocess.Popen([str(BIN / "gunicorn"), "-c", "python:webapp.gunicorn_conf",
                                *GUNICORN, "-b", f"127.0.0.1:{app_port}",
                                "webapp:create_app()"], cwd=ROOT,
                               env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{app_port}"
        try:
            _wait(f"http://127.0.0.1:{sandbox_port}/_admin/calls")
            _wait(f"{base}/healthz")
            for workers in args.workers:
                for key in rds.scan_iter(f"{namespace}*"):
                    rds.delete(key)
                wproc = subprocess.Popen(
                    [str(BIN / "chedaitong"), "worker", "--processes", str(workers),
                     "--threads", str(args.worker_threads), "--namespace", namespace],
                    cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    text=True)
                ready = 0
                for line in wproc.stdout:
                    ready += "worker ready" in line
                    if ready == workers:
                        break
                threading.Thread(target=lambda p=wproc: [None for _ in p.stdout],
                                 daemon=True).start()
                try:
                    # warm at the run's concurrency: every web and worker thread has its
                    # connections (PostgreSQL, Redis, vendors) and each process its compiled
                    # statements and mappers before the timed runs, so they time the steady
                    # state, not a process's first minute
                    most = max(args.clients)
                    warm = world.applications(2 * most)
                    drive(base, world.token, warm, most)
                    for clients in args.clients:
                        world.forget_fresh_bureau_reports()
                        ids = world.applications(clients * args.submits)
                        before = load()
                        meter = CpuMeter({"web": web.pid, "workers": wproc.pid,
                                          "sandbox": sandbox.pid}, database_url, rds)
                        cpu0 = meter.read()
                        spies = _py_spy(args.py_spy, f"{label}-{latency}-c{clients}-w{workers}",
                                        {"web": web.pid, "worker": wproc.pid})
                        try:
                            out = drive(base, world.token, ids, clients)
                        finally:
                            cpu = meter.delta(cpu0, meter.read())
                            for spy in spies:
                                spy.send_signal(signal.SIGINT)
                                spy.wait(30)
                        rows = world.decided(ids)
                        s2d = [(d - a).total_seconds() * 1e3 for a, d, _ in rows if d]
                        span = (max(d for _, d, _ in rows if d) - min(a for a, _, _ in rows)
                                ).total_seconds() if s2d else None
                        done = sorted(d for _, d, _ in rows if d)
                        # the steady state: decisions between the run's first and last tenth
                        # (the clients' start together, and the tail with fewer than all busy)
                        cut = len(done) // 10
                        steady = ((len(done) - 2 * cut - 1) / (done[-cut - 1] - done[cut])
                                  .total_seconds()) if cut and done[-cut - 1] > done[cut] else None
                        outcomes: dict[str, int] = {}
                        for _, _, o in rows:
                            outcomes[str(o)] = outcomes.get(str(o), 0) + 1
                        result = {
                            "database": label, "latency": latency, "clients": clients,
                            "workers": workers, "submit_answer_ms": stats(out["submit_ms"]),
                            "submit_to_decision_ms": stats(s2d),
                            "decisions_per_s": round(len(s2d) / span, 1) if span else None,
                            "steady_decisions_per_s": round(steady, 1) if steady else None,
                            "customers_reused": max(0, len(ids) - len(world.id_numbers)),
                            "other_get_ms": stats(out["other_ms"]),
                            "floor_ms": floors[clients], "statuses": out["statuses"],
                            "outcomes": outcomes, "evidence_gaps": world.last_gaps,
                            "cpu_ms_per_decision": {
                                part: round(seconds * 1e3 / max(1, len(s2d)), 1)
                                for part, seconds in cpu.items()},
                            "web_requests": out["requests"],
                            "web_cpu_ms_per_request": round(
                                cpu["web"] * 1e3 / max(1, sum(out["requests"].values())), 2),
                            "errors": len(out["errors"]),
                            "first_error": out["errors"][:1], "load_before": before,
                            "load_after": load()}
                        fp99 = floors[clients]["p99"]
                        result["submit_p99_over_floor_p99"] = round(
                            result["submit_answer_ms"]["p99"] / fp99, 2) if fp99 and out[
                            "submit_ms"] else None
                        result["other_p99_over_floor_p99"] = round(
                            result["other_get_ms"]["p99"] / fp99, 2) if fp99 and out[
                            "other_ms"] else None
                        per = result["cpu_ms_per_decision"]
                        # what the target rate would take: this run's CPU per decision of the
                        # platform's own parts (not the bench client nor the sandbox, which
                        # stand in for the users and the vendors), in cores
                        own = sum(v for k, v in per.items()
                                  if k not in ("bench_client", "sandbox"))
                        result["platform_cpu_ms_per_decision"] = round(own, 1)
                        result["cores_for_150_per_s"] = round(own * TARGET_RATE / 1e3, 2)
                        if latency == "realistic" and s2d:
                            budget = decision_vendor_p99_ms() + 100
                            result["decision_budget_ms"] = budget  # slowest vendor p99 + 100
                            result["s2d_p99_over_budget"] = round(
                                result["submit_to_decision_ms"]["p99"] / budget, 2)
                        print(json.dumps(result, ensure_ascii=False), flush=True)
                        results.append(result)
                finally:
                    _stop(wproc)
        finally:
            for p in (web, sandbox):
                _stop(p)
    world.engine.dispose()
    shutil.rmtree(var, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=700,
                        help="distinct customers (a run of more applications than this reuses "
                             "customers, whose second decision finds fresh bureau reports)")
    parser.add_argument("--submits", type=int, default=40,
                        help="applications per client and run: 16 × 40 = 640 gives the p99 "
                             "a bounded 95 %% interval (`quantile_ci`; 80 do not)")
    parser.add_argument("--worker-threads", type=int, default=16)
    parser.add_argument("--latency", default="0,realistic")
    parser.add_argument("--clients", default="1,16")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", PG_DEFAULT))
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", REDIS_DEFAULT))
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--py-spy", metavar="DIR",
                        help="sample web and worker processes with py-spy into DIR")
    args = parser.parse_args()
    args.latency = args.latency.split(",")
    args.clients = [int(c) for c in args.clients.split(",")]
    args.workers = [int(w) for w in args.workers.split(",")]
    if not (ROOT / "var" / "models" / "aliases.json").exists():
        sys.exit("no champion in var/models: run `make demo-data` first")
    print(json.dumps({"machine_load_at_start": load(), "cpus": os.cpu_count()}), flush=True)
    results = []
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            results += run_database("sqlite", f"sqlite:///{tmp}/bench.db", args)
    if args.only in (None, "postgresql"):
        url, schema = _pg_schema(args.pg)
        try:
            results += run_database("postgresql", url, args)
        finally:
            _drop_pg_schema(args.pg, schema)
    print(f"\n{'db':10} {'vendor':9} {'cl':>3} {'wk':>3} {'submit p50/p99':>16} "
          f"{'floor p50/p99':>15} {'x floor':>7} {'s→d p50/p99':>15} {'dec/s':>6} "
          f"{'GET p99':>8} {'x floor':>7} {'cpu ms/dec web+wk':>18}")
    parts = ("web", "workers", "postgres_backends", "postgres_server", "redis", "sandbox",
             "bench_client")
    for r in results:
        s, f, d, g = (r["submit_answer_ms"], r["floor_ms"], r["submit_to_decision_ms"],
                      r["other_get_ms"])
        print(f"{r['database']:10} {r['latency']:9} {r['clients']:>3} {r['workers']:>3} "
              f"{s['p50']!s:>7}/{s['p99']!s:<8} {f['p50']!s:>6}/{f['p99']!s:<8} "
              f"{r['submit_p99_over_floor_p99']!s:>7} {d['p50']!s:>7}/{d['p99']!s:<7} "
              f"{r['decisions_per_s']!s:>6} {g['p99']!s:>8} {r['other_p99_over_floor_p99']!s:>7}"
              f" {r['cpu_ms_per_decision']['web']!s:>8}+{r['cpu_ms_per_decision']['workers']!s:<8}"
              f"  errors {r['errors']}"
              + (f"  s→d p99 / (vendor p99 + 100 = {r['decision_budget_ms']}) "
                 f"{r['s2d_p99_over_budget']}" if "decision_budget_ms" in r else ""))
    print("\n95 % intervals of the p99s (None: past the largest sample, too few for a verdict)")
    for r in results:
        s, d, f = r["submit_answer_ms"], r["submit_to_decision_ms"], r["floor_ms"]
        print(f"{r['database']:10} {r['latency']:9} {r['clients']:>3} {r['workers']:>3} "
              f"submit p99 {s['p99']} {s['p99_ci95']} n={s['n']}  floor p99 {f['p99']} "
              f"{f['p99_ci95']} n={f['n']}  s→d p99 {d['p99']} {d['p99_ci95']} n={d['n']}  "
              f"steady dec/s {r['steady_decisions_per_s']}"
              + (f"  customers reused {r['customers_reused']}" if r["customers_reused"] else ""))
    print(f"\nCPU ms per decision by process (web/worker/PostgreSQL/Redis: the platform; "
          f"PostgreSQL server and Redis are shared with the machine's other users); cores "
          f"the platform's parts would need for {TARGET_RATE} decisions/s")
    print(f"{'db':10} {'vendor':9} {'cl':>3} {'wk':>3} "
          + " ".join(f"{p[:13]:>13}" for p in parts) + f" {'platform':>9} {'cores':>6}")
    for r in results:
        per = r["cpu_ms_per_decision"]
        print(f"{r['database']:10} {r['latency']:9} {r['clients']:>3} {r['workers']:>3} "
              + " ".join(f"{per.get(p, '-')!s:>13}" for p in parts)
              + f" {r['platform_cpu_ms_per_decision']!s:>9} {r['cores_for_150_per_s']!s:>6}")


if __name__ == "__main__":
    main()
