"""The Dask engine runs the same per-partition function: identical end state to pandas."""

from __future__ import annotations

import pytest

from chedaitong.db import make_engine
from decisioning.postloan import run as postloan
from decisioning.postloan.engines import make_mapper
from tests.servicing_db.conftest import AS_OF, copy_sqlite
from tests.servicing_db.test_postloan import dump, run

distributed = pytest.importorskip("distributed")


def test_dask_equals_pandas(engine, portfolio, pl_settings, resources, store, tmp_path):
    if not pl_settings.database_url.startswith("sqlite"):
        pytest.skip("the comparison copies the SQLite file")
    twin_db = tmp_path / "twin.db"
    copy_sqlite(pl_settings.database_url, twin_db)
    twin = make_engine(f"sqlite:///{twin_db}")

    run(engine, AS_OF, resources, store, chunk_size=8)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        out = run(twin, AS_OF, resources, store, chunk_size=8, engine_kind="dask",
                  mapper=make_mapper(client))
    assert out.loans == len(portfolio)
    a, b = dump(engine), dump(twin)
    assert a.pop("reports") == b.pop("reports")  # same report; engine recorded separately
    assert a == b
    twin.dispose()


def test_engine_is_recorded(engine, portfolio, resources, store):
    run(engine, AS_OF, resources, store)
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        assert s.get(postloan.PostloanRun, 1).engine == "pandas"
