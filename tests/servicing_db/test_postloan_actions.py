"""The night's action rows: one per (loan, action), each with the rules that asked for it."""

from __future__ import annotations

import pandas as pd

from decisioning.postloan.inspection import explode_actions

RULE_ACTION = {"R_M2": "outsourced_collection", "R_CALL": "phone_task",
               "R_PD": "phone_task", "R_SMS": "sms_reminder"}


def test_each_loan_gets_its_actions_with_the_rules_behind_them():
    both = ("R_M2", "R_CALL", "R_PD")
    loans = pd.DataFrame({
        "loan_id": [11, 12, 13, 14, 15],
        "fired_rules": [both, (), ("R_SMS",), both, ("R_CALL",)],
        "actions": [("outsourced_collection", "phone_task"), (), ("sms_reminder",),
                    ("outsourced_collection", "phone_task"), ("phone_task",)],
        "dpd": [45, 0, 2, 50, 10],
        "bucket": ["M2", "C", "M1", "M2", "M1"],
    })
    out = explode_actions(loans, RULE_ACTION)
    assert out.to_dict("records") == [
        {"loan_id": 11, "action": "outsourced_collection", "rule_ids": ["R_M2"], "dpd": 45,
         "bucket": "M2"},
        {"loan_id": 11, "action": "phone_task", "rule_ids": ["R_CALL", "R_PD"], "dpd": 45,
         "bucket": "M2"},
        {"loan_id": 13, "action": "sms_reminder", "rule_ids": ["R_SMS"], "dpd": 2,
         "bucket": "M1"},
        {"loan_id": 14, "action": "outsourced_collection", "rule_ids": ["R_M2"], "dpd": 50,
         "bucket": "M2"},
        {"loan_id": 14, "action": "phone_task", "rule_ids": ["R_CALL", "R_PD"], "dpd": 50,
         "bucket": "M2"},
        {"loan_id": 15, "action": "phone_task", "rule_ids": ["R_CALL"], "dpd": 10,
         "bucket": "M1"},
    ]
    # loans sharing a pattern get their own lists (persisting one never edits another)
    assert out["rule_ids"][1] is not out["rule_ids"][4]


def test_a_night_without_actions_has_no_rows():
    loans = pd.DataFrame({"loan_id": [1], "fired_rules": [()], "actions": [()], "dpd": [0],
                          "bucket": ["C"]})
    out = explode_actions(loans, RULE_ACTION)
    assert out.empty and list(out.columns) == ["loan_id", "action", "rule_ids", "dpd", "bucket"]
