"""`chedaitong worker`: decision and outbox workers, each its own process.

Every process builds its services once (rules, model, vendor pools) before it takes its first
message, then consumes the Redis queue at ``CHEDAITONG_QUEUE_URL`` with ``--threads`` threads.
Decisions are mostly waiting on the bureaus, so threads overlap the vendor calls; the CPU part
(durable-rules holds the GIL) scales with processes — ``--processes``, or more machines started
against the same PostgreSQL and Redis. Heavy imports happen inside the command (``--help``
loads click alone).
"""

from __future__ import annotations

import signal
import sys
import threading

import click


@click.command("worker")
@click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 64),
              help="worker processes to start")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="threads per process (decisions overlap their vendor calls)")
@click.option("--namespace", default="chedaitong", show_default=True,
              help="Redis key prefix of the queues (one per platform on a shared Redis)")
@click.option("--heartbeat-ms", default=None, type=click.IntRange(500, 600_000),
              help="a silent worker's messages go to another after this long")
@click.option("--maintenance-chance", default=None, type=click.IntRange(1, 1_000_000),
              help="queue commands per million that also requeue dead workers' messages")
def worker(processes: int, threads: int, namespace: str, heartbeat_ms: int | None,
           maintenance_chance: int | None) -> None:
    """Decision and outbox workers (their own processes) on the Redis queue."""
    from chedaitong.config import Settings

    settings = Settings.from_env()
    if not settings.queue_url:
        raise click.ClickException(
            "CHEDAITONG_QUEUE_URL is not set: without a queue the web process decides "
            "submissions itself, on an in-process worker")
    if _in_memory(settings.database_url):
        raise click.ClickException(
            "DATABASE_URL is an in-memory SQLite database, which no other process "
            "can see: workers need the web app's database (a SQLite file or PostgreSQL)")
    options = {"namespace": namespace}
    if heartbeat_ms is not None:
        options["heartbeat_timeout_ms"] = heartbeat_ms
    if maintenance_chance is not None:
        options["maintenance_chance"] = maintenance_chance
    if processes == 1:
        run_worker_process(threads, options, sweep=True)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # nothing inherited: each builds its own
    children = [ctx.Process(target=run_worker_process, args=(threads, options, i == 0),
                            name=f"chedaitong-worker-{i}") for i in range(processes)]
    for child in children:
        child.start()

    def stop(signum, _frame):
        for child in children:
            if child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()
    sys.exit(max((c.exitcode or 0) for c in children))


def _in_memory(url: str) -> bool:
    """Whether ``url`` names a SQLite database that lives only inside one process."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    return parsed.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or parsed.query.get("mode") == "memory")


def run_worker_process(threads: int, broker_options: dict, sweep: bool) -> None:
    """One worker process: services built first, then consume until SIGTERM/SIGINT."""
    import gc
    import logging

    from chedaitong.config import Settings
    from chedaitong.db import check_reachable, make_engine, make_session_factory
    from decisioning.container import build_services
    from decisioning.queue import build_queue

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s "
                        "%(levelname)s %(message)s")
    settings = Settings.from_env()
    # a connection for every worker thread and the sweep: a decision holds its connection
    # while it waits on the bureaus, and the default pool (5 + 10 overflow) would make the
    # 16th thread queue for one instead of deciding
    engine = make_engine(settings.database_url, pool_size=threads + 1, max_overflow=4)
    check_reachable(engine)
    services = build_services(settings)
    services.decision_service()  # rules and model loaded before the first message
    gc.freeze()  # the loaded model, rules and catalog are never garbage: not scanned again
    queue = build_queue(settings, services, make_session_factory(engine), **broker_options)
    done = threading.Event()

    def stop(signum, _frame):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    queue.start_workers(threads=threads, sweep=sweep)
    logging.getLogger(__name__).info("worker ready: %s threads on %s", threads,
                                     settings.queue_url)
    print("worker ready", flush=True)
    done.wait()
    queue.stop()
    services.close()
    engine.dispose()
