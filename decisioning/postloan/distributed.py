"""The scale-out engine: Dask workers each close their own loan-id range in the database.

The driver only plans (contiguous loan-id ranges of the loans still behind `as_of`), submits
one task per range and adds up the counts; it never reads or writes a loan. Each task, on its
worker process, opens its own database connection (configured like any process of the
deployment: `Settings.from_env()`), selects the range's loans still behind `as_of` and closes
them through the pandas engine's own loop (`run.close_groups`: read, `inspect_partition`,
`persist`, commit — its own transactions, reads ahead and writes behind on PostgreSQL). Each
group's read locks its loans and keeps only those still behind `as_of` (on PostgreSQL checked
again once it has the lock), so a task run twice (Dask retries a task whose worker died) or a
range closed by an earlier, interrupted run finds nothing behind and writes nothing:
idempotent by state.

Start a cluster with ``dask scheduler`` and ``dask worker tcp://host:8786 --nworkers N
--nthreads 1`` (every worker with the job's environment: DATABASE_URL, CHEDAITONG_MODEL_DIR,
…), then ``chedaitong postloan run --engine dask --scheduler tcp://host:8786``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from chedaitong.db.servicing import Loan
from decisioning.postloan import shutdown
from decisioning.postloan.inspection import Resources

#: Ranges per worker thread at least: the last ranges of a night finish together (a worker
#: left with the one big last range while the other idles is what halves a scale-out).
RANGES_PER_SLOT = 4
MIN_RANGE = 1_000
#: Transactions a worker splits its range into, of at least MIN_CHUNK loans: with more than
#: one, a group's read and the previous group's write run beside the compute (`close_range`).
CHUNKS_PER_RANGE = 3
MIN_CHUNK = 1_000


def plan_ranges(engine: Engine, as_of: date, size: int, *, slots: int = 1
                ) -> tuple[list[tuple[int, int]], int]:
    """Inclusive loan-id ranges of at most `size` loans still behind `as_of` (smaller when
    that gives fewer than `RANGES_PER_SLOT` per worker thread), and how many loans that is."""
    from decisioning.postloan.run import chunks, pending_loan_ids

    with Session(engine) as session:
        ids = pending_loan_ids(session, as_of)
    size = min(size, max(MIN_RANGE, -(-len(ids) // (RANGES_PER_SLOT * slots))))
    return [(group[0], group[-1]) for group in chunks(ids, size)], len(ids)


def warm() -> None:
    """Load this worker's engine and feature store now (at cluster start, not in the night's
    first task; the models: `warm_models`)."""
    _worker_services()


def warm_models(resources: Resources) -> None:
    """Load the models and rules on this worker (cached: a no-op after the first night)."""
    from decisioning.postloan.inspection import warm as warm_inspection

    warm_inspection(resources)


def _fingerprint(url: Any) -> str:
    from sqlalchemy.engine import make_url

    return make_url(str(url)).render_as_string(hide_password=True)


@lru_cache(maxsize=1)
def _worker_services() -> tuple[Engine, Any]:
    """This worker process's engine and feature store (made once)."""
    from chedaitong.config import Settings
    from chedaitong.crypto import DataCipher
    from chedaitong.db import make_engine
    from featurestore.store import FeatureStore

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    return engine, FeatureStore(DataCipher(settings.data_key))


