"""The PostgreSQL COPY read of schedules gives exactly the frame of the ORM read."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from decisioning.postloan.run import _installments, _installments_by_copy
from tests.servicing_db.conftest import AS_OF
from tests.servicing_db.test_postloan import run


def test_copy_read_equals_row_read(engine, portfolio, resources, store):
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    run(engine, AS_OF, resources, store)  # penalty accrued through AS_OF on the late lines
    with Session(engine) as s:
        want = _installments(s, portfolio)
        got = _installments_by_copy(s, portfolio)
    assert len(want) > 500 and want["penalty_through"].notna().any()
    assert (got.dtypes.astype(str).str[:10] == want.dtypes.astype(str).str[:10]).all()
    dates = {c: "datetime64[ns]" for c in ("due_date", "penalty_through", "settled_on")}
    pd.testing.assert_frame_equal(got.astype(dates), want.astype(dates))  # units may differ
