"""Loan-month snapshots: the target looks forward only, and the nightly job computes the same
features from the same evidence (online = historical)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chedaitong.crypto import DataCipher
from decisioning.postloan.inspection import Partition, postloan_features
from featurestore import offline, snapshots
from featurestore.behaviour import BEHAVIOUR_COLUMNS
from featurestore.definitions import catalog
from featurestore.facts import empty_facts, normalise_facts

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "data" / "sample"


def _loan(settled: list[str | None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    due = pd.date_range("2025-01-01", periods=len(settled), freq="MS", tz="UTC") + pd.Timedelta(
        days=9)
    inst = pd.DataFrame({"loan_id": "L1", "due_date": due,
                         "settled_at": pd.to_datetime(settled, utc=True)})
    loans = pd.DataFrame({"loan_id": ["L1"], "customer_id": ["C1"],
                          "disbursed_at": pd.to_datetime(["2024-12-10"], utc=True)})
    return loans, inst


def test_target_is_reaching_60_dpd_within_6_months_and_bad_snapshots_are_dropped():
    # Jan–Mar paid on time; April's installment (due 2025-04-10) never paid: 60 DPD on June 9
    settled = ["2025-01-09", "2025-02-09", "2025-03-09", None, None, None, None, None, None,
               None, None, None]
    loans, inst = _loan(settled)
    e = snapshots.snapshot_entities(loans, inst, observed_until=pd.Timestamp("2026-06-01",
                                                                             tz="UTC"))
    target = snapshots.target_name()
    by_month = e.set_index(e["snapshot_at"].dt.strftime("%Y-%m"))[target]
    # Dec 2024 (the 1st after disbursement: Jan) … up to June 1: June 9 is within 6 months
    assert by_month["2025-01"] == 1.0  # June 9 is within Jan 1 + 6 months
    assert by_month["2025-06"] == 1.0
    # July 1: already 60+ days past due → not a snapshot
    assert "2025-07" not in by_month.index
    assert list(by_month.index) == [f"2025-0{m}" for m in range(1, 7)]


def test_a_good_loan_is_good_only_once_the_horizon_is_observed():
    settled = [f"2025-{m:02d}-09" for m in range(1, 13)]
    loans, inst = _loan(settled)
    e = snapshots.snapshot_entities(loans, inst, observed_until=pd.Timestamp("2025-09-15",
                                                                             tz="UTC"))
    target = snapshots.target_name()
    by_month = e.set_index(e["snapshot_at"].dt.strftime("%Y-%m"))[target]
    assert by_month["2025-01"] == 0.0 and by_month["2025-03"] == 0.0
    assert np.isnan(by_month["2025-04"])  # Oct 1 is past the data: unknown, not good
    assert len(by_month) == 9  # Jan … Sep, every month it was active and observed


def test_the_horizon_and_the_threshold_are_configurable():
    settled = ["2025-01-09", None, None, None, None, None]
    loans, inst = _loan(settled)
    e = snapshots.snapshot_entities(loans, inst, dpd=90, horizon_months=1,
                                    observed_until=pd.Timestamp("2026-01-01", tz="UTC"))
    by_month = e.set_index(e["snapshot_at"].dt.strftime("%Y-%m"))["bad_90dpd_1m"]
    # Feb installment (due Feb 10) reaches 90 DPD on May 11: only the May snapshot sees it
    assert by_month.to_dict() == {"2025-01": 0.0, "2025-02": 0.0, "2025-03": 0.0,
                                  "2025-04": 0.0, "2025-05": 1.0}


def test_behaviour_features_are_in_the_catalog_and_computed():
    loan_names = {f.name for f in catalog().for_entity("loan")}
    assert set(BEHAVIOUR_COLUMNS) <= loan_names
    settled = ["2025-01-09", "2025-02-25", None]
    loans, inst = _loan(settled)
    e = pd.DataFrame({"entity_id": ["L1", "L1"], "customer_id": ["C1", "C1"],
                      "as_of": pd.to_datetime(["2025-02-20", "2025-03-20"], utc=True),
                      "disbursed_at": loans["disbursed_at"].iloc[0],
                      "application_score": [612, 612]})
    from featurestore import compute

    f = compute.loan_features(e, empty_facts(), inst)
    assert list(f["days_past_due"]) == [10, 10]
    assert list(f["dpd_change_30d"]) == [10, 2]  # 30 days earlier: 0 DPD on Jan 21, 8 on Feb 18
    assert list(f["on_time_share"]) == [0.5, 1 / 3]
    assert list(f["days_since_last_payment"]) == [42, 23]  # Jan 9 → Feb 20; Feb 25 → Mar 20
    assert list(f["application_score"]) == [612, 612]


def test_recent_window_and_trend_features_see_a_loan_drifting_while_current():
    """Paid 0, 6 and 14 days late (current at each month-end), other lenders chasing and
    shopping for credit lately: the trend, recency and 30/90-day counts show it; our own
    reminders and unsigned messages do not count as other lenders'."""
    settled = ["2025-01-10", "2025-02-16", "2025-03-24"]
    loans, inst = _loan(settled)
    at = pd.Timestamp("2025-04-01", tz="UTC")
    e = pd.DataFrame({"entity_id": ["L1"], "customer_id": ["C1"], "as_of": [at],
                      "disbursed_at": loans["disbursed_at"].iloc[0]})
    day = pd.Timedelta(days=1)

    def fact(source, kind, when, key=None, uploaded=None):
        return {"customer_id": "C1", "source": source, "kind": kind, "event_time": when,
                "uploaded_at": uploaded or when + day, "value": np.nan, "key": key}

    facts = normalise_facts(pd.DataFrame([
        fact("sms", "upload", at - 2 * day),
        fact("sms", "collection", at - 10 * day, key="lender-a"),  # in 30 and 90 days
        fact("sms", "collection", at - 60 * day, key="lender-b"),  # in 90 days only
        fact("sms", "collection", at - 5 * day),  # ours / unsigned: not another lender's
        fact("sms", "collection", at - 200 * day, key="lender-c"),  # before the loan
        fact("pboc", "report", at - 20 * day, uploaded=at - 20 * day),
        fact("pboc", "inquiry", at - 25 * day, key="inq-1", uploaded=at - 20 * day),
        fact("pboc", "inquiry", at - 25 * day, key="inq-1", uploaded=at - 20 * day),  # again
        fact("pboc", "inquiry", at - 70 * day, key="inq-2", uploaded=at - 20 * day),
    ]))
    from featurestore import compute

    f = compute.loan_features(e, facts, inst).iloc[0]
    assert f["days_late_last_installment"] == 14 and f["days_late_trend_3i"] == 14
    assert f["days_since_on_time_payment"] == (at - pd.Timestamp("2025-01-10", tz="UTC")).days
    assert f["sms_collection_30d_on_book"] == 1 and f["sms_collection_90d_on_book"] == 2
    assert f["bureau_inquiries_30d_on_book"] == 1 and f["bureau_inquiries_90d_on_book"] == 2
    # two installments due: no three-installment trend yet
    g = compute.loan_features(e.assign(as_of=at - 30 * day), facts, inst).iloc[0]
    assert g["days_late_last_installment"] == 6 and np.isnan(g["days_late_trend_3i"])


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("offline") / "store"
    offline.build_offline_store(WORLD, out, DataCipher(bytes(range(32))).blind_index)
    return out


