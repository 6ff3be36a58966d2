"""Where the web side's CPU per decision goes: the API's requests of one submit, in this process.

    .venv/bin/python bench/profile_web.py [--customers 100] [--submits 100]
        [--database sqlite|postgresql+psycopg://...] [--top 30]

Seeds N materialised sample customers (as `bench_api.py` does), builds the app with a queue that
keeps what is sent, and times with Flask's test client, per request kind: ``POST …/submit``
(202), ``GET /applications/<id>`` while deciding, ``GET …?wait=10`` while another thread
decides it (the task a worker runs, with the vendor sandbox in-process, latency 0; the wait
woken by the decided signal), and the same GET once decided. CPU is the request thread's own.
Prints CPU ms per request kind (p50/p99), the database statements each sent, and the
cProfile functions by own time over all the timed requests. No network, no gunicorn: the
request's own cost, what a web worker spends besides accepting the connection.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_api import World, pct  # noqa: E402


class _Holding:
    """A queue that keeps what is sent (the test decides it, untimed), with the decided
    signal a ``?wait=`` blocks on (this process's waiters only)."""

    embedded = False

    def __init__(self) -> None:
        from decisioning.decided import DecidedSignal

        self.sent: list[int] = []
        self.decided = DecidedSignal()

    def decide(self, application_id: int) -> None:
        self.sent.append(application_id)

    def stop(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--submits", type=int, default=100)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true",
                        help="time only (cProfile doubles the CPU it measures)")
    parser.add_argument("--echo", action="store_true",
                        help="print the statements of the last request of each kind")
    args = parser.parse_args()
    if args.database.startswith("postgresql"):
        from bench.bench_api import _drop_pg_schema, _pg_schema

        scoped, schema = _pg_schema(args.database)
        try:
            run(args, scoped)
        finally:
            _drop_pg_schema(args.database, schema)
    else:
        run(args, args.database)


def run(args, database: str) -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from chedaitong.config import Settings
    from chedaitong_sim.sandbox.server import running_sandbox
    from decisioning.origination import deciding
    from webapp import create_app

    var = Path(tempfile.mkdtemp(prefix="profile-web-"))
    shutil.copytree(ROOT / "var" / "models", var / "models")
    url = f"sqlite:///{var / 'bench.db'}" if database == "sqlite" else database
    world = World(url, var, args.customers)
    ids = world.applications(args.submits)
    with running_sandbox(ROOT / "data" / "sample", latency_ms=0) as sandbox:
        settings = Settings.from_env({}, database_url=url, var_dir=var,
                                     vendor_url=sandbox.base_url)
        app = create_app(settings)
        svc = app.extensions["chedaitong.services"]
        svc.queue = _Holding()
        svc.decision_service()
        engine = app.extensions["chedaitong.db"]["engine"]
        statements = [0]
        echo: list[str] = []

        @event.listens_for(engine, "before_cursor_execute")
        def _count(_conn, _cursor, statement, *_a):
            statements[0] += 1
            echo.append(" ".join(statement.split())[:160])

        @event.listens_for(engine, "checkout")
        def _checkout(*_a):
            echo.append("-- pool checkout")

        def decide_later(application_id: int) -> None:
            time.sleep(0.02)
            with Session(world.engine) as s:
                deciding.decide_submitted(session=s, services=svc,
                                          application_id=application_id)
            svc.queue.decided.notify(application_id)

        h = {"Authorization": f"Bearer {world.token}"}
        client = app.test_client()
        cpu: dict[str, list[float]] = {"submit": [], "get_deciding": [], "get_wait": [],
                                       "get_decided": []}
        sql: dict[str, list[int]] = {k: [] for k in cpu}
        # CPU of the request's own thread (the test client runs it here), not wall time (a
        # shared machine) nor the deciding thread's
        profile = cProfile.Profile(time.thread_time)

        last: dict[str, list[str]] = {}

        def timed(kind: str, call) -> None:
            echo.clear()
            n0, c0 = statements[0], time.thread_time()
            if not args.no_profile:
                profile.enable()
            r = call()
            if not args.no_profile:
                profile.disable()
            cpu[kind].append((time.thread_time() - c0) * 1e3)
            sql[kind].append(statements[0] - n0)
            last[kind] = list(echo)
            assert r.status_code in (200, 202), (kind, r.status_code, r.get_data()[:300])

        for aid in ids[:3]:  # warm-up, untimed
            client.post(f"/applications/{aid}/submit", headers=h)
            client.get(f"/applications/{aid}", headers=h)
        for aid in ids[3:]:
            timed("submit", lambda a=aid: client.post(f"/applications/{a}/submit", headers=h))
            timed("get_deciding", lambda a=aid: client.get(f"/applications/{a}", headers=h))
            # decided by another thread while a GET ?wait= waits for it (woken by the signal)
            later = threading.Thread(target=decide_later, args=(aid,))
            later.start()
            timed("get_wait", lambda a=aid: client.get(f"/applications/{a}?wait=10", headers=h))
            later.join()
            timed("get_decided", lambda a=aid: client.get(f"/applications/{a}", headers=h))
        svc.close()
    print(f"{database.split(':')[0]}: {len(ids) - 3} submits")
    for kind, xs in cpu.items():
        print(f"  {kind:13} CPU p50 {statistics.median(xs):6.2f} ms  p99 {pct(xs, 99)} ms  "
              f"SQL statements {statistics.median(sql[kind]):.0f}")
    if args.echo:
        for kind, lines in last.items():
            print(f"-- {kind}:", *lines, sep="\n   ")
    if args.no_profile:
        world.engine.dispose()
        shutil.rmtree(var, ignore_errors=True)
        return
    stats = pstats.Stats(profile)
    by_package: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():
        parts = Path(filename).parts
        package = (parts[parts.index("site-packages") + 1] if "site-packages" in parts
                   else "ours" if str(ROOT) in filename else "stdlib/builtins")
        by_package[package] = by_package.get(package, 0.0) + tottime
    total = sum(by_package.values()) or 1.0
    print("own CPU by package:", ", ".join(
        f"{k} {v / total:.0%}" for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])
        if v / total >= 0.01))
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(r"(webapp|decisioning|chedaitong)/", args.top)
    world.engine.dispose()
    shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
