"""HTTP submit→decision latency under gunicorn (2 workers × threads) on SQLite and PostgreSQL.

For each database: a fresh var dir and database, `chedaitong demo seed` (with the champion
from var/models), the vendor sandbox and gunicorn on 127.0.0.1; then 16 client threads each
create an application for a seeded world customer, upload the authorisation and time
``POST /applications/<id>/submit`` (the decision). Prints p50/p99 per database and the time of
one whole `demo journey`. Loopback only; bounded loops.

    .venv/bin/python bench/bench_api.py [--requests 20] [--pg postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
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
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLIENTS = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


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


def run(label: str, database_url: str, requests_per_client: int, threads: int) -> dict:
    var = Path(tempfile.mkdtemp(prefix="bench-api-"))
    shutil.copytree(ROOT / "var" / "models", var / "models")
    sandbox_port, app_port = _free_port(), _free_port()
    env = {**os.environ, "CHEDAITONG_VAR_DIR": str(var), "DATABASE_URL": database_url,
           "CHEDAITONG_VENDOR_URL": f"http://127.0.0.1:{sandbox_port}"}
    seed_env = {k: v for k, v in env.items() if k != "CHEDAITONG_VENDOR_URL"}
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "chedaitong"), "demo", "seed"], env=seed_env, cwd=ROOT,
                   check=True, capture_output=True)
    seed_s = time.perf_counter() - t0
    tokens = json.loads((var / "demo-tokens.json").read_text())
    case = tokens["journey"]
    procs = [
        subprocess.Popen([str(BIN / "python"), "-m", "chedaitong_sim.sandbox", "--port",
                          str(sandbox_port), "--world", "data/sample"], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([str(BIN / "gunicorn"), "-w", "2", "--threads", str(threads),
                          "-b", f"127.0.0.1:{app_port}", "--log-level", "warning",
                          "webapp:create_app()"], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    base = f"http://127.0.0.1:{app_port}"
    try:
        _wait(f"http://127.0.0.1:{sandbox_port}/_admin/calls")
        _wait(f"{base}/healthz")
        consultant = {"Authorization": f"Bearer {tokens[case['consultant']]}"}
        order = {"id_number": case["id_number"], **case["application"]}
        # warm both workers (model load, first bureau pull for the customer)
        with httpx.Client(base_url=base, timeout=60) as c:
            for _ in range(4):
                _submit(c, consultant, order)
        latencies: list[float] = []
        outcomes: dict[str, int] = {}
        errors: list[str] = []
        lock = threading.Lock()

        def client_loop() -> None:
            with httpx.Client(base_url=base, timeout=60) as c:
                for _ in range(requests_per_client):
                    try:
                        ms, state = _submit(c, consultant, order)
                    except Exception as exc:  # noqa: BLE001 - counted, reported
                        with lock:
                            errors.append(str(exc)[:200])
                        continue
                    with lock:
                        latencies.append(ms)
                        outcomes[state] = outcomes.get(state, 0) + 1

        started = time.perf_counter()
        workers = [threading.Thread(target=client_loop) for _ in range(CLIENTS)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - started
        j0 = time.perf_counter()
        walk = subprocess.run([str(BIN / "chedaitong"), "demo", "journey", "--base-url", base],
                              env=env, cwd=ROOT, capture_output=True, text=True)
        journey_s = time.perf_counter() - j0
    finally:
        for p in procs:
            _stop(p)
        shutil.rmtree(var, ignore_errors=True)
    latencies.sort()
    return {
        "database": label, "seed_s": round(seed_s, 1), "requests": len(latencies),
        "errors": len(errors), "outcomes": outcomes,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1)
        if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "throughput_rps": round(len(latencies) / wall, 1),
        "journey_s": round(journey_s, 2), "journey_ok": walk.returncode == 0,
        "journey_tail": walk.stdout.strip().splitlines()[-1:] or walk.stderr[-300:],
        "first_error": errors[:1],
    }


def _submit(client: httpx.Client, consultant: dict, order: dict) -> tuple[float, str]:
    """Create + authorise (untimed), then time submit → decision."""
    r = client.post("/applications", headers=consultant, json=order)
    r.raise_for_status()
    aid = r.json()["id"]
    client.post(f"/applications/{aid}/authorization", headers=consultant,
                files={"file": ("auth.pdf", b"%PDF-1.4 bench", "application/pdf")}
                ).raise_for_status()
    t0 = time.perf_counter()
    r = client.post(f"/applications/{aid}/submit", headers=consultant)
    ms = (time.perf_counter() - t0) * 1e3
    r.raise_for_status()
    return ms, r.json()["state"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="submits per client")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL", PG_DEFAULT))
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    if not (ROOT / "var" / "models" / "aliases.json").exists():
        sys.exit("no champion in var/models: run `make demo-data` first")
    results = []
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run("sqlite", f"sqlite:///{tmp}/bench.db", args.requests,
                               args.threads))
            print(json.dumps(results[-1], ensure_ascii=False), flush=True)
    if args.only in (None, "postgresql"):
        url, schema = _pg_schema(args.pg)
        try:
            results.append(run("postgresql", url, args.requests, args.threads))
            print(json.dumps(results[-1], ensure_ascii=False), flush=True)
        finally:
            _drop_pg_schema(args.pg, schema)
    for r in results:
        print(f"{r['database']:10} submit→decision p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  "
              f"({r['requests']} requests, {r['errors']} errors, {r['throughput_rps']} rps; "
              f"goal p99 ≤ 50 ms)  whole journey {r['journey_s']} s "
              f"({'ok' if r['journey_ok'] else 'FAILED'})")


if __name__ == "__main__":
    main()