def test_nightly_features_equal_the_historical_snapshot_rows(store):
    """The nightly job's `postloan_features` on one night's partition = the snapshot rows."""
    frame = snapshots.historical_loan_snapshots(store)
    # the night with the most part-paid lines, those loans first: the amounts are compared too
    as_of = frame.groupby("snapshot_at")["partly_paid_installments"].sum().idxmax()
    rows = (frame[frame["snapshot_at"] == as_of]
            .sort_values("partly_paid_installments", ascending=False, kind="stable")
            .head(200).reset_index(drop=True))
    loans = pd.read_parquet(store / "loans.parquet").set_index("loan_id").loc[rows["loan_id"]]
    inst = pd.read_parquet(store / "installments.parquet")
    inst = inst[inst["loan_id"].isin(rows["loan_id"])]
    facts = offline.load_facts(store)
    facts = facts[facts["customer_id"].isin(rows["customer_id"].astype(str))]

    def naive(s: pd.Series) -> pd.Series:
        return pd.to_datetime(s).dt.tz_convert("UTC").dt.tz_localize(None)

    # the ledger tonight: what each line still owes after its payments and part-payments so far
    settled = inst["settled_at"] <= as_of
    part = inst["part_paid"].where(inst["part_paid_at"] <= as_of, 0)
    owed = inst["amount_due"] - np.where(settled, inst["amount_due"], part)
    assert ((owed > 0) & (owed < inst["amount_due"])).any()  # the sample has part-paid lines
    part = Partition(
        loans=pd.DataFrame({"loan_id": rows["loan_id"].to_numpy(),
                            "customer_id": loans["customer_id"].to_numpy(),
                            "disbursed_on": naive(loans["disbursed_at"]).to_numpy()}),
        installments=pd.DataFrame({"loan_id": inst["loan_id"].to_numpy(),
                                   "due_date": naive(inst["due_date"]).to_numpy(),
                                   "settled_on": naive(inst["settled_at"]).to_numpy(),
                                   "amount_due": inst["amount_due"].to_numpy(),
                                   "unpaid_principal": owed.to_numpy(),
                                   "unpaid_interest": np.zeros(len(inst), np.int64)}),
        facts=facts,
    )
    nightly = postloan_features(part, date.fromisoformat(str(as_of.date())))
    names = [f.name for f in catalog().for_entity("loan") if f.name != "application_score"]
    pd.testing.assert_frame_equal(nightly[names].reset_index(drop=True), rows[names],
                                  check_dtype=False)


