"""The nightly post-loan inspection against the database (flows: side effects live here).

Per business day `as_of`: for every active loan whose `last_closed_date` < as_of, in chunks of
loans ordered by id, run `inspection.inspect_partition` and write its output — penalty
accruals, installment penalty totals, the DPD snapshot, the actions (status pending) — and move
`last_closed_date` to as_of *in the same transaction*. Then send the pending actions through
the vendors, each with an idempotency key derived from (as_of, loan, action), and write the run
report from what is stored.

Why this is safe to run again: a loan closed for as_of is never selected again for it (so a
second run changes nothing), a crash loses at most the uncommitted chunk (a rerun picks up the
loans still behind: same end state as one clean run), the unique keys refuse a second penalty
day or action, and a send interrupted between the vendor call and the status update is retried
with the same idempotency key, which the vendor deduplicates. Exclusivity: `lock`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from chedaitong.db import DecisionRecord
from chedaitong.db.base import utcnow
from chedaitong.db.behaviour import BehaviourScore
from chedaitong.db.idset import in_ids
from chedaitong.db.servicing import (
    DelinquencySnapshot,
    Loan,
    PenaltyAccrual,
    PostloanAction,
    PostloanRun,
    ScheduledInstallment,
)
from decisioning.postloan import behaviour as postloan_behaviour
from decisioning.postloan import bureau_refresh, handoff, shutdown
from decisioning.postloan import lock as postloan_lock
from decisioning.postloan.behaviour import exposure_cents
from decisioning.postloan.inspection import Partition, PartitionResult, Resources, inspect_partition
from servicing.batch import decimals_from_cents, rate_to_ppm

log = logging.getLogger("chedaitong.postloan")

LOCK_NAME = "postloan"
VENDOR_ACTIONS = {"sms_reminder", "outsourced_collection"}  # others are internal work queues
SCORE_BANDS = [0, 450, 500, 550, 600, 650, 700, 10_000]

Progress = Callable[[int, int], None]


@dataclass
class RunOutcome:
    as_of: date
    status: str  # finished | already_finished | failed
    loans: int = 0
    chunks: int = 0
    sent: int = 0
    failed_sends: int = 0
    report: dict[str, Any] = field(default_factory=dict)


# ---- reading a partition ------------------------------------------------------------------
def pending_loan_ids(session: Session, as_of: date) -> list[int]:
    stmt = (
        select(Loan.id)
        .where(Loan.status == "active", Loan.last_closed_date < as_of, Loan.disbursed_on < as_of)
        .order_by(Loan.id)
    )
    return list(session.scalars(stmt))


def _cents(values: list[Any]) -> np.ndarray:
    return np.fromiter((int(Decimal(v) * 100) for v in values), np.int64, len(values))


def _installments(session: Session, loan_ids: list[int]) -> pd.DataFrame:
    s = ScheduledInstallment
    stmt = (select(s.id, s.loan_id, s.number, s.due_date, s.principal_due, s.principal_paid,
                   s.interest_due, s.interest_paid, s.penalty_through, s.settled_on)
            .where(in_ids(s.loan_id, loan_ids)).order_by(s.loan_id, s.number))
    rows = session.execute(stmt).all()
    inst = pd.DataFrame({
        "id": [r.id for r in rows],
        "loan_id": [r.loan_id for r in rows],
        "number": [r.number for r in rows],
        "due_date": pd.to_datetime([r.due_date for r in rows]),
        "unpaid_principal": _cents([r.principal_due - r.principal_paid for r in rows]),
        "unpaid_interest": _cents([r.interest_due - r.interest_paid for r in rows]),
        "amount_due": _cents([r.principal_due + r.interest_due for r in rows]),
        "penalty_through": pd.to_datetime([r.penalty_through for r in rows]),
        "settled_on": pd.to_datetime([r.settled_on for r in rows]),
    })
    return inst.astype({c: np.int64 for c in ("id", "loan_id", "number")})


def _installments_by_copy(session: Session, loan_ids: list[int], before: date | None = None
                          ) -> pd.DataFrame:
    """The same frame as `_installments`, read by COPY (PostgreSQL): money as int cents and
    dates as day numbers, both parsed in C, not one Decimal and one date object per value."""
    from chedaitong.db.bulk import in_id_range, read_frame

    due = f" AND due_date < DATE '{before.isoformat()}'" if before is not None else ""
    inst = read_frame(session.connection(), f"""
        SELECT id, loan_id, number, due_date - DATE '1970-01-01' AS due_date,
               ((principal_due - principal_paid) * 100)::bigint AS unpaid_principal,
               ((interest_due - interest_paid) * 100)::bigint AS unpaid_interest,
               ((principal_due + interest_due) * 100)::bigint AS amount_due,
               penalty_through - DATE '1970-01-01' AS penalty_through,
               settled_on - DATE '1970-01-01' AS settled_on
        FROM {ScheduledInstallment.__tablename__}
        WHERE {in_id_range("loan_id", loan_ids)}{due} ORDER BY loan_id, number""",
                      days=["due_date", "penalty_through", "settled_on"])
    return inst.astype({"id": np.int64, "loan_id": np.int64, "number": np.int64,
                        "unpaid_principal": np.int64, "unpaid_interest": np.int64,
                        "amount_due": np.int64})


def _future_principal_by_copy(session: Session, loan_ids: list[int], as_of: date
                              ) -> pd.Series:
    """Unpaid principal per loan in int cents of the schedule lines due on or after `as_of`,
    summed in SQL: the night reads only the lines due before it (`_installments_by_copy`),
    and the future ones are needed for the exposure and nothing else. Indexed by loan id."""
    from chedaitong.db.bulk import in_id_range, read_frame

    owed = read_frame(session.connection(), f"""
        SELECT loan_id, (sum(principal_due - principal_paid) * 100)::bigint AS owed
        FROM {ScheduledInstallment.__tablename__} WHERE {in_id_range("loan_id", loan_ids)}
        AND due_date >= DATE '{as_of.isoformat()}' GROUP BY loan_id""")
    return pd.Series(owed["owed"].to_numpy(np.int64), index=owed["loan_id"].to_numpy(np.int64))


def load_partition(
    session: Session, loan_ids: list[int], store: Any,
    *, bulk: bool | None = None, as_of: date | None = None,
) -> Partition:
    """Everything `inspect_partition` needs for these loans (rows locked on PostgreSQL).

    PostgreSQL reads by COPY (`bulk`, the default there); elsewhere, or with ``bulk=False``,
    through ordinary row queries. The two give the same frames (a test holds them equal).

    With `as_of` (the night's read): only the schedule lines due before it — all that the
    penalty, DPD and features read; about half a book's lines are future ones — and each
    loan's outstanding principal over the whole schedule as ``loans.exposure_cents`` (the
    lines read, plus the future lines summed in SQL: no line is read twice). On
    PostgreSQL the statement that locks the loans also moves their close marker to `as_of`
    (``Partition.closed``; `persist` then leaves it): one pass over the loans instead of a
    locking SELECT and a closing UPDATE, and as before the marker commits with the chunk.
    The night's read takes only the loans still behind `as_of` (checked once their rows are
    locked): a second reader of the same loans — a Dask task retried while the first still
    ran — finds them closed and reads nothing, where it would have closed them again.

    Each loan's decision gives only its recorded application score and PD
    (``loans.application_score`` / ``application_pd``, NaN unscored or undecided): the night
    never re-scores the application model."""
    if bulk is None:
        bulk = session.bind.dialect.name == "postgresql"
    closed = bulk and as_of is not None
    if bulk:
        lf, apps = _loans_by_copy(session, loan_ids, close=as_of)
        loan_ids = lf["loan_id"].tolist()
        inst = _installments_by_copy(session, loan_ids, before=as_of)
        if as_of is not None:  # exposure: the lines read (past due) + the future ones' sum
            future = _future_principal_by_copy(session, loan_ids, as_of)
            lf["exposure_cents"] = exposure_cents(lf, inst) + future.reindex(
                lf["loan_id"].to_numpy(), fill_value=0).to_numpy(np.int64)
    else:
        lf, apps = _loans(session, loan_ids, behind=as_of)
        loan_ids = lf["loan_id"].tolist()
        inst = _installments(session, loan_ids)
        if as_of is not None:
            lf["exposure_cents"] = exposure_cents(lf, inst)
            inst = inst[inst["due_date"] < pd.Timestamp(as_of)].reset_index(drop=True)
    recorded = _decisions(session, sorted(set(apps.values())), bulk=bulk).reindex(
        [apps.get(i) for i in lf["loan_id"].tolist()])
    lf["application_score"] = recorded["score"].to_numpy(np.float64)
    lf["application_pd"] = recorded["pd"].to_numpy(np.float64)
    customers = sorted(set(lf["customer_id"].tolist()))
    facts = store.facts(session, customers, bulk=bulk) if store else None
    return Partition(lf, inst, facts, closed=closed)


def _loans(session: Session, loan_ids: list[int], behind: date | None = None
           ) -> tuple[pd.DataFrame, dict[int, int]]:
    stmt = select(Loan).where(in_ids(Loan.id, loan_ids))
    if behind is not None:
        stmt = stmt.where(Loan.last_closed_date < behind)
    loans = session.execute(stmt.order_by(Loan.id).with_for_update()).scalars().all()
    lf = pd.DataFrame({
        "loan_id": [x.id for x in loans],
        "customer_id": [x.customer_id for x in loans],
        "disbursed_on": pd.to_datetime([x.disbursed_on for x in loans]),
        "rate_ppm": [rate_to_ppm(Decimal(x.annual_rate)) for x in loans],
        "penalty_multiplier": [str(Decimal(x.penalty_multiplier).normalize()) for x in loans],
        "penalty_grace_days": [x.penalty_grace_days for x in loans],
        "penalty_include_interest": [bool(x.penalty_include_interest) for x in loans],
        "penalty_day_basis": [x.penalty_day_basis for x in loans],
    })
    return lf, {x.id: x.application_id for x in loans if x.application_id is not None}


def _loans_by_copy(session: Session, loan_ids: list[int], close: date | None = None
                   ) -> tuple[pd.DataFrame, dict[int, int]]:
    """`_loans` by COPY: the rows locked (``FOR UPDATE``, or with `close` the ``UPDATE`` that
    moves their close marker: see `load_partition`), then streamed; rates and multipliers
    are converted once per distinct value (a book has a handful)."""
    from chedaitong.db.bulk import id_array, read_frame

    ids = id_array(loan_ids)
    table = Loan.__tablename__
    columns = ("id, customer_id, application_id, disbursed_on - DATE '1970-01-01' AS "
               "disbursed_on, annual_rate::text AS rate, penalty_multiplier::text AS "
               "multiplier, penalty_grace_days, penalty_include_interest::int AS "
               "include_interest, penalty_day_basis")
    if close is None:
        session.execute(text(f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE id = "
                             f"ANY({ids}) FOR UPDATE) AS locked"))
        query = f"SELECT {columns} FROM {table} WHERE id = ANY({ids})"
    else:
        day = f"DATE '{close.isoformat()}'"
        query = (f"UPDATE {table} SET last_closed_date = {day}, accrued_through = "
                 f"greatest(accrued_through, {day}) WHERE id = ANY({ids}) AND "
                 f"last_closed_date < {day} RETURNING {columns}")
    raw = read_frame(session.connection(), query, days=["disbursed_on"], rate=str,
                     multiplier=str)
    raw = raw.sort_values("id", ignore_index=True)  # RETURNING has no ORDER BY
    rates = {v: rate_to_ppm(Decimal(v)) for v in raw["rate"].unique()}
    multipliers = {v: str(Decimal(v).normalize()) for v in raw["multiplier"].unique()}
    lf = pd.DataFrame({
        "loan_id": raw["id"].astype(np.int64),
        "customer_id": raw["customer_id"].astype(np.int64),
        "disbursed_on": raw["disbursed_on"],
        "rate_ppm": raw["rate"].map(rates).astype(np.int64),
        "penalty_multiplier": raw["multiplier"].map(multipliers).tolist(),  # as the row read
        "penalty_grace_days": raw["penalty_grace_days"].astype(np.int64),
        "penalty_include_interest": raw["include_interest"].astype(bool),
        "penalty_day_basis": raw["penalty_day_basis"].astype(np.int64),
    })
    linked = raw[raw["application_id"].notna()]
    apps = dict(zip(linked["id"].astype(int).tolist(),
                    linked["application_id"].astype(int).tolist(), strict=True))
    return lf, apps


def _decisions(session: Session, app_ids: list[int], *, bulk: bool) -> pd.DataFrame:
    """Each application's recorded model score and PD (`decision_records.model`; one record
    per application), float columns ``score`` and ``pd`` (NaN where the decision was not
    scored), indexed by application id. On PostgreSQL (`bulk`) the database picks the two
    numbers out of the JSON and COPY streams them; elsewhere the rows' JSON is read."""
    if bulk and app_ids:
        from chedaitong.db.bulk import in_id_range, read_frame

        frame = read_frame(session.connection(), f"""
            SELECT application_id, (model ->> 'score')::float8 AS score,
                   (model ->> 'pd')::float8 AS pd
            FROM {DecisionRecord.__tablename__}
            WHERE {in_id_range("application_id", app_ids)}""")
        return pd.DataFrame({"score": frame["score"].to_numpy(np.float64),
                             "pd": frame["pd"].to_numpy(np.float64)},
                            index=pd.Index(frame["application_id"].to_numpy(np.int64)))
    rows = session.execute(
        select(DecisionRecord.application_id, DecisionRecord.model)
        .where(in_ids(DecisionRecord.application_id, app_ids))).all() if app_ids else []
    models = [r.model if isinstance(r.model, dict) else {} for r in rows]
    return pd.DataFrame({k: [_number(m.get(k)) for m in models] for k in ("score", "pd")},
                        index=pd.Index([r.application_id for r in rows], dtype=np.int64),
                        dtype=np.float64)