def close_range(lo: int, hi: int, as_of: date, resources: Resources, database: str
                ) -> dict[str, Any]:
    """Close `as_of` for the loans lo..hi still behind it, in this worker's own transactions:
    the range in `CHUNKS_PER_RANGE` groups through `run.close_groups`, the pandas engine's
    loop (on PostgreSQL the next group is read and the previous one written while this one
    computes, so each worker keeps more than its own core's share busy).

    Returns the counts and where this worker's time went (wall seconds per step — read and
    write run beside the compute, so they overlap it — and the process's CPU seconds), so a
    night's report can say whether a worker waited or worked."""
    import time

    from decisioning.postloan import run

    cpu0, t0 = time.process_time(), time.perf_counter()
    engine, store = _worker_services()
    if _fingerprint(engine.url) != database:
        raise RuntimeError(f"worker database {_fingerprint(engine.url)} is not the driver's "
                           f"{database}: configure the workers like the job")
    out: dict[str, Any] = {"loans": 0, "chunks": 0, "worker": os.getpid(), "read": 0.0,
                           "compute": 0.0, "write": 0.0}
    with Session(engine) as session:
        ids = list(session.scalars(
            select(Loan.id)
            .where(Loan.id.between(lo, hi), Loan.status == "active",
                   Loan.last_closed_date < as_of, Loan.disbursed_on < as_of)
            .order_by(Loan.id)))  # locked and checked again by each group's read
    night_read = run.night_read(store, as_of)

    def read(session: Session, group: list[int]) -> Any:
        t = time.perf_counter()
        try:
            return night_read(session, group)
        finally:
            out["read"] += time.perf_counter() - t

    def committed(loans: int) -> None:
        out["loans"] += loans
        out["chunks"] += 1

    size = max(MIN_CHUNK, -(-len(ids) // CHUNKS_PER_RANGE))
    run.close_groups(engine, list(run.chunks(ids, size)), as_of, resources=resources,
                     read=read, committed=committed, timings=out)
    out.update(wall=time.perf_counter() - t0, cpu=time.process_time() - cpu0)
    return out


def lightgbm_threads(client: Any) -> int:
    """LightGBM threads per task: the cores of a worker's machine shared by the task slots on
    it (two single-threaded workers on two cores get one thread each — two threads each
    would be four busy threads on two cores, the workers slowing each other down)."""
    cores = client.run(os.cpu_count)
    info = client.scheduler_info()["workers"]
    slots: dict[str, int] = {}
    for w in info.values():
        slots[w["host"]] = slots.get(w["host"], 0) + int(w["nthreads"])
    per_host = {info[a]["host"]: (n or 1) for a, n in cores.items() if a in info}
    return max(1, min((per_host.get(h, 1) // n for h, n in slots.items()), default=1))


def make_closer(client: Any, *, in_flight: int | None = None) -> Callable[..., tuple[int, int]]:
    """A `close_day` replacement running every range as a task on `client`'s workers.

    At most `in_flight` tasks are queued (default two per worker thread), so a stop request
    (SIGTERM) waits only for those: they commit on their own, the rest are never submitted.
    After a call, ``close.stats`` holds per worker process the loans, chunks, seconds per step
    and CPU seconds of its tasks."""
    from distributed import as_completed

    def close(engine: Engine, as_of: date, *, resources: Resources, chunk_size: int = 5_000,
              progress: Callable[[int, int], None] | None = None, **_: Any) -> tuple[int, int]:
        slots = max(1, sum(client.nthreads().values()))
        ranges, total = plan_ranges(engine, as_of, chunk_size, slots=slots)
        resources = dataclasses.replace(resources, threads=lightgbm_threads(client))
        client.run(warm_models, resources)  # every worker, in parallel, before the first range
        limit = in_flight or max(2, 2 * slots)
        database = _fingerprint(engine.url)
        todo = iter(ranges)
        done = n_chunks = 0
        running = as_completed()

        def submit_next() -> bool:
            nxt = next(todo, None)
            if nxt is None:
                return False
            running.add(client.submit(close_range, nxt[0], nxt[1], as_of, resources, database,
                                      pure=False, retries=1))
            return True

        for _ in range(limit):
            if not submit_next():
                break
        stopping = False
        close.stats = {}
        for future in running:
            counts = future.result()
            done += counts["loans"]
            n_chunks += counts["chunks"]
            mine = close.stats.setdefault(counts["worker"], {})
            for key in ("loans", "chunks", "read", "compute", "write", "wall", "cpu"):
                mine[key] = mine.get(key, 0) + counts.get(key, 0)
            if progress:
                progress(done, total)
            if shutdown.requested() is not None:
                stopping = True  # let the in-flight tasks commit, submit no more
            elif not stopping:
                submit_next()
        shutdown.check()
        return done, n_chunks

    close.stats = {}
    return close


def connect(scheduler: str | None, workers: int = 2) -> Any:
    """A client of `scheduler` (host:port), or of a local cluster of `workers` processes
    (they inherit this process's environment, hence its configuration)."""
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
    else:
        client = Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                     dashboard_address=None))
    client.run(warm)
    return client