def test_a_part_payment_counts_from_when_it_was_made_until_the_line_is_settled():
    # Jan paid on time; Feb (due Feb 10, 1,000.00) part-paid 400.00 on Feb 9, rest on Mar 1
    loans, inst = _loan(["2025-01-09", "2025-03-01"])
    inst = inst.assign(amount_due=[100_000, 100_000], part_paid=[0, 40_000],
                       part_paid_at=pd.to_datetime([None, "2025-02-09"], utc=True))
    e = pd.DataFrame({"entity_id": "L1", "customer_id": "C1",
                      "as_of": pd.to_datetime(["2025-02-05", "2025-02-20", "2025-03-05"],
                                              utc=True),
                      "disbursed_at": loans["disbursed_at"].iloc[0]})
    from featurestore import compute

    f = compute.loan_features(e, empty_facts(), inst)
    assert list(f["partly_paid_installments"]) == [0, 1, 0]
    # Feb 20: 1,000 + 400 of 2,000 due; Mar 5: everything due paid
    assert list(f["payment_to_due_ratio_3m"]) == [1.0, 0.7, 1.0]
    assert list(f["days_late_avg_3m"]) == [0.0, 5.0, 9.5]  # Feb: 10 days so far, then 19
    no_amounts = compute.loan_features(e, empty_facts(), inst.drop(
        columns=["amount_due", "part_paid", "part_paid_at"]))
    assert no_amounts["payment_to_due_ratio_3m"].isna().all()


