"""Where a worker's decision spends its time: the decision task run in this process, profiled.

    .venv/bin/python bench/profile_decision.py [--customers 200] [--decisions 200]
        [--database sqlite|postgresql+psycopg://...] [--top 25]

Seeds N materialised sample customers (as `bench_api.py` does, each application with the
customer's consent), starts the vendor sandbox in-process with latency 0, then runs
`deciding.decide_submitted` — what a `chedaitong worker` thread runs for one message — on
distinct applications, each pulling both bureaus. Prints the per-decision wall and CPU time
(p50/p99), the service's own step timings, and the cProfile functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_api import World, pct  # noqa: E402


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
    args = parser.parse_args()
    from sqlalchemy.orm import Session

    from chedaitong.config import Settings
    from chedaitong.db import DecisionRecord
    from chedaitong_sim.sandbox.server import running_sandbox
    from decisioning.container import build_services
    from decisioning.origination import deciding, flows

    var = Path(tempfile.mkdtemp(prefix="profile-decision-"))
    shutil.copytree(ROOT / "var" / "models", var / "models")
    url = f"sqlite:///{var / 'bench.db'}" if args.database == "sqlite" else args.database
    world = World(url, var, args.customers)
    ids = world.applications(args.decisions)
    with running_sandbox(ROOT / "data" / "sample", latency_ms=0) as sandbox:
        settings = Settings.from_env({}, database_url=url, var_dir=var,
                                     vendor_url=sandbox.base_url)
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
        wall, cpu = [], []
        profile = cProfile.Profile()
        for aid in ids:
            t0, c0 = time.perf_counter(), time.process_time()
            profile.enable()
            with Session(world.engine) as s:
                deciding.decide_submitted(session=s, services=services, application_id=aid)
            profile.disable()
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        with Session(world.engine) as s:
            timings = [r.timings_ms for r in s.query(DecisionRecord).all()]
            gaps = [g for r in s.query(DecisionRecord).all() for g in r.evidence_gaps or []]
        services.close()
    print(f"{len(wall)} decisions on {args.database}: wall p50 {statistics.median(wall):.1f} / "
          f"p99 {pct(wall, 99)} ms; CPU p50 {statistics.median(cpu):.1f} / p99 {pct(cpu, 99)} ms"
          f"; evidence gaps {sorted(set(gaps))}")
    for step in ("evidence", "features", "score", "rules", "total"):
        xs = [t[step] for t in timings if step in t]
        if xs:
            print(f"  service step {step:10} p50 {statistics.median(xs):7.2f} ms  "
                  f"p99 {pct(xs, 99)} ms")
    stats = pstats.Stats(profile).sort_stats("cumulative")
    stats.print_stats(r"(decisioning|featurestore|models|ruleengine|vendors|chedaitong)/",
                      args.top)
    world.engine.dispose()
    shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