def _number(value: Any) -> float:
    """A recorded JSON number as float; anything else (missing, null) NaN."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else np.nan


def _nullable(values: pd.Series, cast: Callable[[float], Any]) -> pd.Series:
    """Column values for an insert, NaN as None (NULL) and the others `cast`, in an object
    column: a frame would make [612, None] float (NaN, and "612.0", which COPY refuses for an
    integer column; executemany would send NaN)."""
    return pd.Series([None if v != v else cast(v) for v in values.to_numpy(np.float64).tolist()],
                     dtype=object)


def _pd6(value: float) -> float:
    return round(value, 6)


# ---- writing a partition ------------------------------------------------------------------
def persist(session: Session, part: Partition, result: PartitionResult, as_of: date,
            *, bulk: bool | None = None) -> None:
    """Write one partition's day close; the caller commits (one transaction per chunk).

    Every insert is one COPY on PostgreSQL (`bulk.insert_rows`) and every update one
    set-based statement; SQLite (or ``bulk=False``) gets the same rows through executemany."""
    from chedaitong.db.bulk import insert_rows, update_from

    conn = session.connection()
    pg = conn.dialect.name == "postgresql" if bulk is None else bulk
    if len(result.accruals):
        a = result.accruals
        insert_rows(conn, PenaltyAccrual.__table__, bulk=pg, frame=pd.DataFrame({
            "loan_id": a["loan_id"].astype(np.int64).tolist(),
            "installment_no": a["installment_no"].astype(np.int64).tolist(),
            "accrual_date": pd.to_datetime(a["accrual_date"]).dt.date.tolist(),
            "base": decimals_from_cents(a["base"]), "amount": decimals_from_cents(a["amount"])}))
    if len(result.charged):
        ids = part.installments.set_index(["loan_id", "number"])["id"]
        keys = pd.MultiIndex.from_arrays([result.charged["loan_id"], result.charged["number"]])
        charged = pd.DataFrame({"id": ids.loc[keys].to_numpy(np.int64),
                                "add_cents": result.charged["penalty_cents"].to_numpy(np.int64)})
        table = ScheduledInstallment.__table__
        if pg:
            update_from(conn, table, charged, "id",
                        "penalty_charged = t.penalty_charged + src.add_cents::numeric / 100, "
                        f"penalty_through = DATE '{as_of.isoformat()}'")
        else:
            conn.execute(
                update(table).where(table.c.id == bindparam("b_id")).values(
                    penalty_charged=table.c.penalty_charged + bindparam("b_add"),
                    penalty_through=as_of,
                ),
                [{"b_id": int(i), "b_add": Decimal(int(c)) / 100}
                 for i, c in zip(charged["id"], charged["add_cents"], strict=True)],
            )
    loans = result.loans
    insert_rows(conn, DelinquencySnapshot.__table__, bulk=pg, frame=pd.DataFrame({
        "loan_id": loans["loan_id"].astype(np.int64).tolist(), "as_of": as_of,
        "dpd": loans["dpd"].astype(np.int64).tolist(), "bucket": loans["bucket"].tolist(),
        "model_score": _nullable(loans["model_score"], int),
        "model_pd": _nullable(loans["model_pd"], _pd6)}))
    scores = postloan_behaviour.frame(loans, as_of)
    if len(scores):
        insert_rows(conn, BehaviourScore.__table__, scores, bulk=pg)
    if len(result.actions):
        acts = result.actions
        insert_rows(conn, PostloanAction.__table__, bulk=pg, frame=pd.DataFrame({
            "loan_id": acts["loan_id"].astype(np.int64).tolist(), "as_of": as_of,
            "action": acts["action"].tolist(),
            "rule_ids": [list(r) for r in acts["rule_ids"]],
            "dpd": acts["dpd"].astype(np.int64).tolist(), "bucket": acts["bucket"].tolist(),
            "status": ["pending" if x in VENDOR_ACTIONS else "queued" for x in acts["action"]],
            "created_at": utcnow()}))
    if part.closed:  # moved by the locking read (`load_partition`)
        return
    table = Loan.__table__
    closed = [int(i) for i in loans["loan_id"]]
    if pg:
        conn.execute(text(f"UPDATE {table.name} SET last_closed_date = :d, accrued_through = "
                          "greatest(accrued_through, :d) WHERE id = ANY(:ids)"),
                     {"d": as_of, "ids": closed})
    else:
        conn.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(
                last_closed_date=as_of, accrued_through=(
                    func.max if conn.dialect.name == "sqlite" else func.greatest)(
                        table.c.accrued_through, as_of)),
            [{"b_id": i} for i in closed],
        )


# ---- the run ------------------------------------------------------------------------------
def chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _any_behind(engine: Engine, as_of: date) -> bool:
    with Session(engine) as session:
        return session.scalar(
            select(Loan.id).where(Loan.status == "active", Loan.last_closed_date < as_of,
                                  Loan.disbursed_on < as_of).limit(1)) is not None


def _start_run(engine: Engine, as_of: date, engine_kind: str) -> PostloanRun:
    with Session(engine, expire_on_commit=False) as session:
        run = session.scalar(select(PostloanRun).where(PostloanRun.as_of == as_of))
        if run is None:
            run = PostloanRun(as_of=as_of, status="running", engine=engine_kind, counts={},
                              report={})
            session.add(run)
        elif run.status != "finished":
            run.status, run.engine = "running", engine_kind
        session.commit()
        return run


def close_day(
    engine: Engine,
    as_of: date,
    *,
    resources: Resources,
    store: Any,
    holder: str,
    chunk_size: int = 5_000,
    progress: Progress | None = None,
    **_: Any,
) -> tuple[int, int]:
    """Process every loan still behind `as_of`, one chunk per transaction; returns (loans,
    chunks) done by this call. (The scale-out engine is `distributed.make_closer`.)"""
    with Session(engine) as session:
        ids = pending_loan_ids(session, as_of)
    total, done, n_chunks = len(ids), 0, 0

    def committed(loans: int) -> None:
        nonlocal done, n_chunks
        n_chunks += 1
        done += loans
        if progress:
            progress(done, total)
        shutdown.check()  # SIGTERM/SIGINT: stop here, this chunk is committed

    close_groups(engine, list(chunks(ids, chunk_size)), as_of, resources=resources,
                 read=night_read(store, as_of), committed=committed)
    return done, n_chunks


def night_read(store: Any, as_of: date) -> Callable[[Session, list[int]], Partition]:
    """The night's read of a group of loans (`load_partition` with `as_of`)."""

    def read(session: Session, group: list[int]) -> Partition:
        return load_partition(session, group, store, as_of=as_of)

    return read


