"""The whole nightly post-loan job from PostgreSQL: N active loans, stage times, RSS, floors.

A synthetic book — N active loans (24–36 monthly installments each, ~8 % stopped paying at a
random installment and accrued through yesterday), their customers (encrypted profiles),
applications and decision records (decision-time features resampled from a synthetic
application frame), and vehicle-GPS / app / bureau facts for `--facts-share` of the customers —
is loaded into a fresh schema by COPY. Then, each in its own process (peak RSS is that
process's), the real `chedaitong postloan run`:

  1. ``--as-of D``, pandas engine, vendor sends to the sandbox (latency off): stage times
     (plan, read, compute, write, send, report), rows written, peak RSS;
  2. ``--as-of D`` again: must write and send nothing, ≤ 10 % of run 1's time;
  3. ``--as-of D+1 --engine dask --workers 1`` and ``--as-of D+2 --workers 2`` (a local
     cluster of worker *processes*, each reading and writing its own loan ranges).

Floors measured in the same run: bare LightGBM (encode + predict, 2 threads) on the same
decision rows, and a bare ``COPY … TO STDOUT`` of the loans and installments tables.

    .venv/bin/python bench/bench_nightly_db.py --loans 100000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

D = date(2026, 6, 30)
SCHEMA = "bench_nightly"
SANDBOX_PORT = 61750  # --sandbox-port / BENCH_SANDBOX_PORT choose another


# ---- the child: one `postloan run` with stage timers ------------------------------------
def child(args: list[str]) -> None:
    """Run `chedaitong postloan run ARGS` in this process, timing its stages (by wrapping the
    job's own functions — nothing in the product is bench-aware); print one JSON line."""
    from decisioning.postloan import handoff
    from decisioning.postloan import run as job
    from decisioning.postloan.cli import postloan_group

    stages: dict[str, float] = {}

    def timed(owner, name, stage):
        real = getattr(owner, name, None)
        if real is None:  # a stage this version of the job does not have
            return

        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return real(*a, **kw)
            finally:
                stages[stage] = stages.get(stage, 0.0) + time.perf_counter() - t0

        setattr(owner, name, wrapper)

    from decisioning.postloan import distributed

    real_make = distributed.make_closer
    workers: dict = {}

    def make_closer(*a, **kw):  # the Dask closer: its whole time is the "close" stage
        closer = real_make(*a, **kw)

        def timed_close(*ca, **ckw):
            t0 = time.perf_counter()
            try:
                return closer(*ca, **ckw)
            finally:
                stages["close"] = stages.get("close", 0.0) + time.perf_counter() - t0
                for pid, st in closer.stats.items():  # what each worker process did
                    mine = workers.setdefault(str(pid), {})
                    for k, v in st.items():
                        mine[k] = mine.get(k, 0) + v

        return timed_close

    distributed.make_closer = make_closer
    capture = os.environ.get("BENCH_CAPTURE")  # a directory: the behaviour model's rows
    if capture:
        _capture_behaviour_rows(Path(capture), stages)
    for owner, name, stage in [(job, "close_day", "close"), (job, "pending_loan_ids", "plan"),
                               (job, "load_partition", "read"),
                               (job, "take_read", "read_wait"),
                               (job, "take_write", "write_wait"),
                               (job, "inspect_partition", "compute"), (job, "persist", "write"),
                               (handoff, "deliver", "send"), (job, "build_report", "report"),
                               (job, "analyze_night", "analyze"),
                               (job, "run_day", "day")]:
        timed(owner, name, stage)
    profile_to = os.environ.get("BENCH_PROFILE")  # a path: cProfile stats of this run
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    code = 0
    try:
        postloan_group.main(["run", *args], standalone_mode=False)
    except SystemExit as exc:
        code = int(exc.code or 0)
    wall = time.perf_counter() - t0
    if profile_to:
        profiler.disable()
        profiler.dump_stats(f"{profile_to}.{os.getpid()}")
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print("BENCH " + json.dumps({"code": code, "wall": wall, "stages": stages,
                                 "rss_gib": me.ru_maxrss / 2**20, "children_rss_gib": kids,
                                 "cpu": me.ru_utime + me.ru_stime, "workers": workers}),
          flush=True)


def _capture_behaviour_rows(where: Path, stages: dict) -> None:
    """Keep each partition's behaviour-model rows (pickled to `where`) for the bare-predict
    floor; the time spent pickling is reported as "capture" and taken off "compute"."""
    from decisioning import behaviour_routing
    from decisioning.postloan import behaviour

    real = behaviour_routing.score

    def score(frame, *a, **kw):
        out = real(frame, *a, **kw)
        model = behaviour.champion(a[1] if len(a) > 1 else kw["model_root"])
        if model is not None:
            t0 = time.perf_counter()
            frame.reindex(columns=list(model.feature_names)).to_pickle(
                where / f"rows-{len(list(where.iterdir())):05d}.pkl")
            stages["capture"] = stages.get("capture", 0.0) + time.perf_counter() - t0
        return out

    behaviour_routing.score = score


# ---- the book -----------------------------------------------------------------------------
def build_book(n: int, facts_share: float, features, cipher, rng,
               first: tuple[int, int, int] = (1, 1, 1)):
    """DataFrames per table for ids first[0]..first[0]+n-1 (one customer, application,
    decision, loan each; `features` the n decisions' feature rows); installment and fact ids
    start at first[1], first[2]."""
    import numpy as np
    import pandas as pd

    ids = np.arange(first[0], first[0] + n, dtype=np.int64)
    now = pd.Timestamp(D, tz="UTC")
    term = rng.choice([24, 30, 36], n)
    mob = (rng.random(n) * (term - 1)).astype(int) + 1  # months on book, 1..term-1
    dom = rng.integers(1, 29, n)
    month0 = D.year * 12 + D.month - 1 - mob
    disbursed = pd.to_datetime(pd.DataFrame({"year": month0 // 12, "month": month0 % 12 + 1,
                                             "day": dom}))
    principal_cents = rng.integers(40_000, 200_000, n) * 100 // term * term
    rate = rng.choice([0.06, 0.08, 0.096, 0.12], n)

    people = pd.DataFrame({
        "id": ids, "external_ref": [f"BC{i:08d}" for i in ids],
        "id_number_index": [f"bench-{i}" for i in ids],
        "id_number_masked": "110101********0000", "phone_masked": "138****0000",
        "created_at": now,
    })
    pii = []
    for i in ids:
        body = json.dumps({"name": f"客户{i}", "id_number": f"11010119800101{i % 1000:03d}0",
                           "phone": f"138{i % 100_000_000:08d}", "birth_date": "1980-01-01",
                           "home_lat": 31.2, "home_lon": 121.5}).encode()
        pii.append("\\x" + cipher.encrypt(body, aad=f"customers:{i}".encode()).hex())
    people["pii_enc"] = pii
    apps = pd.DataFrame({
        "id": ids, "ref": [f"BA{i:08d}" for i in ids], "customer_id": ids, "dealer_id": 1,
        "vehicle_brand": "比亚迪", "vehicle_model": "秦PLUS", "vehicle_price":
        (principal_cents / 80).round(2), "lease_type": "leaseback",
        "down_payment": (principal_cents / 400).round(2), "loan_amount": principal_cents / 100,
        "term_months": term, "state": "active", "created_at": now,
    })
    decisions = pd.DataFrame({
        "id": ids, "application_id": ids, "decided_at": now, "as_of": now,
        "outcome": "approve", "rules_version": "bench", "model_version": "bench",
        "features": features.to_json(orient="records", lines=True).splitlines(),
        "fired_rules": "[]", "offers": "[]", "reasons": "[]", "evidence_gaps": "[]",
        "timings_ms": "{}", "model": _recorded_models(ids),
    })
    yesterday = D - timedelta(days=1)
    loans = pd.DataFrame({
        "id": ids, "ref": [f"BL{i:08d}" for i in ids], "application_id": ids,
        "customer_id": ids, "product_id": "P1", "principal": principal_cents / 100,
        "annual_rate": rate, "term_months": term, "repayment_method": "equal_principal",
        "penalty_multiplier": 1.5, "penalty_grace_days": 0, "penalty_include_interest": True,
        "penalty_day_basis": 360, "disbursed_on": disbursed.dt.date, "status": "active",
        "last_closed_date": yesterday, "accrued_through": yesterday, "unapplied": 0.0,
        "created_at": now,
    })
    # schedules: every installment of every loan
    rep = np.repeat(np.arange(n), term)
    k = np.arange(rep.size) - np.repeat(np.cumsum(term) - term, term) + 1
    m = month0[rep] + k
    due = pd.to_datetime(pd.DataFrame({"year": m // 12, "month": m % 12 + 1, "day": dom[rep]}))
    start = pd.to_datetime(pd.DataFrame({"year": (m - 1) // 12, "month": (m - 1) % 12 + 1,
                                         "day": dom[rep]}))
    per = principal_cents[rep] // term[rep]
    remaining = principal_cents[rep] - per * (k - 1)
    interest = (remaining * rate[rep] / 12).astype(np.int64)
    stop = np.where(rng.random(n) < 0.08, (rng.random(n) * mob).astype(int) + 1, 10_000)
    past = due.to_numpy() < np.datetime64(D)
    unpaid_late = past & (k >= stop[rep])
    paid = past & ~unpaid_late
    late_days = (np.datetime64(yesterday) - due.to_numpy().astype("datetime64[D]")).astype(int)
    accrued = unpaid_late & (late_days > 0)
    penalty = np.where(accrued, ((per + interest) * rate[rep] * 1.5 / 360).astype(np.int64)
                       * late_days, 0)
    inst = pd.DataFrame({
        "id": np.arange(first[1], first[1] + rep.size), "loan_id": ids[rep], "number": k,
        "period_start": start.dt.date, "due_date": due.dt.date,
        "principal_due": per / 100, "interest_due": interest / 100,
        "principal_paid": np.where(paid, per, 0) / 100,
        "interest_paid": np.where(paid, interest, 0) / 100,
        "penalty_charged": penalty / 100, "penalty_paid": 0.0,
        "penalty_through": pd.Series(yesterday, index=range(rep.size)).where(accrued),
        "settled_on": due.dt.date.where(paid),
    })
    # facts: GPS fixes of the last 30 days, app install (5 % uninstalled), a bureau refresh
    covered = ids[rng.random(n) < facts_share]
    c = len(covered)
    fixes = 8
    gps_cust = np.repeat(covered, fixes)
    gps_time = now - pd.to_timedelta(rng.integers(1, 30 * 24, c * fixes), unit="h")
    app_time = pd.to_datetime(disbursed.to_numpy()[covered - first[0]]).tz_localize("UTC")
    gone = covered[rng.random(c) < 0.05]
    inquiries = rng.poisson(0.5, c)
    inq_cust = np.repeat(covered, inquiries)
    facts = pd.concat([
        pd.DataFrame({"customer_id": gps_cust, "source": "vehicle_gps", "kind": "fix",
                      "event_time": gps_time, "uploaded_at": gps_time,
                      "value": (rng.random(c * fixes) < 0.1) * 1.0, "key": None}),
        pd.DataFrame({"customer_id": covered, "source": "app", "kind": "install",
                      "event_time": app_time, "uploaded_at": app_time, "value": None,
                      "key": None}),
        pd.DataFrame({"customer_id": gone, "source": "app", "kind": "uninstall",
                      "event_time": now - pd.Timedelta(days=3),
                      "uploaded_at": now - pd.Timedelta(days=3), "value": None, "key": None}),
        pd.DataFrame({"customer_id": covered, "source": "pboc", "kind": "report",
                      "event_time": now - pd.Timedelta(days=10),
                      "uploaded_at": now - pd.Timedelta(days=10), "value": 1.0, "key": None}),
        pd.DataFrame({"customer_id": inq_cust, "source": "pboc", "kind": "inquiry",
                      "event_time": now - pd.Timedelta(days=20),
                      "uploaded_at": now - pd.Timedelta(days=10), "value": None,
                      "key": [f"inq-{i}-{j}" for j, i in enumerate(inq_cust)]}),
    ], ignore_index=True)
    facts.insert(0, "id", np.arange(first[2], first[2] + len(facts)))
    return {"customers": people, "applications": apps, "decision_records": decisions,
            "loans": loans, "loan_installments": inst, "feature_facts": facts}


def _recorded_models(ids) -> list[str]:
    """Each decision's `model` JSON: the application score and PD it recorded (as
    `bench_postloan.recorded_scores`; ~1 % unscored, JSON null), which the night copies into
    the DPD snapshot. Their own random stream (seeded by the slice's first id): the rest of
    the book is the same as without them."""
    import numpy as np
    from bench_postloan import recorded_scores

    score, pd_ = recorded_scores(len(ids), np.random.default_rng([int(ids[0]), 2]))
    return ["null" if s != s else json.dumps({"score": int(s), "pd": float(p)})
            for s, p in zip(score.tolist(), pd_.tolist(), strict=True)]


SLICE = 100_000  # loans generated and copied at a time (a 1M book at once is ~10 GB of frames)
#: Indexes and constraints of the big tables are dropped for the load and rebuilt after it.
DEFERRED = ("loan_installments", "feature_facts", "decision_records")


def sample_features(pool, n: int, seed: int):
    """The decision-time feature rows of the book's n loans, slice by slice (their own random
    stream, so a kept book gets the same rows back for the LightGBM floor without rebuilding)."""
    import numpy as np

    rng = np.random.default_rng([seed, 1])
    for start in range(0, n, SLICE):
        m = min(SLICE, n - start)
        yield pool.iloc[rng.integers(0, len(pool), m)].reset_index(drop=True)


def load_book(engine, n: int, facts_share: float, pool, cipher, rng, seed: int):
    """Generate and COPY the book slice by slice; returns (counts, times, features)."""
    import pandas as pd
    from sqlalchemy import text

    from chedaitong.db.bulk import copy_frame, reset_sequence

    times: dict[str, float] = {"generate": 0.0}
    rows: dict[str, int] = {}
    features = []
    first = (1, 1, 1)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO dealers (id, code, name, city, province, channel, active,"
                          " created_at) VALUES (1, 'BENCH', '基准车行', '上海', '上海', "
                          "'store', true, now())"))
        saved = _drop_indexes(conn, DEFERRED)
        for feats in sample_features(pool, n, seed):
            t0 = time.perf_counter()
            tables = build_book(len(feats), facts_share, feats, cipher, rng, first)
            times["generate"] += time.perf_counter() - t0
            features.append(feats)
            for name, frame in tables.items():
                t0 = time.perf_counter()
                copy_frame(conn, name, frame)
                times[name] = times.get(name, 0.0) + time.perf_counter() - t0
                rows[name] = rows.get(name, 0) + len(frame)
            first = (first[0] + len(tables["loans"]),
                     first[1] + len(tables["loan_installments"]),
                     first[2] + len(tables["feature_facts"]))
            del tables
        t0 = time.perf_counter()
        for statement in saved:
            conn.execute(text(statement))
        times["indexes"] = time.perf_counter() - t0
        for name in (*rows, "dealers"):
            reset_sequence(conn, name)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return rows, times, pd.concat(features, ignore_index=True)


# ---- keeping a book between runs (--keep-book) -------------------------------------------
BOOK_TABLE = "bench_book"  # one row describing the book in the schema: what --keep-book checks


def remember_book(engine, n: int, seed: int, facts_share: float) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {BOOK_TABLE} (loans bigint, seed bigint, facts_share "
                          "float8, facts_max_id bigint, penalty_total numeric)"))
        conn.execute(text(f"INSERT INTO {BOOK_TABLE} SELECT :n, :seed, :share, "
                          "(SELECT max(id) FROM feature_facts), (SELECT sum(penalty_charged) "
                          "FROM loan_installments)"), {"n": n, "seed": seed, "share": facts_share})


def kept_book(engine, n: int, seed: int, facts_share: float) -> dict | None:
    """The schema's book if it is one of these n loans, seed and facts share, else None."""
    from sqlalchemy import inspect, text

    if BOOK_TABLE not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        row = conn.execute(text(f"SELECT * FROM {BOOK_TABLE}")).mappings().first()
    if row is None or (row["loans"], row["seed"], row["facts_share"]) != (n, seed, facts_share):
        return None
    return dict(row)


def reset_nights(engine, book: dict) -> dict[str, float]:
    """Undo every night from D on (what a night writes, and nothing else of the book): the
    accruals' penalty back off the installments, the loans back to closed through D-1, the
    night tables emptied. Returns seconds per step. Raises when the book's penalty total does
    not come back (then rebuild)."""
    from sqlalchemy import text

    y = D - timedelta(days=1)
    times: dict[str, float] = {}
    steps = [
        ("installments", "UPDATE loan_installments AS i SET penalty_charged = "
         "i.penalty_charged - a.amount, penalty_through = CASE WHEN i.due_date < :y THEN "
         "CAST(:y AS date) END FROM (SELECT loan_id, installment_no, sum(amount) AS amount "
         "FROM penalty_accruals WHERE accrual_date >= :d GROUP BY 1, 2) AS a "
         "WHERE i.loan_id = a.loan_id AND i.number = a.installment_no"),
        ("loans", "UPDATE loans SET last_closed_date = :y, accrued_through = :y "
         "WHERE last_closed_date <> :y OR accrued_through <> :y"),
        ("accruals", "DELETE FROM penalty_accruals WHERE accrual_date >= :d"),
        ("snapshots", "DELETE FROM delinquency_history WHERE as_of >= :d"),
        ("scores", "DELETE FROM behaviour_scores"),
        ("actions", "DELETE FROM postloan_actions"),
        ("runs", "DELETE FROM postloan_runs"),
        ("cases", "DELETE FROM collection_cases"),
        ("facts", "DELETE FROM feature_facts WHERE id > :facts"),
    ]
    with engine.begin() as conn:
        for name, sql in steps:
            t0 = time.perf_counter()
            conn.execute(text(sql), {"d": D, "y": y, "facts": book["facts_max_id"]})
            times[name] = time.perf_counter() - t0
        total = conn.execute(text("SELECT sum(penalty_charged) FROM loan_installments")).scalar()
        if total != book["penalty_total"]:
            raise RuntimeError(f"kept book's penalty total {total} != {book['penalty_total']}")
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE loans, loan_installments, delinquency_history, "
                          "penalty_accruals, postloan_actions, behaviour_scores"))
    times["vacuum"] = time.perf_counter() - t0
    return times


