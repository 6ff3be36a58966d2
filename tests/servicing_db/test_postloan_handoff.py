"""Collection hand-offs are a state: one case per loan across nights, outages retried."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.db.collection import CollectionCaseRow
from chedaitong.db.servicing import DelinquencySnapshot, Loan, PostloanAction, PostloanRun
from decisioning.postloan import run as postloan
from decisioning.postloan.lock import acquire
from servicing.booking import post_repayment
from tests.servicing_db.conftest import AS_OF

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def quick_agency(sandbox):
    """SMS gateway and agency answer without latency (the session's sandbox is restored)."""
    before = sandbox._admin.get("/_admin/config").raise_for_status().json()
    for vendor in ("sms", "collection"):
        sandbox.configure(vendor, latency_ms=0)
    yield
    for vendor in ("sms", "collection"):
        sandbox.configure(vendor, latency_ms=before[vendor]["latency_ms"], down=False)


def night(engine, as_of, resources, store, vendors):
    acquire(engine, postloan.LOCK_NAME, "test")
    return postloan.run_day(engine, as_of, resources=resources, store=store, vendors=vendors,
                            holder="test")


def open_cases(engine) -> dict[str, tuple[int, str]]:
    """loan ref → (dpd the agency last got, case ref), for every open case."""
    with Session(engine) as s:
        rows = s.execute(select(Loan.ref, CollectionCaseRow.dpd, CollectionCaseRow.case_ref)
                         .join(Loan, Loan.id == CollectionCaseRow.loan_id)
                         .where(CollectionCaseRow.status == "open")).all()
    return {ref: (dpd, case) for ref, dpd, case in rows}


def test_three_nights_one_case_per_loan_with_balances_updated(engine, portfolio, resources,
                                                              store, vendors, sandbox):
    outcomes = [night(engine, AS_OF + k * DAY, resources, store, vendors) for k in range(3)]
    assert [o.status for o in outcomes] == ["finished"] * 3
    assert [o.failed_sends for o in outcomes] == [0, 0, 0]
    first, last = outcomes[0].report["handoff"], outcomes[2].report["handoff"]
    assert first["sent"] > 0 and first["in_case"] == 0
    assert last["in_case"] == first["sent"] - outcomes[0].report["by_action"].get(
        "sms_reminder", {}).get("sent", 0) and last["updated"] == last["in_case"]

    cases = open_cases(engine)
    agency = sandbox.records("cases")
    assert len(agency) == len(cases) > 0  # one case per loan, never a second
    assert len({c["loan_id"] for c in agency}) == len(agency)
    assert not [c for c in sandbox.calls("collection") if c["status"] == 409]
    with Session(engine) as s:
        dpd = dict(s.execute(select(Loan.ref, DelinquencySnapshot.dpd)
                             .join(Loan, Loan.id == DelinquencySnapshot.loan_id)
                             .where(DelinquencySnapshot.as_of == AS_OF + 2 * DAY)).all())
        statuses = set(s.scalars(select(PostloanAction.status).where(
            PostloanAction.action == "outsourced_collection",
            PostloanAction.as_of > AS_OF)))
    assert statuses == {"in_case"}
    for c in agency:  # the agency works from night 3's figures
        assert c["days_past_due"] == dpd[c["loan_id"]] == cases[c["loan_id"]][0]
        assert c["status"] == "assigned"
    # and night 3 run again: nothing written, nothing sent
    calls = len(sandbox.calls())
    again = night(engine, AS_OF + 2 * DAY, resources, store, vendors)
    assert again.status == "already_finished" and len(sandbox.calls()) == calls


def test_agency_already_has_the_case_is_reconciled(engine, portfolio, resources, store,
                                                   vendors, sandbox):
    """Night 1's answers were lost (our case rows gone): the 409 is looked up, not failed."""
    night(engine, AS_OF, resources, store, vendors)
    before = open_cases(engine)
    with Session(engine) as s:
        s.query(CollectionCaseRow).delete()
        s.commit()
    out = night(engine, AS_OF + DAY, resources, store, vendors)
    assert out.failed_sends == 0 and out.report["handoff"]["reconciled"] == len(before)
    assert {k: v[1] for k, v in open_cases(engine).items()} == {k: v[1] for k, v in
                                                                before.items()}
    assert len(sandbox.records("cases")) == len(before)


def test_cured_loan_case_is_withdrawn_and_closed(engine, portfolio, resources, store, vendors,
                                                 sandbox):
    night(engine, AS_OF, resources, store, vendors)
    ref, (_, case_ref) = sorted(open_cases(engine).items())[0]
    with Session(engine) as s:
        loan = s.scalar(select(Loan).where(Loan.ref == ref))
        from decisioning.postloan.handoff import overdue_cents

        owed = overdue_cents(s, loan.id, AS_OF + DAY)
        post_repayment(s, loan.id, Decimal(owed) / 100 + 1000, AS_OF + DAY, "test", "cure-1")
        s.commit()
    out = night(engine, AS_OF + DAY, resources, store, vendors)
    assert out.report["handoff"]["closed"] == 1
    assert ref not in open_cases(engine)
    with Session(engine) as s:
        row = s.scalar(select(CollectionCaseRow).where(CollectionCaseRow.case_ref == case_ref))
        assert (row.status, row.close_reason, row.closed_on) == ("closed", "cured", AS_OF + DAY)
    assert {c["case_id"]: c["status"] for c in sandbox.records("cases")}[case_ref] == "withdrawn"


def test_ten_day_catch_up_with_outage_on_day_3_retries_the_next_run(
        engine, portfolio, resources, store, vendors, sandbox):
    days = [AS_OF + k * DAY for k in range(10)]
    outcomes = []
    for k, day in enumerate(days):
        for vendor in ("sms", "collection"):
            sandbox.outage(vendor, down=k == 2)
        outcomes.append(night(engine, day, resources, store, vendors))
        if k == 2:  # nights are a day apart: the adapters' breaker (0.4 s here) has cooled
            time.sleep(0.5)
    assert [o.status for o in outcomes] == ["finished"] * 10
    day3 = outcomes[2]
    assert day3.failed_sends > 0
    listed = day3.report["failed_sends"]
    assert len(listed) == day3.failed_sends
    assert {f["as_of"] for f in listed} == {days[2].isoformat()}
    assert all(f["loan"].startswith("LN") and f["error"].split(":")[0] in {
        "VendorUnavailable", "CircuitOpen"} for f in listed)
    assert [o.failed_sends for k, o in enumerate(outcomes) if k != 2] == [0] * 9
    day4 = outcomes[3]
    assert day4.report["failed_sends"] == []
    failed_cases = {f["loan"] for f in listed if f["action"] == "case_sync"}
    assert failed_cases and failed_cases <= set(open_cases(engine))
    assert day4.report["handoff"]["retried"] == sum(
        1 for f in listed if f["action"] != "case_sync")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(PostloanAction)
                        .where(PostloanAction.status == "failed")) == 0
        assert set(s.scalars(select(PostloanRun.status))) == {"finished"}
    assert len({c["loan_id"] for c in sandbox.records("cases")}) == len(
        sandbox.records("cases"))


