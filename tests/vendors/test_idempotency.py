"""Creates (contracts, SMS, collection cases, bureau inquiries) happen once even when the vendor
fails after doing the work and the client retries."""

from __future__ import annotations

import hashlib
import threading
import time

import httpx
import pytest

from chedaitong_sim.testing import make_id_number
from vendors import VendorRejected, wire
from vendors.interfaces import (
    BureauQuery,
    CollectionCase,
    ContractRequest,
    Signer,
    SmsMessage,
)

ID = make_id_number("11010119900307123")
PHONE = "13812345678"
DOCUMENT = "汽车融资租赁合同\n甲方：车贷通\n乙方：张三\n".encode()


def contract(key: str = "contract:AP0001", document: bytes = DOCUMENT) -> ContractRequest:
    return ContractRequest("AP0001", "汽车融资租赁合同", document,
                           (Signer("张三", ID, PHONE),), idempotency_key=key)


def test_contract_created_once_when_vendor_fails_after_creating(sandbox, vendors):
    sandbox.script("esign", {"status": 503, "after_commit": True},
                   {"status": 502, "after_commit": True})
    created = vendors.esign.create_contract(contract())
    records = sandbox.records("contracts")
    assert [r["contract_id"] for r in records] == [created.contract_id]
    assert records[0]["document_sha256"] == hashlib.sha256(DOCUMENT).hexdigest()
    calls = sandbox.calls("esign")
    assert [c["status"] for c in calls] == [503, 502, 201]
    assert [c["replayed"] for c in calls] == [False, True, True]
    assert {c["idempotency_key"] for c in calls} == {"contract:AP0001"}


def test_contract_created_once_when_the_answer_times_out(sandbox, vendors):
    sandbox.script("esign", {"timeout": True, "after_commit": True})
    created = vendors.esign.create_contract(contract())
    assert [r["contract_id"] for r in sandbox.records("contracts")] == [created.contract_id]


def test_late_original_request_does_not_duplicate(sandbox, vendors):
    # The first request hangs *before* the work; the retry creates the contract; when the
    # original finally runs it must find the stored answer instead of creating again.
    sandbox.script("esign", {"timeout": True, "seconds": 0.6})
    created = vendors.esign.create_contract(contract())
    time.sleep(0.7)
    assert [r["contract_id"] for r in sandbox.records("contracts")] == [created.contract_id]
    assert any(c["fault"] == "timeout" and c["replayed"] for c in sandbox.calls("esign"))


def test_a_new_key_does_create_again(sandbox, vendors):
    """Guards the tests above: the sandbox really creates per key, so they can fail."""
    a = vendors.esign.create_contract(contract("k1"))
    b = vendors.esign.create_contract(contract("k2"))
    assert a.contract_id != b.contract_id
    assert len(sandbox.records("contracts")) == 2


def test_business_key_makes_a_rerun_return_the_same_contract(sandbox, vendors):
    first = vendors.esign.create_contract(contract())
    again = vendors.esign.create_contract(contract())
    assert first == again
    assert len(sandbox.records("contracts")) == 1


def test_key_reused_for_a_different_request_is_rejected(sandbox, vendors):
    vendors.esign.create_contract(contract())
    with pytest.raises(VendorRejected) as exc:
        vendors.esign.create_contract(contract(document=b"another document"))
    assert exc.value.status == 422 and exc.value.code == "IDEMPOTENCY_KEY_REUSED"


def test_sms_sent_once_under_retries(sandbox, vendors):
    sandbox.script("sms", {"status": 503, "after_commit": True}, {"timeout": True,
                                                                  "after_commit": True})
    receipt = vendors.sms.send(SmsMessage(PHONE, "REPAY_REMINDER", (("amount", "1,280.00"),)))
    messages = sandbox.records("messages")
    assert [m["message_id"] for m in messages] == [receipt.message_id]
    assert messages[0]["params"] == {"amount": "1,280.00"}
    assert len(sandbox.calls("sms")) == 3


def test_collection_case_opened_once_under_retries(sandbox, vendors):
    case = CollectionCase("LN0001", "张三", ID, PHONE, overdue_amount_cents=352_000,
                          days_past_due=47, bucket="M2", idempotency_key="collect:LN0001:M2")
    sandbox.script("collection", {"status": 504, "after_commit": True})
    assignment = vendors.collection.assign(case)
    assert [c["case_id"] for c in sandbox.records("cases")] == [assignment.case_id]
    # A different key for the same open loan is refused by the agency, not duplicated.
    with pytest.raises(VendorRejected) as exc:
        vendors.collection.assign(CollectionCase("LN0001", "张三", ID, PHONE, 352_000, 47, "M2"))
    assert exc.value.status == 409 and exc.value.code == "CASE_EXISTS"
    assert len(sandbox.records("cases")) == 1


def test_bureau_retry_leaves_one_inquiry(sandbox, vendors):
    sandbox.script("pboc", {"status": 503, "after_commit": True})
    vendors.pboc.query(BureauQuery("张三", ID, authorization_ref="AUTH-1"))
    assert len(sandbox.records("inquiries")) == 1
    assert len(sandbox.calls("pboc")) == 2


def test_concurrent_requests_with_one_key_create_once(sandbox):
    import base64

    body = {"application_id": "AP9", "title": "合同",
            "document_b64": base64.b64encode(DOCUMENT).decode(),
            "signers": [{"name": "张三", "id_number": ID, "phone": PHONE}]}
    results: list[str] = []

    with httpx.Client(base_url=sandbox.base_url, timeout=5) as client:

        def post() -> None:
            r = client.post(wire.CONTRACTS, json=body, headers={"Idempotency-Key": "same"})
            results.append(r.json()["contract_id"])

        threads = [threading.Thread(target=post) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(set(results)) == 1 and len(results) == 8
    assert len(sandbox.records("contracts")) == 1
