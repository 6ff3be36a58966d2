"""Where a worker's decision spends its time: the decision task run in this process, profiled.

    .venv/bin/python bench/profile_decision.py [--customers 200] [--decisions 200]
        [--database sqlite|postgresql+psycopg://...] [--top 25] [--no-profile]

Seeds N materialised sample customers (as `bench_api.py` does, each application with the
customer's consent; on PostgreSQL in a fresh schema, dropped afterwards), starts the vendor
sandbox as its own process with latency 0 (on a port from ``BENCH_PORTS=lo-hi`` when set), so
this process's CPU time is the worker's alone, then runs the decision task — what a
`chedaitong worker` thread runs for one message: `deciding.decide_submitted`, the decision SMS
going to the process's batch thread (its CPU counted in the process time) — on distinct
applications, each pulling both bureaus.
Prints the per-decision wall and CPU time (p50/p99), the statements, commits and pool checkouts
(each one a pre-ping round trip, as in a worker) of each decision, the service's own step
timings, and the cProfile functions by cumulative time (``--timer cpu``: the deciding thread's
CPU time; ``--no-profile``: the times without the profiler's overhead).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_api import (  # noqa: E402
    BIN,
    WORLD,
    World,
    _drop_pg_schema,
    _free_port,
    _pg_schema,
    _stop,
    _wait,
    pct,
)


class _Holding:
    """A queue that keeps what is sent: the submissions wait in ``deciding`` for the loop."""

    def decide(self, application_id: int) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--echo", action="store_true",
                        help="print the statements of the last decision")
    parser.add_argument("--timer", choices=("wall", "cpu"), default="wall",
                        help="cProfile clock: wall time, or this thread's CPU time")
    parser.add_argument("--dump", metavar="FILE",
                        help="also write the cProfile stats to FILE (pstats, for snakeviz etc.)")
    args = parser.parse_args()
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from chedaitong.config import Settings
    from chedaitong.db import DecisionRecord, make_session_factory
    from decisioning.container import build_services
    from decisioning.origination import flows
    from decisioning.queue import DecisionQueue, Runtime, make_broker

    var = Path(tempfile.mkdtemp(prefix="profile-decision-"))
    shutil.copytree(ROOT / "var" / "models", var / "models")
    schema = None
    if args.database == "sqlite":
        url = f"sqlite:///{var / 'bench.db'}"
    else:
        url, schema = _pg_schema(args.database)
    world = World(url, var, args.customers)
    ids = world.applications(args.decisions)
    port = _free_port()
    sandbox = subprocess.Popen([str(BIN / "python"), "-m", "chedaitong_sim.sandbox", "--port",
                                str(port), "--world", str(WORLD), "--latency-ms", "0"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(f"http://127.0.0.1:{port}/_admin/calls")
        settings = Settings.from_env({}, database_url=url, var_dir=var,
                                     vendor_url=f"http://127.0.0.1:{port}")
        services = build_services(settings)
        services.decision_service()
        with Session(world.engine) as s:  # submitted, not yet decided (what the queue sends)
            from chedaitong.db import Application, User

            consultant = s.get(User, world.consultant_id)
            services.queue = _Holding()
            for aid in ids:
                flows.submit(session=s, services=services, application=s.get(Application, aid),
                             actor=consultant)
            services.queue = None
        task = DecisionQueue(make_broker(None), Runtime(services,
                                                        make_session_factory(world.engine)))
        sent = {"statements": 0, "commits": 0, "checkouts": 0}

        echo: list[str] = []

        def count_statement(_conn, _cursor, statement, *_: object) -> None:
            sent["statements"] += 1
            echo.append(" ".join(statement.split())[:150])

        def count_commit(*_: object) -> None:
            sent["commits"] += 1
            echo.append("-- commit")

        def count_checkout(*_: object) -> None:
            sent["checkouts"] += 1
            echo.append("-- checkout")

        event.listen(world.engine, "before_cursor_execute", count_statement)
        event.listen(world.engine, "checkout", count_checkout)  # each pings (pre-ping)
        event.listen(world.engine, "commit", count_commit)
        wall, cpu, statements, commits, checkouts = [], [], [], [], []
        profile = (cProfile.Profile(time.thread_time) if args.timer == "cpu"
                   else cProfile.Profile())
        for aid in ids:
            sent.update(statements=0, commits=0, checkouts=0)
            echo.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            if not args.no_profile:
                profile.enable()
            task._run_decide(aid)
            if not args.no_profile:
                profile.disable()
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
            statements.append(sent["statements"])
            commits.append(sent["commits"])
            checkouts.append(sent["checkouts"])
        task.join()  # the SMS the batch thread still holds
        task.stop()
        with Session(world.engine) as s:
            timings = [r.timings_ms for r in s.query(DecisionRecord).all()]
            gaps = [g for r in s.query(DecisionRecord).all() for g in r.evidence_gaps or []]
        services.close()
    finally:
        _stop(sandbox)
    print(f"{len(wall)} decisions on {world.engine.dialect.name}: wall p50 "
          f"{statistics.median(wall):.1f} / p99 {pct(wall, 99)} ms; CPU p50 "
          f"{statistics.median(cpu):.1f} / p99 {pct(cpu, 99)} ms; evidence gaps "
          f"{sorted(set(gaps))}; per decision {statistics.median(statements):.0f} statements, "
          f"{statistics.median(commits):.0f} commits, {statistics.median(checkouts):.0f} pool "
          f"checkouts (medians)")
    if args.echo:
        print("-- the last decision:", *echo, sep="\n   ")
    for step in ("evidence", "features", "score", "rules", "total"):
        xs = [t[step] for t in timings if step in t]
        if xs:
            print(f"  service step {step:10} p50 {statistics.median(xs):7.2f} ms  "
                  f"p99 {pct(xs, 99)} ms")
    if not args.no_profile:
        if args.dump:
            profile.dump_stats(args.dump)
        stats = pstats.Stats(profile).sort_stats("cumulative")
        stats.print_stats(r"(decisioning|featurestore|models|ruleengine|vendors|chedaitong)/",
                          args.top)
    world.engine.dispose()
    if schema is not None:
        _drop_pg_schema(args.database, schema)
    shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
