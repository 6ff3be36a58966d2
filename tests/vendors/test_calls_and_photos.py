"""The outbound-call vendor (collections' phone tasks) and the ID-card photo check, against
the sandbox: results by number, a retried request rings once, bad photos are failed."""

from __future__ import annotations

import httpx
import pytest

from vendors.errors import VendorRejected
from vendors.interfaces import CallRequest, CallStatus, IdCheckRequest, OutboundCallVendor, Verdict

from .test_adapters import ID

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_calls_answer_by_number_and_a_retry_rings_once(sandbox, vendors):
    assert isinstance(vendors.outbound_call, OutboundCallVendor)
    ok = vendors.outbound_call.place(CallRequest("LN1", "13812345678", idempotency_key="k1"))
    assert ok.status is CallStatus.ANSWERED and ok.duration_s > 0
    again = vendors.outbound_call.place(CallRequest("LN1", "13812345678", idempotency_key="k1"))
    assert again.call_id == ok.call_id
    assert vendors.outbound_call.place(CallRequest("LN1", "13812349999")).status is \
        CallStatus.NO_ANSWER
    assert vendors.outbound_call.place(CallRequest("LN1", "13812340000")).status is \
        CallStatus.INVALID_NUMBER
    calls = httpx.get(f"{sandbox.base_url}/_admin/records/phone_calls").json()
    assert len(calls) == 3 and all("****" in c["phone"] for c in calls)
    with pytest.raises(VendorRejected):
        vendors.outbound_call.place(CallRequest("LN1", "12345"))


@pytest.mark.parametrize(("front", "back", "code"), [
    (JPEG + b"f", PNG + b"b", "0000"),
    (b"GIF89a", PNG, "PHOTO_UNREADABLE"),
    (JPEG, JPEG, "PHOTO_SAME_SIDE"),
    (JPEG + b"TAMPERED", PNG, "PHOTO_TAMPERED"),
])
def test_id_card_photos_are_checked_with_name_and_number(vendors, front, back, code):
    r = vendors.id_check.verify(IdCheckRequest("张三", ID, front_image=front, back_image=back))
    assert r.code == code
    assert r.passed is (code == "0000")
    if code != "0000":
        assert r.verdict is Verdict.MISMATCH


def test_transfers_settle_on_status_and_a_retry_pays_once(vendors):
    from vendors.interfaces import PaymentVendor, TransferRequest, TransferStatus

    assert isinstance(vendors.payments, PaymentVendor)
    req = TransferRequest("PO1", 15_000_000, "招商银行", "4S", "6214830012345678",
                          "2026-12-02", idempotency_key="payout-PO1-1")
    t = vendors.payments.transfer(req)
    assert t.status is TransferStatus.ACCEPTED
    assert vendors.payments.transfer(req).transfer_id == t.transfer_id
    assert vendors.payments.status(t.transfer_id).status is TransferStatus.SETTLED
    closed = vendors.payments.transfer(TransferRequest(
        "PO2", 100, "招商银行", "4S", "6214830012340000", idempotency_key="payout-PO2-1"))
    failed = vendors.payments.status(closed.transfer_id)
    assert failed.status is TransferStatus.FAILED and failed.reason
    with pytest.raises(ValueError):
        vendors.payments.transfer(TransferRequest("PO3", 1, "b", "n", "12345678"))


def test_every_vendor_has_sandbox_defaults():
    """A sandbox started with the realistic latencies (``make demo``) knows every vendor."""
    from chedaitong_sim.sandbox.faults import DEFAULT_LATENCY_MS, default_configs
    from vendors.adapters import DEFAULT_TIMEOUTS
    from vendors.wire import VENDORS

    assert set(DEFAULT_LATENCY_MS) == set(VENDORS) == set(DEFAULT_TIMEOUTS)
    assert set(default_configs()) == set(VENDORS)
