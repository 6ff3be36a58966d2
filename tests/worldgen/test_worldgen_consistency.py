"""Time order, money arithmetic and repayment history consistent with the truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

END = pd.Timestamp("2025-07-01")
EVENT_TABLES = [
    "device_gps",
    "device_sms",
    "device_photos",
    "device_contacts",
    "vehicle_gps",
    "app_events",
]


def test_events_uploaded_after_they_happen_and_before_cutoff(small_world):
    for t in EVENT_TABLES:
        df = small_world[t]
        assert len(df) > 0, t
        assert (df["event_time"] <= df["uploaded_at"]).all(), t
        assert (df["uploaded_at"] < END).all(), t
        assert df["event_id"].is_unique, t


def test_registration_before_application_before_disbursement(small_world):
    c = small_world["customers"].set_index("customer_id")
    apps = small_world["applications"]
    assert (
        c.loc[apps["customer_id"], "registered_at"].to_numpy() <= apps["applied_at"].to_numpy()
    ).all()
    assert apps["applied_at"].between(pd.Timestamp("2023-07-01"), END, inclusive="left").all()
    loans = small_world["loans"].merge(apps[["application_id", "applied_at"]], on="application_id")
    assert (loans["applied_at"] <= loans["disbursed_at"]).all()
    assert (loans["disbursed_at"] < END).all()
    re = apps.dropna(subset=["previous_application_id"])
    prev = apps.set_index("application_id").loc[re["previous_application_id"], "applied_at"]
    assert (prev.to_numpy() < re["applied_at"].to_numpy()).all()


def test_repayments_after_disbursement(small_world):
    rep = small_world["repayments"].merge(
        small_world["loans"][["loan_id", "disbursed_at"]], on="loan_id"
    )
    assert (pd.to_datetime(rep["due_date"]) > rep["disbursed_at"]).all()
    paid = rep.dropna(subset=["paid_at"])
    assert (paid["paid_at"] > paid["disbursed_at"]).all()
    assert (paid["paid_at"] < END).all()
    assert (pd.to_datetime(rep["due_date"]) < END).all()
    v = small_world["vehicle_gps"].merge(
        small_world["loans"][["loan_id", "disbursed_at"]], on="loan_id"
    )
    assert (v["event_time"] > v["disbursed_at"]).all()


def test_repayment_status_semantics(small_world):
    rep = small_world["repayments"]
    s, d = rep["status"], rep["days_late"]
    assert set(s) <= {"on_time", "late", "missed", "cured", "charged_off"}
    assert (d[s == "on_time"] == 0).all()
    assert d[s == "late"].between(1, 29).all()
    assert (d[s == "cured"] >= 30).all()
    assert rep.loc[s.isin(["missed", "charged_off"]), "paid_at"].isna().all()
    assert rep.loc[~s.isin(["missed", "charged_off"]), "paid_at"].notna().all()
    unpaid = s.isin(["missed", "charged_off"])
    # an unpaid line holds at most its part-payment; a part-payment comes before settlement
    assert (rep.loc[unpaid, "amount_paid"] == rep.loc[unpaid, "partial_amount"]).all()
    assert (rep.loc[~unpaid, "amount_paid"] == rep.loc[~unpaid, "amount_due"]).all()
    part = rep["partial_paid_at"].notna()
    assert part.any() and (rep.loc[part, "partial_amount"] > 0).all()
    assert (rep.loc[part, "partial_amount"] < rep.loc[part, "amount_due"]).all()
    settled_late = part & rep["paid_at"].notna()
    assert (rep.loc[settled_late, "partial_paid_at"] < rep.loc[settled_late, "paid_at"]).all()


def test_bad_means_90_dpd_within_12_months(medium_world):
    apps = medium_world["applications"]
    loans = medium_world["loans"].merge(apps[["application_id", "bad_12m"]], on="application_id")
    rep = medium_world["repayments"].merge(loans[["loan_id", "disbursed_at"]], on="loan_id")
    first_year = pd.to_datetime(rep["due_date"]) <= rep["disbursed_at"] + pd.DateOffset(months=12)
    worst = rep[first_year].groupby("loan_id")["days_late"].max()
    loans["worst"] = loans["loan_id"].map(worst).fillna(0)
    # good loans never reach 90 days past due in their first year
    assert (loans.loc[loans["bad_12m"] == 0, "worst"] < 90).all()
    matured = loans["disbursed_at"] <= END - pd.DateOffset(months=12)
    m = loans[matured]
    assert m["bad_12m"].sum() > 0
    assert ((m["worst"] >= 90) == (m["bad_12m"] == 1)).all()
    # charged-off loans are bad
    assert (loans.loc[loans["charged_off_at"].notna(), "bad_12m"] == 1).all()


def test_money_columns_exact(small_world):
    apps = small_world["applications"]
    assert (apps["loan_amount"] == apps["vehicle_price"] - apps["deposit_or_down_payment"]).all()
    price = apps["vehicle_price"].astype(float)
    assert price.between(80_000, 500_000).all()
    assert set(apps["term_months"]) <= {12, 24, 36}
    assert set(apps["lease_type"]) == {"direct_lease", "leaseback"}
    loans = small_world["loans"].merge(apps[["application_id", "loan_amount"]], on="application_id")
    assert (loans["principal"] == loans["loan_amount"]).all()
    assert str(small_world["customers"]["monthly_income"].iloc[0]).count(".") == 1


def test_booking_flags(small_world):
    apps = small_world["applications"]
    assert set(apps.loc[apps["booked"], "decision"]) == {"approved"}
    assert apps["booked"].sum() == len(small_world["loans"])
    assert small_world["loans"]["customer_id"].is_unique
    assert apps["true_pd"].between(0, 1).all()
    assert set(apps["bad_12m"]) <= {0, 1}


def test_bureau_json(small_world):
    b = small_world["bureau_pboc"]
    apps = small_world["applications"]
    assert set(apps["application_id"]) == set(b["application_id"].dropna())
    assert (b["application_id"].isna() == b["loan_id"].notna()).all()
    for doc in b["report_json"].iloc[:: max(1, len(b) // 200)]:
        d = json.loads(doc)
        assert {"report_id", "report_time", "subject", "loans", "cards", "inquiries"} <= set(d)
        for acc in d["loans"] + d["cards"]:
            assert len(acc["repayment_24m"]) == 24
            assert set(acc["repayment_24m"]) <= set("N1234567/C")
            assert acc["opened_on"] < d["report_time"]
        for q in d["inquiries"]:
            assert q["date"] <= d["report_time"][:10]
        for card in d["cards"]:
            assert card["credit_limit"] > 0 and card["balance"] >= 0
    tp = small_world["bureau_thirdparty"]
    for doc in tp["report_json"]:
        d = json.loads(doc)
        assert 300 <= d["score"] <= 900
        assert isinstance(d["blacklist"]["hit"], bool)


def test_sms_look_real(small_world):
    sms = small_world["device_sms"]
    assert sms["body"].str.startswith("【").all()
    overdue = sms["body"].str.contains("逾期")
    assert 0.01 < overdue.mean() < 0.3  # mostly benign
    assert sms["body"].str.contains("验证码").any()


def test_fraud_ring_shares_devices_and_contacts(small_world):
    apps, cust = small_world["applications"], small_world["customers"]
    ring = set(apps.loc[apps["fraud_ring"], "customer_id"])
    assert len(ring) >= 3
    members = cust[cust["customer_id"].isin(ring)]
    assert members["device_id"].nunique() < len(members)
    others = cust[~cust["customer_id"].isin(ring)]
    assert others["device_id"].is_unique
    contacts = small_world["device_contacts"]
    ring_contacts = contacts[contacts["customer_id"].isin(ring)]
    assert ring_contacts["phone"].isin(members["mobile"]).sum() >= len(members)
    assert np.isin(members["mobile"], ring_contacts["phone"]).all()


def test_repayment_stress_shows_months_before_a_default_yet_good_loans_have_it_too(medium_world):
    """The early warning a behaviour score can learn: installments paid late within the grace
    month or part-paid first are far more common 1–4 months before a default than on good
    loans — but good loans have them too (hardships that pass), so they are no label."""
    apps = medium_world["applications"]
    loans = medium_world["loans"].merge(apps[["application_id", "bad_12m"]], on="application_id")
    rep = medium_world["repayments"].merge(loans[["loan_id", "bad_12m"]], on="loan_id")
    due = pd.to_datetime(rep["due_date"])
    never_paid = rep["status"].isin(["missed", "charged_off"]) | (rep["days_late"] >= 30)
    first_default = due.where(never_paid).groupby(rep["loan_id"]).min()
    ahead = (rep["loan_id"].map(first_default) - due).dt.days
    trace = rep["status"].eq("late") | rep["partial_paid_at"].notna()
    before_default = trace[(rep["bad_12m"] == 1) & ahead.between(30, 120)].mean()
    good = trace[rep["bad_12m"] == 0].mean()
    assert before_default > 3 * good
    assert good > 0.02


def test_a_good_loans_long_delinquency_has_the_same_run_up_as_a_default(medium_world):
    """A good loan that falls 30+ days behind and cures did not flip a coin that month: most
    show the stress traces in the months before, as defaults do; loans that never fall behind
    show them far less (only hardships that pass)."""
    apps = medium_world["applications"]
    loans = medium_world["loans"].merge(apps[["application_id", "bad_12m"]], on="application_id")
    rep = medium_world["repayments"].merge(loans[["loan_id", "bad_12m"]], on="loan_id")
    rep = rep[rep["bad_12m"] == 0]
    due = pd.to_datetime(rep["due_date"])
    first_long = due.where(rep["days_late"] >= 30).groupby(rep["loan_id"]).min()
    ahead = (rep["loan_id"].map(first_long) - due).dt.days
    trace = rep["status"].eq("late") | rep["partial_paid_at"].notna()
    before_long = trace[ahead.between(30, 120)].mean()
    never_behind = trace[~rep["loan_id"].isin(first_long.dropna().index)].mean()
    assert before_long > 3 * never_behind