def test_a_new_loan_elsewhere_counts_once_even_when_an_old_one_matured_meanwhile():
    """Stacking seen in refreshed PBOC reports: the open-loan count nets a new loan against
    ones that matured (0 new), the opened-since-booking count sees it, once across refreshes,
    and in the last 90 days only while it is recent; our own loan and older ones do not count."""
    from featurestore import compute
    from featurestore.bureau import pboc_facts

    def loan(inst, opened, status="open"):
        return {"institution": inst, "opened_on": opened, "status": status,
                "overdue_amount": 0, "balance": 1000, "repayment_24m": "N" * 24}

    old, old2 = loan("某银行", "2023-01-05"), loan("另一银行", "2023-06-05")
    ours = loan("车贷通融资租赁有限公司", "2024-12-10")
    new = loan("某网贷平台", "2025-02-03")
    closed = [{**old, "status": "closed"}, {**old2, "status": "closed"}]
    docs = [  # at booking, then two monthly refreshes
        {"report_id": "R0", "loans": [old, old2], "cards": [], "inquiries": []},
        {"report_id": "R1", "loans": [*closed, ours, new], "cards": [], "inquiries": []},
        {"report_id": "R2", "loans": [*closed, ours, new], "cards": [], "inquiries": []},
    ]
    import json as _json

    raw = pd.DataFrame({"customer_id": "C1",
                        "reported_at": pd.to_datetime(["2024-12-09", "2025-03-10",
                                                       "2025-04-10"], utc=True),
                        "report_json": [_json.dumps(d, ensure_ascii=False) for d in docs]})
    facts = pboc_facts(raw, lambda s: "k:" + s)
    loans, inst = _loan(["2025-01-09", "2025-02-09", "2025-03-09", "2025-04-09", "2025-05-09",
                         "2025-06-09"])
    e = pd.DataFrame({"entity_id": "L1", "customer_id": "C1",
                      "as_of": pd.to_datetime(["2025-04-20", "2025-06-20"], utc=True),
                      "disbursed_at": loans["disbursed_at"].iloc[0]})
    f = compute.loan_features(e, facts, inst)
    assert list(f["bureau_new_open_loans"]) == [0, 0]  # 2 open at booking, new (+ ours) now
    assert list(f["bureau_loans_opened_on_book"]) == [1, 1]
    assert list(f["bureau_loans_opened_90d_on_book"]) == [1, 0]  # Feb 3: 76 / 137 days ago


def test_our_own_loan_in_a_refreshed_report_is_not_a_new_loan_elsewhere():
    """A refreshed PBOC report lists the lender's own loan with the customer's others: one
    open loan elsewhere at booking and the same one plus ours after it is no new loan at other
    lenders (it was +1 for every booked loan); a loan really opened elsewhere still is."""
    import json as _json

    from chedaitong_sim.worldgen import vocab
    from featurestore import compute
    from featurestore.bureau import OWN_INSTITUTION, pboc_facts

    assert OWN_INSTITUTION == vocab.OUR_LENDER  # the name the world's reports list ours under

    def loan(inst, opened):
        return {"institution": inst, "opened_on": opened, "status": "open",
                "overdue_amount": 0, "balance": 1000, "repayment_24m": "N" * 24}

    bank, ours = loan("某银行", "2023-01-05"), loan(OWN_INSTITUTION, "2024-12-10")
    docs = [{"report_id": "R0", "loans": [bank], "cards": [], "inquiries": []},
            {"report_id": "R1", "loans": [bank, ours], "cards": [], "inquiries": []},
            {"report_id": "R2", "loans": [bank, ours, loan("某网贷平台", "2025-04-01")],
             "cards": [], "inquiries": []}]
    raw = pd.DataFrame({"customer_id": "C1",
                        "reported_at": pd.to_datetime(["2024-12-09", "2025-03-10",
                                                       "2025-05-10"], utc=True),
                        "report_json": [_json.dumps(d, ensure_ascii=False) for d in docs]})
    facts = pboc_facts(raw, lambda s: "k:" + s)
    loans, inst = _loan(["2025-01-09", "2025-02-09", "2025-03-09", "2025-04-09", "2025-05-09"])
    e = pd.DataFrame({"entity_id": "L1", "customer_id": "C1",
                      "as_of": pd.to_datetime(["2025-03-20", "2025-05-20"], utc=True),
                      "disbursed_at": loans["disbursed_at"].iloc[0]})
    f = compute.loan_features(e, facts, inst)
    assert list(f["bureau_new_open_loans"]) == [0, 1]
    # the one-report parser (decision path) counts ours the same way
    from featurestore import one_report
    own = [x.value for x in one_report.report_facts(
        "pboc", raw["report_json"][2], raw["reported_at"][2].to_pydatetime(),
        lambda s: "k:" + s) if x.kind == "own_open_loans"]
    assert own == [1.0]