def close_groups(engine: Engine, groups: list[list[int]], as_of: date, *,
                 resources: Resources, read: Callable[[Session, list[int]], Partition],
                 committed: Callable[[int], None], timings: dict[str, Any] | None = None
                 ) -> None:
    """Close `as_of` for each group of loans in order, one transaction each, calling
    `committed` (loans) after each commit — the one way a range of loans is processed, by
    the pandas engine and on every Dask worker alike.

    PostgreSQL: group i+1 is read (a thread) and group i-1 written and committed (another)
    while group i computes here; the database's share of a group, on its own core, no longer
    waits for this process's share. One write in flight, commits in group order. A group
    whose loans are all closed already (by another reader) commits nothing. `timings`, when
    given, gets the seconds computing and writing added to its "compute" and "write"."""
    import time

    def timed(key: str, t0: float) -> None:
        if timings is not None:
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0

    def write(session: Session, part: Partition, result: PartitionResult | None, *,
              check: bool = True) -> int:
        t0 = time.perf_counter()
        with session:
            if result is not None:
                persist(session, part, result, as_of)
            if check:
                postloan_lock.check(LOCK_NAME)
            session.commit()
        timed("write", t0)
        return len(part.loans)

    overlap = engine.dialect.name == "postgresql"
    reads = read_ahead(engine, groups, read, ahead=overlap)
    writer = ThreadPoolExecutor(1, thread_name_prefix="postloan-write") if overlap else None
    writing: Future[int] | None = None
    try:
        for session, part in reads:
            try:
                t0 = time.perf_counter()
                result = inspect_partition(part, as_of, resources) if len(part.loans) else None
                timed("compute", t0)
                if writing is not None:  # the previous group: committed before this one goes
                    previous, writing = writing, None
                    committed(take_write(previous))
                if writer is not None:  # checked here: a lock is this (main) thread's
                    postloan_lock.check(LOCK_NAME)
            except BaseException:
                session.close()  # computed, never written: rolled back, its loans behind
                raise
            if writer is None:
                committed(write(session, part, result))
            else:
                writing = writer.submit(write, session, part, result, check=False)
        if writing is not None:
            previous, writing = writing, None
            committed(take_write(previous))
    finally:
        if writing is not None:  # stopped by a failure here: the write in flight ends first
            try:
                writing.result()
            except Exception:
                log.debug("a group's write failed after the run stopped", exc_info=True)
        if writer is not None:
            writer.shutdown()
        reads.close()  # a group read ahead and not closed: rolled back, its loans still behind