def _drop_indexes(conn, tables) -> list[str]:
    """Drop the tables' secondary indexes and constraints; the statements re-creating them."""
    from sqlalchemy import text

    again = []
    for table in tables:
        for name, definition in conn.execute(text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
                "CAST(:t AS regclass) AND contype IN ('p', 'u', 'f')"), {"t": table}).all():
            conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
            again.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for name, definition in conn.execute(text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t AND "
                "schemaname = current_schema()"), {"t": table}).all():
            conn.execute(text(f'DROP INDEX "{name}"'))
            again.append(definition)
    return again


def counts(engine, day: date) -> dict[str, int]:
    from sqlalchemy import text

    q = {"accruals": "SELECT count(*) FROM penalty_accruals WHERE accrual_date = :d",
         "snapshots": "SELECT count(*) FROM delinquency_history WHERE as_of = :d",
         "actions": "SELECT count(*) FROM postloan_actions WHERE as_of = :d",
         "loans_closed": "SELECT count(*) FROM loans WHERE last_closed_date = :d",
         "cases": "SELECT count(*) FROM collection_cases"}
    with engine.connect() as conn:
        return {k: conn.execute(text(v), {"d": day}).scalar_one() for k, v in q.items()}


#: What a night writes, per table: the columns compared between engines (no ids, no clocks).
WRITTEN = {
    "penalty_accruals": "loan_id, installment_no, accrual_date, base, amount",
    "delinquency_history": "loan_id, as_of, dpd, bucket, model_score, model_pd",
    "postloan_actions": "loan_id, as_of, action, rule_ids::text, dpd, bucket, status",
    "behaviour_scores": "loan_id, as_of, model_version, pd, score, grade, reasons::text, "
                        "exposure, expected_loss",
}