def test_cli_catch_up_continues_past_days_with_failed_sends(engine, portfolio, pl_settings,
                                                            sandbox):
    """--from/--to through a vendor outage: every day closes (exit 3, failures listed per day);
    the next run, the vendors back, retries them and exits 0."""
    import json

    from tests.servicing_db.test_postloan import _cli

    sandbox.reset()
    for vendor in ("sms", "collection"):
        sandbox.outage(vendor)
    try:
        proc = _cli(pl_settings, ["--from", AS_OF.isoformat(), "--to",
                                  (AS_OF + 2 * DAY).isoformat()],
                    CHEDAITONG_VENDOR_URL=sandbox.base_url)
    finally:
        for vendor in ("sms", "collection"):
            sandbox.outage(vendor, down=False)
    assert proc.returncode == 3, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    finished = [e for e in events if e["event"] == "day_finished"]
    assert [e["as_of"] for e in finished] == [(AS_OF + k * DAY).isoformat() for k in range(3)]
    assert all(e["status"] == "finished" and e["failed_sends"] > 0 for e in finished)
    listed = {e["as_of"]: e["failed"] for e in events if e["event"] == "sends_failed"}
    assert listed[AS_OF.isoformat()] and all(f["loan"].startswith("LN")
                                             for f in listed[AS_OF.isoformat()])
    again = _cli(pl_settings, ["--as-of", (AS_OF + 3 * DAY).isoformat()],
                 CHEDAITONG_VENDOR_URL=sandbox.base_url)
    assert again.returncode == 0, again.stderr
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(PostloanAction)
                        .where(PostloanAction.status == "failed")) == 0
    cases = sandbox.records("cases")
    assert cases and len({c["loan_id"] for c in cases}) == len(cases)