def read_ahead(engine: Engine, groups: list[list[int]],
               read: Callable[[Session, list[int]], Partition], *, ahead: bool = True
               ) -> Iterator[tuple[Session, Partition]]:
    """Each group's own session (its transaction open: the caller writes and commits it) and
    its partition, in order. With `ahead`, the next group is read in a thread while the
    caller computes and writes the current one: most of a read is the database's work (the
    locking UPDATE, the index scans, COPY's text) on its own core, which the serial loop left
    idle while this process computed. The groups are disjoint loans, so the two open
    transactions never wait for each other; a read the caller never takes (a stop, a failed
    chunk) is rolled back, leaving its loans behind for the next run."""

    def open_and_read(group: list[int]) -> tuple[Session, Partition]:
        session = Session(engine)
        try:
            return session, read(session, group)
        except BaseException:
            session.close()
            raise

    if not ahead:
        for group in groups:
            yield open_and_read(group)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="postloan-read") as pool:
        pending = pool.submit(open_and_read, groups[0]) if groups else None
        try:
            for i in range(len(groups)):
                assert pending is not None
                current = take_read(pending)
                pending = pool.submit(open_and_read, groups[i + 1]) if i + 1 < len(groups) \
                    else None
                yield current
        finally:
            if pending is not None:
                try:
                    pending.result()[0].close()
                except Exception:  # the read failed: nothing of it is left open
                    log.debug("a chunk read ahead failed after the run stopped", exc_info=True)


