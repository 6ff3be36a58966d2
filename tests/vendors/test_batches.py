"""Batch calls (SMS batch send, collection placement and updates): answered item by item, each
item idempotent on its own key, whole-call failures retried like any keyed POST."""

from __future__ import annotations

import pytest

from chedaitong_sim.testing import make_id_number
from vendors.errors import VendorUnavailable
from vendors.interfaces import SMS_BATCH_MAX, CaseUpdate, CollectionCase, SmsMessage

ID = make_id_number("11010119880615001")


def sms(k: int, phone: str | None = None) -> SmsMessage:
    return SmsMessage(phone=phone or f"1380000{k:04d}", template="POSTLOAN_REMINDER",
                      params=(("loan", f"L{k}"),), idempotency_key=f"sms-{k}")


def case(k: int, key: str | None = None) -> CollectionCase:
    return CollectionCase(loan_id=f"L{k}", name="张三", id_number=ID, phone="13800000000",
                          overdue_amount_cents=10_000 + k, days_past_due=40, bucket="M2",
                          idempotency_key=key or f"case-{k}")


def test_a_refused_number_does_not_refuse_the_others(sandbox, vendors):
    got = vendors.sms.send_batch([sms(1), sms(2, phone="12345"), sms(3)])
    assert [g.ok for g in got] == [True, False, True]
    assert got[1].code == "INVALID_PHONE" and got[1].ref is None and not got[1].retryable
    assert len(sandbox.records("messages")) == 2
    assert len(sandbox.calls("sms")) == 1  # one call for the three


def test_an_item_sent_again_in_another_batch_is_not_sent_twice(sandbox, vendors):
    first = vendors.sms.send_batch([sms(1), sms(2)])
    again = vendors.sms.send_batch([sms(2), sms(3)])  # the next night's retry of item 2
    assert again[0].ref == first[1].ref
    assert len(sandbox.records("messages")) == 3


def test_a_timeout_after_the_work_is_retried_without_doing_it_twice(sandbox, vendors):
    sandbox.script("sms", {"timeout": True, "seconds": 1.0, "after_commit": True})
    got = vendors.sms.send_batch([sms(k) for k in range(5)])
    assert all(g.ok for g in got)
    assert len(sandbox.records("messages")) == 5
    assert len(sandbox.calls("sms")) == 2


def test_partial_failures_are_temporary_and_per_item(sandbox, vendors):
    sandbox.configure("sms", item_error_rate=0.5)
    got = vendors.sms.send_batch([sms(k) for k in range(40)])
    failed = [g for g in got if not g.ok]
    assert 0 < len(failed) < 40
    assert {(g.code, g.retryable) for g in failed} == {("TEMPORARY_FAILURE", True)}
    assert len(sandbox.records("messages")) == 40 - len(failed)


def test_items_refused_for_now_are_sent_when_resent_alone(sandbox, vendors):
    """The same items in a later call (the next night resends only what was refused) are a
    new call, not a replay of the stored answer with its refusals."""
    sandbox.configure("sms", item_error_rate=1.0)
    first = vendors.sms.send_batch([sms(1), sms(2)])
    assert [g.code for g in first] == ["TEMPORARY_FAILURE"] * 2
    sandbox.configure("sms", item_error_rate=0.0)
    again = vendors.sms.send_batch([sms(1), sms(2)])
    assert all(g.ok for g in again) and len(sandbox.records("messages")) == 2
    assert not any(c["replayed"] for c in sandbox.calls("sms"))


def test_an_outage_fails_the_whole_call(sandbox, vendors):
    sandbox.outage("sms")
    with pytest.raises(VendorUnavailable):
        vendors.sms.send_batch([sms(1)])


def test_a_batch_longer_than_the_vendor_takes_is_refused_before_any_call(sandbox, vendors):
    with pytest.raises(ValueError, match="at most"):
        vendors.sms.send_batch([sms(k) for k in range(SMS_BATCH_MAX + 1)])
    with pytest.raises(ValueError, match="its own idempotency key"):
        vendors.sms.send_batch([sms(1), sms(1)])
    assert sandbox.calls("sms") == []


def test_placement_names_the_open_case_of_a_loan_already_placed(sandbox, vendors):
    first = vendors.collection.assign_batch([case(1), case(2)])
    assert all(g.ok and g.ref and g.agency for g in first)
    again = vendors.collection.assign_batch([case(1, key="case-1-later"), case(3)])
    assert (again[0].code, again[0].ref) == ("CASE_EXISTS", first[0].ref)
    assert again[1].ok
    assert len(sandbox.records("cases")) == 3


def test_updates_of_open_and_closed_cases(sandbox, vendors):
    placed = vendors.collection.assign_batch([case(1), case(2)])
    sandbox.update_case(placed[1].ref, status="recovered")
    got = vendors.collection.update_batch([
        CaseUpdate(placed[0].ref, 20_000, 41, "M2", "u-1"),
        CaseUpdate(placed[1].ref, 20_000, 41, "M2", "u-2"),
        CaseUpdate("CC-nope", 1, 1, "M1", "u-3")])
    assert got[0].ok and got[0].status == "assigned"
    assert (got[1].code, got[1].status) == ("CASE_CLOSED", "recovered")
    assert got[2].code == "CASE_NOT_FOUND"
    agency = {c["case_id"]: c for c in sandbox.records("cases")}
    assert agency[placed[0].ref]["days_past_due"] == 41