def _pboc_world(docs: list[dict], reported: list[str], as_of: list[str]) -> pd.DataFrame:
    """Loan features of one booked loan (L1, customer C1) from PBOC reports ``docs``."""
    import json as _json

    from featurestore import compute
    from featurestore.bureau import pboc_facts

    raw = pd.DataFrame({"customer_id": "C1", "reported_at": pd.to_datetime(reported, utc=True),
                        "report_json": [_json.dumps(d, ensure_ascii=False) for d in docs]})
    facts = pboc_facts(raw, lambda s: "k:" + s)
    loans, inst = _loan(["2025-01-09", "2025-02-09", "2025-03-09", "2025-04-09", "2025-05-09"])
    e = pd.DataFrame({"entity_id": "L1", "customer_id": "C1",
                      "as_of": pd.to_datetime(as_of, utc=True),
                      "disbursed_at": loans["disbursed_at"].iloc[0]})
    return compute.loan_features(e, facts, inst)


def _one_report_facts(doc: dict, reported: str) -> list:
    import json as _json

    from featurestore import one_report

    return one_report.report_facts("pboc", _json.dumps(doc, ensure_ascii=False),
                                   pd.Timestamp(reported, tz="UTC").to_pydatetime(),
                                   lambda s: "k:" + s)


def test_our_own_arrears_in_a_refreshed_report_are_no_new_overdue_elsewhere():
    """The customer falls behind on our loan only: the refreshed report lists that overdue
    with the others, and it is no "more overdue at other lenders since booking" (it was);
    overdue really appearing at another lender still is. The one-report parser agrees."""
    from featurestore.bureau import OWN_INSTITUTION

    def loan(inst, opened, overdue=0):
        return {"institution": inst, "opened_on": opened, "status": "open",
                "overdue_amount": overdue, "balance": 1000, "repayment_24m": "N" * 24}

    bank, ours = loan("某银行", "2023-01-05"), loan(OWN_INSTITUTION, "2024-12-10", 1500)
    docs = [{"report_id": "R0", "loans": [bank], "cards": [], "inquiries": []},
            {"report_id": "R1", "loans": [bank, ours], "cards": [], "inquiries": []},
            {"report_id": "R2", "loans": [loan("某银行", "2023-01-05", 800), ours],
             "cards": [], "inquiries": []}]
    f = _pboc_world(docs, ["2024-12-09", "2025-03-10", "2025-05-10"],
                    ["2025-03-20", "2025-05-20"])
    assert list(f["bureau_new_overdue"]) == [0, 1]
    values = {x.kind: x.value for x in _one_report_facts(docs[2], "2025-05-10")}
    # all accounts' overdue (the application feature) keeps ours; the own part is apart
    assert (values["overdue_amount"], values["own_overdue_amount"]) == (2300.0, 1500.0)


def test_a_second_loan_with_us_is_no_loan_opened_at_other_lenders():
    """A second loan with us, opened after the first one's disbursement, is listed in the
    refreshed report like any other: it is no loan opened at other lenders since booking (it
    counted, also in the last 90 days); one opened at another lender still counts. Both
    parsers leave it out of the `loan_opened` facts."""
    from featurestore.bureau import OWN_INSTITUTION

    def loan(inst, opened):
        return {"institution": inst, "opened_on": opened, "status": "open",
                "overdue_amount": 0, "balance": 1000, "repayment_24m": "N" * 24}

    ours, ours2 = loan(OWN_INSTITUTION, "2024-12-10"), loan(OWN_INSTITUTION, "2025-03-01")
    docs = [{"report_id": "R0", "loans": [], "cards": [], "inquiries": []},
            {"report_id": "R1", "loans": [ours, ours2], "cards": [], "inquiries": []},
            {"report_id": "R2", "loans": [ours, ours2, loan("某网贷平台", "2025-04-01")],
             "cards": [], "inquiries": []}]
    f = _pboc_world(docs, ["2024-12-09", "2025-03-10", "2025-05-10"],
                    ["2025-03-20", "2025-05-20"])
    assert list(f["bureau_loans_opened_on_book"]) == [0, 1]
    assert list(f["bureau_loans_opened_90d_on_book"]) == [0, 1]
    assert list(f["bureau_new_open_loans"]) == [0, 1]
    opened = [x for x in _one_report_facts(docs[2], "2025-05-10") if x.kind == "loan_opened"]
    assert [x.key for x in opened] == ["k:某网贷平台|2025-04-01"]