def take_read(pending: Any) -> tuple[Session, Partition]:
    """The read ahead's result, waiting for it (the time the close waits on the database)."""
    return pending.result()


def take_write(pending: Any) -> int:
    """The write behind's result (loans committed), waiting for it; its failure is raised."""
    return pending.result()


#: The tables a close writes or moves, analysed after it (`analyze_night`).
NIGHT_TABLES = ("loans", "delinquency_history", "behaviour_scores", "penalty_accruals",
                "postloan_actions")


def analyze_night(engine: Engine) -> None:
    """ANALYZE the night's tables after the close (PostgreSQL; elsewhere nothing). A night
    adds a row per loan under a date the statistics have never seen, and autovacuum's
    analyze comes later: planned on the previous statistics, the report's queries over
    tonight's rows ran as nested loops (over five minutes at 100,000 loans). ANALYZE samples
    a bounded number of rows per table: about a second at a million loans."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        conn.execute(text("ANALYZE " + ", ".join(NIGHT_TABLES)))


def send_pending(engine: Engine, as_of: date, vendors: Any, store: Any) -> tuple[int, int]:
    """Send pending (and earlier failed) vendor actions; returns (sent, failed). See `handoff`."""
    out = handoff.send_pending(engine, as_of, vendors, store)
    return out.sent + out.reconciled, out.failed


def _mark(engine: Engine, run_id: int, status: str) -> None:
    with Session(engine) as session:
        session.get(PostloanRun, run_id).status = status
        session.commit()


# ---- the report ---------------------------------------------------------------------------
def build_report(engine: Engine, as_of: date) -> dict[str, Any]:
    """Counts by bucket and action, score distribution and shift from the previous run, all
    read back from what is stored (so a resumed run reports the same as a clean one)."""
    with Session(engine) as session:
        snap = _snapshot_scores(session, as_of)
        acts = session.execute(
            select(PostloanAction.action, PostloanAction.status, func.count())
            .where(PostloanAction.as_of == as_of)
            .group_by(PostloanAction.action, PostloanAction.status)
            .order_by(PostloanAction.action, PostloanAction.status)  # same report on any DB
        ).all()
        accrued = session.execute(
            select(func.count(), func.coalesce(func.sum(PenaltyAccrual.amount), 0))
            .where(PenaltyAccrual.accrual_date <= as_of,
                   PenaltyAccrual.loan_id.in_(
                       select(DelinquencySnapshot.loan_id)
                       .where(DelinquencySnapshot.as_of == as_of)))
        ).one()
        previous = session.scalar(
            select(PostloanRun).where(PostloanRun.as_of < as_of, PostloanRun.status == "finished")
            .order_by(PostloanRun.as_of.desc()).limit(1)
        )
        behaviour_section = postloan_behaviour.report(session, as_of)
        if previous is not None and behaviour_section.get("scored"):
            behaviour_section["migration"] = {
                "since": previous.as_of.isoformat(),
                "matrix": postloan_behaviour.grade_migration(session, previous.as_of, as_of)}
    by_action: dict[str, dict[str, int]] = {}
    for action, status, n in acts:
        by_action.setdefault(action, {})[status] = n
    scored = snap[snap["model_score"].notna()]  # a loan without a recorded score: not counted
    scores = pd.Series(np.repeat(scored["model_score"].to_numpy(float), scored["n"].to_numpy()))
    bands = _bands(scores)
    report: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "loans": int(snap["n"].sum()),
        "by_bucket": {k: int(v) for k, v in snap.groupby("bucket")["n"].sum().sort_index()
                      .items()},
        "by_action": by_action,
        "penalty_accruals_to_date": {"rows": int(accrued[0]), "amount": str(accrued[1])},
        "score": {
            "mean": round(float(scores.mean()), 2) if len(scores) else None,
            "p10": _q(scores, 0.1), "p50": _q(scores, 0.5), "p90": _q(scores, 0.9),
            "bands": bands,
        },
        "behaviour": behaviour_section,
    }
    if previous is not None and previous.report.get("score"):
        old = previous.report["score"]
        report["shift"] = {
            "since": previous.as_of.isoformat(),
            "mean_delta": None if old.get("mean") is None or report["score"]["mean"] is None
            else round(report["score"]["mean"] - old["mean"], 2),
            "psi": psi(old.get("bands", {}), bands),
        }
    return report


def _snapshot_scores(session: Session, as_of: date) -> pd.DataFrame:
    """The night's snapshots counted per (bucket, model score) in SQL: a few hundred rows
    instead of one per loan (the scores are integers; a missing one is NaN)."""
    d = DelinquencySnapshot
    rows = session.execute(select(d.bucket, d.model_score, func.count())
                           .where(d.as_of == as_of).group_by(d.bucket, d.model_score)).all()
    return pd.DataFrame({"bucket": [r[0] for r in rows],
                         "model_score": [np.nan if r[1] is None else float(r[1]) for r in rows],
                         "n": np.array([r[2] for r in rows], np.int64)})


def _q(values: pd.Series, q: float) -> float | None:
    return round(float(values.quantile(q)), 1) if len(values) else None


def _bands(scores: pd.Series) -> dict[str, int]:
    labels = [f"{lo}-{hi}" for lo, hi in zip(SCORE_BANDS, SCORE_BANDS[1:], strict=False)]
    cut = pd.cut(scores.astype(float), SCORE_BANDS, right=False, labels=labels)
    return {str(k): int(v) for k, v in cut.value_counts().reindex(labels, fill_value=0).items()}


def psi(old: dict[str, int], new: dict[str, int]) -> float | None:
    """Population stability index between two band histograms (0.1 small, 0.25 large),
    by the model monitoring's one formula; None when either run scored nothing."""
    from models.evaluate import psi as population_stability_index

    keys = sorted(set(old) | set(new))
    a = np.array([old.get(k, 0) for k in keys], float)
    b = np.array([new.get(k, 0) for k in keys], float)
    if a.sum() == 0 or b.sum() == 0:
        return None
    return round(population_stability_index(a / a.sum(), b / b.sum()), 4)


