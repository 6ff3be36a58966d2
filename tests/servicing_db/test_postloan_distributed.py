"""The distributed engine: a `dask scheduler` and two `dask worker` processes, each worker
reading and writing its own loan ranges, end equal to the pandas engine row for row."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from chedaitong.db import make_engine
from chedaitong.db import migrate as migrations
from tests.conftest import empty_database
from tests.servicing_db.conftest import AS_OF, ROOT, book_portfolio, load_sample
from tests.servicing_db.test_postloan import dump, run

distributed = pytest.importorskip("distributed")
SCHEDULER_PORT = 61701  # this port range (617xx)


@contextmanager
def cluster(env: dict[str, str], workers: int = 2):
    """A scheduler and `workers` single-threaded worker processes (no nanny, no dashboard)."""
    address = f"tcp://127.0.0.1:{SCHEDULER_PORT}"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(SCHEDULER_PORT), "--no-dashboard"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(1.0)
        for k in range(workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads",
                 "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                 "--worker-port", str(SCHEDULER_PORT + 10 + k), "--name", f"w{k}"],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        client = distributed.Client(address, timeout=60)
        client.wait_for_workers(workers, timeout=120)
        yield client
        client.close()
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.slow
def test_scheduler_and_two_worker_processes_equal_pandas(engine, portfolio, pl_settings,
                                                         resources, store, tmp_path):
    """The same book in a second database of the same kind (SQLite file or PostgreSQL
    schema), closed there by the Dask workers: both end states equal row for row."""
    kind = "sqlite" if pl_settings.database_url.startswith("sqlite") else "postgresql"
    with empty_database(kind, tmp_path) as twin_url:
        twin = make_engine(twin_url)
        migrations.upgrade(twin)
        book_portfolio(twin, load_sample(twin, store))
        try:
            _close_both(engine, twin, twin_url, portfolio, pl_settings, resources, store)
        finally:
            twin.dispose()


def _close_both(engine, twin, twin_url, portfolio, pl_settings, resources, store) -> None:
    from decisioning.postloan.distributed import _worker_services, make_closer

    assert dump(engine) == dump(twin)  # the same book before the night
    run(engine, AS_OF, resources, store, chunk_size=4)

    env = {k: v for k, v in os.environ.items() if not k.startswith("CHEDAITONG_")}
    env.update(DATABASE_URL=twin_url, CHEDAITONG_MODEL_DIR=str(
        pl_settings.model_dir), CHEDAITONG_RULES_DIR=str(pl_settings.rules_dir),
        CHEDAITONG_VAR_DIR=str(pl_settings.var_dir), CHEDAITONG_ENV=pl_settings.env,
        PYTHONPATH=str(ROOT))
    with cluster(env) as client:
        out = run(twin, AS_OF, resources, store, chunk_size=4, engine_kind="dask",
                  closer=make_closer(client))
        # both worker processes did their share (each opened its own database engine)
        used = client.run(lambda: _worker_services.cache_info().currsize)
        again = run(twin, AS_OF, resources, store, chunk_size=4, engine_kind="dask",
                    closer=make_closer(client))  # nothing behind: nothing written
    assert out.loans == len(portfolio) and out.chunks == 8
    assert sorted(used.values()) == [1, 1]
    a, b = dump(engine), dump(twin)
    assert a.pop("reports") == b.pop("reports")
    assert a == b
    assert again.status == "already_finished" and again.loans == 0
    assert dump(twin) == {**b, "reports": dump(twin)["reports"]}