def checksum(engine) -> dict[str, str]:
    """An order-free checksum per table of everything the nights wrote (rows written, the
    installments' penalty columns and the loans' close dates): equal books give equal sums."""
    from sqlalchemy import text

    def q(cols: str, table: str) -> str:
        return (f"SELECT count(*), coalesce(sum(('x' || substr(md5(ROW({cols})::text), 1, 15))"
                f"::bit(60)::bigint), 0) FROM {table}")

    parts = {**{t: q(c, t) for t, c in WRITTEN.items()},
             "loan_installments": q("id, penalty_charged, penalty_through", "loan_installments"),
             "loans": q("id, last_closed_date, accrued_through", "loans")}
    with engine.connect() as conn:
        return {t: "{}:{:x}".format(*map(int, conn.execute(text(v)).one()))
                for t, v in parts.items()}


def save_state(engine) -> dict[str, int]:
    """Copy the columns a night changes, and the written tables' high-water ids (`restore`)."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_saved_inst, bench_saved_loans"))
        conn.execute(text("CREATE TABLE bench_saved_inst AS SELECT id, penalty_charged, "
                          "penalty_through FROM loan_installments"))
        conn.execute(text("CREATE TABLE bench_saved_loans AS SELECT id, last_closed_date, "
                          "accrued_through FROM loans"))
        return {t: conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {t}")).scalar_one()
                for t in (*WRITTEN, "postloan_runs")}


def restore(engine, marks: dict[str, int]) -> None:
    """Undo the nights since `save_state` (run with --no-send: nothing else was written)."""
    from sqlalchemy import text

    with engine.begin() as conn:
        for table, top in marks.items():
            conn.execute(text(f"DELETE FROM {table} WHERE id > :top"), {"top": top})
        conn.execute(text(
            "UPDATE loan_installments t SET penalty_charged = s.penalty_charged, "
            "penalty_through = s.penalty_through FROM bench_saved_inst s WHERE t.id = s.id AND "
            "(t.penalty_charged <> s.penalty_charged OR t.penalty_through IS DISTINCT FROM "
            "s.penalty_through)"))
        conn.execute(text(
            "UPDATE loans t SET last_closed_date = s.last_closed_date, accrued_through = "
            "s.accrued_through FROM bench_saved_loans s WHERE t.id = s.id"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE loans, loan_installments"))


def postgres_cpu() -> float:
    """CPU seconds used so far by the local PostgreSQL server: its live processes plus the
    reaped backends (in the postmaster's children times). The database shares the cores."""
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")] == "postgres":
            procs[pid] = stat[stat.rindex(")") + 2:].split()
    ticks = 0
    for f in procs.values():
        ticks += int(f[11]) + int(f[12])  # utime, stime
        if f[1] not in procs:  # the postmaster: add its reaped children
            ticks += int(f[13]) + int(f[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def night(env: dict[str, str], args: list[str]) -> dict:
    pg0, t0 = postgres_cpu(), os.times()
    proc = subprocess.run([sys.executable, __file__, "--child", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    t1 = os.times()
    pg_cpu = postgres_cpu() - pg0
    child_cpu = t1.children_user + t1.children_system - t0.children_user - t0.children_system
    lines = [x for x in proc.stdout.splitlines() if x.startswith("BENCH ")]
    if not lines:
        sys.exit(f"run {args} printed nothing:\n{proc.stderr[-3000:]}")
    out = json.loads(lines[-1][6:])
    if out["code"] != 0:  # the figures of a failed night mean nothing without its reason
        tail = [x[:2000] for x in proc.stderr.splitlines() if '"event": "chunk"' not in x]
        print(f"run {args} exited {out['code']}; its stderr ends:\n" + "\n".join(tail[-40:]),
              flush=True)
    out.update(pg_cpu=pg_cpu, job_cpu=child_cpu)  # job_cpu: the run and its worker processes
    day = [e for e in map(_json, proc.stderr.splitlines()) if e.get("event") == "day_finished"]
    out["report"] = day[-1] if day else {}
    return out


def _json(line: str) -> dict:
    try:
        return json.loads(line)
    except ValueError:
        return {}


def show(label: str, r: dict, rows: dict | None = None) -> None:
    st = " ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
    print(f"{label}: exit {r['code']}, wall {r['wall']:.1f} s [{st}] peak RSS "
          f"{r['rss_gib']:.2f} GiB (children {r['children_rss_gib']:.2f}); CPU s: job "
          f"{r['job_cpu']:.1f} (driver {r['cpu']:.1f}), PostgreSQL {r['pg_cpu']:.1f}"
          + (f"; rows {rows}" if rows else ""), flush=True)
    for pid, w in sorted(r.get("workers", {}).items()):
        print(f"    worker {pid}: {w['chunks']} ranges, {w['loans']:,} loans, wall "
              f"{w['wall']:.1f} s (read {w.get('read', 0):.1f}, compute "
              f"{w.get('compute', 0):.1f}, write {w.get('write', 0):.1f}), CPU {w['cpu']:.1f} s",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="a PostgreSQL database (the --schema is (re)made in it)")
    parser.add_argument("--chunk-size", type=int, default=20_000)
    parser.add_argument("--facts-share", type=float, default=0.3)
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--schema", default=SCHEMA,
                        help="the schema the book lives in (one per book size to keep several)")
    parser.add_argument("--keep-book", action="store_true",
                        help="reuse the schema's book when it has the same --loans, --seed and "
                        "--facts-share (the nights from D on are undone first); else build it")
    parser.add_argument("--book-only", action="store_true",
                        help="build (or keep) the book, then stop: no nights")
    parser.add_argument("--dask-workers", default="1,2",
                        help="worker-process counts of the Dask nights, e.g. 1,2")
    parser.add_argument("--sandbox-port", type=int,
                        default=int(os.environ.get("BENCH_SANDBOX_PORT", SANDBOX_PORT)))
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith("postgresql"):
        sys.exit("give --database-url postgresql+psycopg://… (or BENCH_DATABASE_URL)")

    import numpy as np
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from chedaitong.config import Settings
    from chedaitong.crypto import DataCipher
    from chedaitong.db import make_engine
    from chedaitong.db import migrate as migrations
    from chedaitong.db.bulk import copy_out
    from chedaitong_sim.sandbox.server import start_sandbox
    from chedaitong_sim.synthetic.credit_frames import synthetic_frame
    from models.registry import Registry
    from models.scoring import load_champion
    from models.train import TrainConfig, train_and_register

    print(f"load average at start: {os.getloadavg()}; cpus {os.cpu_count()}", flush=True)
    admin = make_engine(args.database_url)
    url = make_url(args.database_url).update_query_dict(
        {"options": f"-csearch_path={args.schema}"}).render_as_string(hide_password=False)
    engine = make_engine(url)
    book = None
    if args.keep_book:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{args.schema}"'))
        book = kept_book(engine, args.loans, args.seed, args.facts_share)
    if book is None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{args.schema}"'))
    migrations.upgrade(engine)
    tmp = Path(tempfile.mkdtemp(prefix="bench-nightly-"))
    frame = synthetic_frame(5000, seed=1)
    reg = Registry(tmp / "models")
    version, _ = train_and_register(frame, reg, config=TrainConfig(num_threads=2), report=False)
    reg.promote(version, "champion")
    # the nightly behaviour champion (registry purpose "behaviour"), trained on synthetic
    # loan-month snapshots: the night scores every loan with it, as a lender's would
    from chedaitong_sim.synthetic.behaviour_frames import behaviour_frame
    from decisioning.postloan import behaviour

    breg = Registry(tmp / "models", "behaviour")
    bversion, _ = train_and_register(behaviour_frame(5000, seed=1), breg,
                                     config=TrainConfig(num_threads=2), report=False)
    breg.promote(bversion, "champion")
    bmodel = behaviour.champion(str(tmp / "models"))
    model = load_champion(str(tmp / "models"), warm=False)
    pool = frame.reindex(columns=list(model.feature_names))
    import base64
    import hashlib

    # the book's and the job's key: a function of the seed, so a kept book stays readable
    data_key = base64.urlsafe_b64encode(
        hashlib.sha256(f"bench-nightly-{args.seed}".encode()).digest()).decode()
    settings = Settings.from_env({"CHEDAITONG_DATA_KEY": data_key})
    if book is None:
        rng = np.random.default_rng(args.seed)
        rows, loaded, _ = load_book(engine, args.loans, args.facts_share, pool,
                                           DataCipher(settings.data_key), rng, args.seed)
        remember_book(engine, args.loans, args.seed, args.facts_share)
        print(f"book: {args.loans:,} loans, {rows['loan_installments']:,} installments, "
              f"{rows['feature_facts']:,} facts; generated {loaded.pop('generate'):.1f} s, "
              f"COPY and indexes {sum(loaded.values()):.1f} s "
              f"({', '.join(f'{k} {v:.1f}' for k, v in loaded.items())})", flush=True)
    else:
        reset = reset_nights(engine, book)
        steps = ", ".join(f"{k} {v:.1f}" for k, v in reset.items())
        print(f"book kept: {args.loans:,} loans (seed {args.seed}); nights from {D} undone in "
              f"{sum(reset.values()):.1f} s ({steps})", flush=True)
    if args.book_only:
        engine.dispose()
        admin.dispose()
        return

    sandbox = start_sandbox(None, port=args.sandbox_port)
    sandbox.configure("*", latency_ms=0)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHEDAITONG_", "BENCH_"))}
    env.update(DATABASE_URL=url, CHEDAITONG_MODEL_DIR=str(tmp / "models"),
               CHEDAITONG_RULES_DIR=str(ROOT / "rules"), CHEDAITONG_VAR_DIR=str(tmp / "var"),
               CHEDAITONG_VENDOR_URL=sandbox.base_url, CHEDAITONG_DATA_KEY=data_key,
               PYTHONPATH=str(ROOT))
    if os.environ.get("BENCH_PROFILE"):
        env["BENCH_PROFILE"] = os.environ["BENCH_PROFILE"]
    captured = tmp / "behaviour-rows"
    captured.mkdir()
    chunk = ["--chunk-size", str(args.chunk_size)]
    first = night({**env, "BENCH_CAPTURE": str(captured)}, ["--as-of", D.isoformat(), *chunk])
    rows = counts(engine, D)
    calls = len(sandbox.calls())
    show(f"night {D} pandas", first, rows)
    print(f"  checksums: {checksum(engine)}", flush=True)  # equal books, equal nights
    print(f"  handoff: {first['report'].get('report', {}).get('handoff')}; vendor calls {calls}")
    behaviour_report = first["report"].get("report", {}).get("behaviour", {})
    print(f"  behaviour: champion {behaviour_report.get('champion')}, scored "
          f"{behaviour_report.get('scored')}, by grade {behaviour_report.get('by_grade')}")
    second = night(env, ["--as-of", D.isoformat(), *chunk])
    show(f"night {D} again", second)
    same = counts(engine, D) == rows and len(sandbox.calls()) == calls
    print(f"  second run: {second['wall'] / first['wall']:.1%} of the first (target ≤ 10 %); "
          f"nothing written or sent: {same}; status {second['report'].get('status')}")

    # floors, in the same run: the behaviour model's bare encode + predict (2 threads) on
    # tonight's post-loan features as the job built them, its LightGBM booster alone on the
    # same encoded rows, and a bare COPY TO (the night runs no application model: it reads
    # the recorded score)
    import pandas as pd

    brows = pd.concat([pd.read_pickle(f) for f in sorted(captured.iterdir())],
                      ignore_index=True)
    import statistics

    def bare(m, rows) -> float:  # the median of three (the machine is shared)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            m.margins(m.encode(rows), num_threads=2)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    t_lgb = bare(bmodel, brows)
    from bench_postloan import booster_alone

    encoded = bmodel.encode(brows)
    t_booster = statistics.median(booster_alone(bmodel, encoded) for _ in range(3))
    t0 = time.perf_counter()
    with engine.connect() as conn:
        nbytes = copy_out(conn, "SELECT * FROM loans") + copy_out(
            conn, "SELECT * FROM loan_installments")
    t_copy = time.perf_counter() - t0
    st = first["stages"]
    compute = st.get("compute", 0) - st.get("capture", 0)
    io = st.get("read", 0) + st.get("write", 0) + st.get("plan", 0)
    # reads run ahead and writes behind in threads while a chunk computes: the close waits
    # only read_wait and write_wait for them (older jobs: the whole read and write)
    waited = (st.get("read_wait", st.get("read", 0)) + st.get("plan", 0)
              + st.get("write_wait", st.get("write", 0)))
    print(f"floors (median of 3): (a) bare behaviour scoring encode+predict {t_lgb:.2f} s, "
          f"(b) its booster alone {t_booster:.2f} s, on {len(brows):,} rows; bare COPY "
          f"TO of loans + installments {t_copy:.2f} s ({nbytes / 2**20:.0f} MiB)")
    print(f"ratios: compute {compute:.1f} s = {compute / t_lgb:.2f}x (a), "
          f"{compute / t_booster if t_booster else float('nan'):.2f}x (b) (target ≤ 3x); "
          f"I/O (plan+read+write) {io / t_copy:.2f}x COPY (target ≤ 3x), as waited for "
          f"(plan+read_wait+write_wait) {waited / t_copy:.2f}x; close {st.get('close', 0):.1f} s; "
          f"whole night "
          f"{first['wall']:.1f} s (target ≤ 600 s at 1M)", flush=True)

    if not args.no_dask:
        # each engine closes the same day from the same state (restored between runs, sends
        # off: the driver's sends are the same code for every engine), so results compare
        day = D + timedelta(days=1)
        marks = save_state(engine)
        runs = {}
        for label in ["pandas", *args.dask_workers.split(",")]:
            extra = (["--engine", "dask", "--workers", label] if label != "pandas" else [])
            r = night(env, ["--as-of", day.isoformat(), "--no-send", *extra, *chunk])
            r["sum"], r["counts"] = checksum(engine), counts(engine, day)
            show(f"night {day} {label if label == 'pandas' else f'dask {label} worker(s)'}", r,
                 r["counts"])
            runs[label] = r
            restore(engine, marks)
        ref = runs["pandas"]
        for label, r in runs.items():
            if label != "pandas":
                print(f"  dask {label}: rows and checksums equal to pandas: "
                      f"{r['sum'] == ref['sum'] and r['counts'] == ref['counts']}")
        ks = [k for k in runs if k != "pandas"]
        if len(ks) >= 2:
            one, many = runs[ks[0]], runs[ks[-1]]
            wcpu = {k: sum(w["cpu"] for w in runs[k]["workers"].values()) for k in ks}
            busy = {k: (wcpu[k] + runs[k]["pg_cpu"]) / runs[k]["stages"]["close"]
                    for k in ks}
            print(f"dask closing (the workers' part): {ks[-1]} workers give "
                  f"{one['stages']['close'] / many['stages']['close']:.2f}x the throughput of "
                  f"{ks[0]} (target ≥ 1.5x); whole day "
                  f"{one['stages']['day'] / many['stages']['day']:.2f}x (cluster start "
                  f"excluded); workers' CPU s {wcpu[ks[0]]:.1f} vs {wcpu[ks[-1]]:.1f}, "
                  f"PostgreSQL CPU s {one['pg_cpu']:.1f} vs {many['pg_cpu']:.1f}; cores kept "
                  f"busy (workers + PostgreSQL CPU / close wall) {busy[ks[0]]:.2f} vs "
                  f"{busy[ks[-1]]:.2f} of {os.cpu_count()}")
    print(f"load average at end: {os.getloadavg()}", flush=True)
    sandbox.stop()
    engine.dispose()
    admin.dispose()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