def run_day(
    engine: Engine,
    as_of: date,
    *,
    resources: Resources,
    store: Any,
    vendors: Any,
    holder: str,
    engine_kind: str = "pandas",
    chunk_size: int = 5_000,
    progress: Progress | None = None,
    closer: Callable[..., tuple[int, int]] | None = None,
    bureau_policy: bureau_refresh.RefreshPolicy | None = bureau_refresh.RefreshPolicy(),  # noqa: B008
) -> RunOutcome:
    """One business day end to end; the caller holds the lock. `closer` replaces `close_day`
    (the distributed engine: `decisioning.postloan.distributed.make_closer`). With vendors,
    refreshed bureau reports are pulled first (`bureau_refresh`; ``bureau_policy=None``
    skips it). A failure marks the run ``failed`` (logged) before it propagates; a SIGTERM
    marks it ``interrupted``."""

    run = _start_run(engine, as_of, engine_kind)
    try:
        return _run_started(engine, run, as_of, resources=resources, store=store,
                            vendors=vendors, holder=holder, chunk_size=chunk_size,
                            progress=progress, closer=closer, bureau_policy=bureau_policy)
    except shutdown.Interrupted:
        _mark(engine, run.id, "interrupted")
        raise
    except Exception:  # the close (or its report) failed: never leave the day `running`
        log.exception("post-loan run of %s failed", as_of)
        try:
            _mark(engine, run.id, "failed")
        except Exception:  # the database is gone too: the next run takes the day over
            log.exception("could not mark the run of %s failed", as_of)
        raise