def test_default_catch_up_is_last_closed_day_to_yesterday(engine):
    from decisioning.postloan.catchup import default_days

    today = AS_OF + 10 * DAY
    assert default_days(engine, today) == [today - DAY]  # no history: yesterday only
    with Session(engine) as s:
        s.add_all([PostloanRun(as_of=AS_OF + k * DAY, status=st, engine="pandas")
                   for k, st in ((4, "finished"), (5, "interrupted"), (6, "finished"))])
        s.commit()
    # the interrupted day 5 first, then through yesterday (day 9)
    assert default_days(engine, today) == [AS_OF + k * DAY for k in range(5, 10)]
    with Session(engine) as s:
        s.query(PostloanRun).filter(PostloanRun.status != "finished").delete()
        s.add(PostloanRun(as_of=AS_OF + 9 * DAY, status="finished", engine="pandas"))
        s.commit()
    assert default_days(engine, today) == []  # closed through yesterday: nothing to do


def test_cases_the_agency_closes_are_polled_and_closed(engine, portfolio, resources, store,
                                                       vendors, sandbox):
    from decisioning.postloan.handoff import sync_cases

    night(engine, AS_OF, resources, store, vendors)
    cases = sorted(open_cases(engine).items())
    assert len(cases) >= 3
    (_, (_, recovered)), (_, (_, returned)) = cases[0], cases[1]
    sandbox.update_case(recovered, status="recovered", recovered_cents=100)
    sandbox.update_case(returned, status="returned")
    assert sync_cases(engine, AS_OF, vendors).polled == 0  # just assigned: asked already
    # the next day, before its night (no new figures to push): only polls

    sandbox.outage("collection", down=True)  # an outage is a gap, not a failure
    gap = sync_cases(engine, AS_OF + DAY, vendors)
    assert (gap.polled, gap.closed_by_agency, gap.failed) == (0, 0, 0)
    sandbox.outage("collection", down=False)
    time.sleep(0.5)  # the breaker cools

    first = sync_cases(engine, AS_OF + DAY, vendors, poll=1)  # bounded: least recently asked first
    assert (first.polled, first.closed_by_agency) == (1, 1)
    rest = sync_cases(engine, AS_OF + DAY, vendors)
    assert (rest.polled, rest.closed_by_agency) == (len(cases) - 1, 1)
    assert sync_cases(engine, AS_OF + DAY, vendors).polled == 0  # asked today already
    with Session(engine) as s:
        closed = dict(s.execute(select(CollectionCaseRow.case_ref, CollectionCaseRow.close_reason)
                                .where(CollectionCaseRow.status == "closed")).all())
    assert closed == {recovered: "recovered", returned: "returned"}
    assert len(open_cases(engine)) == len(cases) - 2


def test_update_of_a_case_the_agency_closed_closes_it(engine, portfolio, resources, store,
                                                      vendors, sandbox):
    night(engine, AS_OF, resources, store, vendors)
    ref, (_, case_ref) = sorted(open_cases(engine).items())[0]
    sandbox.update_case(case_ref, status="recovered")
    out = night(engine, AS_OF + DAY, resources, store, vendors)  # new DPD: an update first
    assert out.failed_sends == 0 and out.report["handoff"]["closed_by_agency"] == 1
    assert ref not in open_cases(engine)