def _run_started(engine: Engine, run: PostloanRun, as_of: date, *, resources: Resources,
                 store: Any, vendors: Any, holder: str, chunk_size: int,
                 progress: Progress | None, closer: Callable[..., tuple[int, int]] | None,
                 bureau_policy: bureau_refresh.RefreshPolicy | None) -> RunOutcome:
    from decisioning.postloan.inspection import warm

    refreshed = None
    if vendors is not None and bureau_policy is not None and run.status != "finished":
        refreshed = bureau_refresh.refresh(engine, as_of, vendors=vendors, store=store,
                                           policy=bureau_policy)
    # a finished day with no loan behind it (a rerun) loads no model and plans nothing
    behind = run.status != "finished" or _any_behind(engine, as_of)
    if behind:  # models and rules loaded once, before the first chunk (not inside its compute)
        warm(resources)
    loans, n_chunks = (closer or close_day)(
        engine, as_of, resources=resources, store=store, holder=holder, chunk_size=chunk_size,
        progress=progress,
    ) if behind else (0, 0)
    if loans:
        analyze_night(engine)
    # sends never fail the day: a stage that stops is listed and retried (`handoff.deliver`)
    delivery = handoff.deliver(engine, as_of, vendors, store) if vendors else handoff.Delivery()
    calls = delivery.counts()
    sent, failed = delivery.sent + delivery.reconciled, delivery.failed
    if run.status == "finished" and loans == 0 and not any(
            calls[k] for k in ("sent", "reconciled", "updated", "closed", "failed")):
        return RunOutcome(as_of, "already_finished", report=run.report)
    report = build_report(engine, as_of)
    report["handoff"] = calls
    listed, owed = handoff.failed_sends(engine, as_of)
    report["failed_sends"] = listed + delivery.aborted  # the first FAILED_LISTED by name
    report["failed_sends_total"] = {**owed, **({"aborted_stages": len(delivery.aborted)}
                                              if delivery.aborted else {})}
    with Session(engine) as session:
        row = session.get(PostloanRun, run.id)
        row.status = "finished"
        row.finished_at = utcnow()
        row.counts = {"loans_closed_by_this_run": loans, "chunks": n_chunks, "sent": sent,
                      "failed_sends": failed, **{f"handoff_{k}": v for k, v in calls.items()}}
        if refreshed is not None:
            row.counts["bureau_refresh"] = refreshed
        row.report = json.loads(json.dumps(report))
        session.commit()
    return RunOutcome(as_of, "finished", loans, n_chunks, sent, failed, report)
